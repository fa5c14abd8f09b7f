"""``intersect.source: release``: ``intersect``, ``features`` and ``fit3dmm`` read the authors'
release themselves and write what ``voice2mesh import-release`` writes with the same options:
the same manifest tables, feature shards, feature rejects and fits, byte for byte."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from release_world import add_bad_files, make_release

from stages import features, fit3dmm, intersect
from voice2mesh.config import FeaturesParams, FitParams, IntersectParams, Params
from voice2mesh.fitting.store import read_fits
from voice2mesh.release import ImportOptions, ReleaseError, import_release
from voice2mesh.release.params3dmm import N_SHAPE_BFM


def release_params(release_root: Path, out: Path, **intersect_fields) -> Params:
    """The three stages in release mode on ``release_root``, writing under ``out``."""
    return Params(
        intersect=IntersectParams(
            source="release",
            voxceleb_root=str(release_root),
            vggface_root=str(release_root),
            val_fraction=0.6,
            out=str(out / "manifest"),
            **intersect_fields,
        ),
        features=FeaturesParams(shard_size=3, workers=2, out=str(out / "features")),
        fit3dmm=FitParams(reference="best_frontal", out=str(out / "fits")),
    )


def run_stages(params: Params, metrics: Path) -> dict[str, dict]:
    return {
        "intersect": intersect.run(params.intersect, metrics / "intersect.json"),
        "features": features.run(params, metrics / "features.json", quiet=True),
        "fit3dmm": fit3dmm.run(params, metrics / "fit3dmm.json"),
    }


def assert_same_folder(ours: Path, theirs: Path) -> None:
    """The same files; text files byte for byte, ``.npz`` archives array for array."""
    names = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    for name in names:
        if name.suffix == ".npz":
            with np.load(ours / name) as a, np.load(theirs / name) as b:
                assert sorted(a.files) == sorted(b.files), name
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
        else:
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """A release with bad files beside the good ones, imported once and run through the three
    stages once."""
    root = tmp_path_factory.mktemp("release_stages")
    release = make_release(root / "voxceleb3d")
    bad = add_bad_files(release)
    options = ImportOptions(val_fraction=0.6, shard_size=3, reference="best_frontal")
    summary = import_release(release.root, root / "imported", options)
    metrics = run_stages(release_params(release.root, root / "stages"), root / "metrics")
    return root, bad, summary, metrics


@pytest.mark.parametrize("part", ["manifest", "features", "fits"])
def test_each_stage_writes_what_the_importer_writes(both, part: str) -> None:
    root, _, _, _ = both
    assert_same_folder(root / "stages" / part, root / "imported" / part)


def test_the_stages_list_every_bad_file_and_report_the_importers_counts(both) -> None:
    root, bad, summary, metrics = both
    dropped = pd.read_csv(root / "stages" / "manifest" / "dropped.csv")
    assert set(bad) <= set(dropped.key)
    rejects = pd.read_csv(root / "stages" / "features" / "rejects.csv")
    assert set(rejects.path) == {p for p in bad if "/fbank/" in p}
    assert metrics["intersect"]["identities"] == summary["identities"]
    assert metrics["features"]["utterances"] == summary["fbank_files"]
    assert metrics["features"]["extracted"] + len(rejects) == summary["fbank_files"]
    assert metrics["features"]["repeated_utterances_untiled"] == 5
    assert metrics["fit3dmm"]["images"] == summary["faces"]
    assert metrics["fit3dmm"]["residual_px_median"] is None  # the release gives no residuals
    saved = json.loads((root / "metrics" / "fit3dmm.json").read_text())
    assert saved["reference_rule"] == "best_frontal" and saved["usable"] == summary["faces"]


def test_fits_keep_the_face_models_coefficient_counts(tmp_path: Path) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    params = release_params(release.root, tmp_path)
    params = replace(params, face_model=replace(params.face_model, n_shape=12, n_expression=3))
    run_stages(params, tmp_path / "metrics")
    fits = read_fits(tmp_path / "fits")
    truth = np.array([release.params[p] for p in fits.index.path], np.float64)  # (M, 228)
    np.testing.assert_array_equal(fits.result.shape, truth[:, :12])
    np.testing.assert_array_equal(fits.result.expression, truth[:, N_SHAPE_BFM : N_SHAPE_BFM + 3])


def test_a_folder_without_a_release_names_the_param(tmp_path: Path) -> None:
    (tmp_path / "not_a_release").mkdir()
    params = release_params(tmp_path / "not_a_release", tmp_path)
    with pytest.raises(ReleaseError, match=r"ROOT is intersect\.voxceleb_root"):
        intersect.run(params.intersect, tmp_path / "intersect.json")
    assert not (tmp_path / "manifest").exists()


def test_features_refuse_a_manifest_of_other_files(tmp_path: Path) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    params = release_params(release.root, tmp_path)
    intersect.run(params.intersect, tmp_path / "intersect.json")
    Path(next(iter(release.fbank))).unlink()  # a usable utterance the manifest lists
    with pytest.raises(ReleaseError, match=r"differ from .*voices\.csv.*dvc repro intersect"):
        features.run(params, tmp_path / "features.json", quiet=True)
