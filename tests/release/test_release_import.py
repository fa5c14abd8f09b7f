"""``voice2mesh import-release``: a release in the authors' layout becomes a manifest, features
and fits that the project's own readers load; bad files are listed, never dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from release_world import add_bad_files, make_release

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import normalize, repeat_to
from voice2mesh.cli import main
from voice2mesh.data.manifest import read_manifests
from voice2mesh.fitting.store import read_fits
from voice2mesh.release import ImportOptions, ReleaseError, import_release

# The reference assets' demo folders and whom they hold (../shared/assets/README.md, cmp/).
CMP_ALIASES = {
    "rand_id00001": "Asa_Butterfield",
    "rand_id00002": "Ashley_Greene",
    "rand_id00003": "Bellamy_Young",
    "rand_id00004": "Bethany_Mota",
    "rand_id00005": "Eva_Longoria",
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    """A fixture release with bad files beside the good ones, imported once."""
    root = tmp_path_factory.mktemp("release")
    release = make_release(root / "voxceleb3d")
    bad = add_bad_files(release)
    summary = import_release(release.root, root / "out", ImportOptions(val_fraction=0.6))
    return release, bad, summary, root / "out"


def test_the_manifest_loads_and_splits_as_intersect_does(imported) -> None:
    _, _, summary, out = imported
    manifests = read_manifests(out / "manifest")
    people = manifests.identities.set_index("name")
    assert sorted(people.index) == ["Ann_Able", "Bob_Baker", "Fay_Fox", "Gus_Gray"]
    assert people.split.Ann_Able == people.split.Bob_Baker == "test"
    assert set(people.split[["Fay_Fox", "Gus_Gray"]]) == {"val"}  # round(0.6 x 1) per gender
    counts = {"Ann_Able": 2, "Bob_Baker": 1, "Fay_Fox": 3, "Gus_Gray": 1}
    assert people.n_utterances.to_dict() == counts
    dropped = manifests.dropped.set_index("key")
    assert dropped.reason_code.id10005 == "no_face_folder"  # Hal_Hill: voices only
    assert dropped.reason_code.id10006 == "no_utterances"  # Ida_Ink: faces only
    assert summary["identities"] == {"train": 0, "val": 2, "test": 2}
    assert json.loads((out / "import.json").read_text()) == summary


def test_the_features_load_with_feature_store_untiled(imported) -> None:
    release, _, summary, out = imported
    store = FeatureStore(out / "features")
    voices = read_manifests(out / "manifest").voices
    assert list(store.index.path) == list(voices.path)  # what the features stage guarantees
    for i, path in enumerate(store.index.path):
        np.testing.assert_array_equal(store[i], release.fbank[path])  # the utterance itself
        np.testing.assert_array_equal(repeat_to(store[i], 1000), np.load(path))  # and the file
    assert voices.duration_s.tolist() == [len(release.fbank[p]) / 100 for p in voices.path]
    assert summary["repeated_utterances_untiled"] == 5 and summary["fbank_files"] == 11


def test_the_fits_load_with_the_first_40_shape_and_10_expression(imported) -> None:
    release, _, _, out = imported
    fits = read_fits(out / "fits")
    faces = read_manifests(out / "manifest").faces
    assert list(fits.index.path) == list(faces.path) and fits.usable.all()
    truth = np.array([release.params[p] for p in fits.index.path], np.float64)  # (M, 228)
    np.testing.assert_array_equal(fits.result.shape, truth[:, :40])
    np.testing.assert_array_equal(fits.result.expression, truth[:, 199:209])
    assert np.isnan(fits.result.pose).all()  # the release gives no pose
    assert (fits.index.height == 30).all() and fits.index.path.str.endswith(".jpg").all()


def test_references_are_the_ground_truth_of_a_to_e_and_means_of_the_others(imported) -> None:
    release, _, _, out = imported
    fits = read_fits(out / "fits")
    refs = fits.references.set_index("name")
    ann = str(release.root / "A2E_val" / "Ann_Able" / "00000.jpg")
    assert refs.chosen.Ann_Able == ann and refs.n_fits.Ann_Able == 1
    row = list(refs.index).index
    np.testing.assert_array_equal(fits.reference_shape[row("Ann_Able")], release.params[ann][:40])
    fay = [p for p in release.params if "Fay_Fox" in p]
    mean = np.mean([release.params[p][:40].astype(np.float64) for p in fay], axis=0)
    np.testing.assert_allclose(fits.reference_shape[row("Fay_Fox")], mean, rtol=1e-12)


def test_every_bad_file_is_listed_with_its_reason(imported) -> None:
    _, bad, summary, out = imported
    rejects = pd.read_csv(out / "rejects.csv")
    assert dict(zip(rejects.path, rejects.reason_code, strict=True)) == bad
    assert all(p in r for p, r in zip(rejects.path, rejects.reason, strict=True))  # named
    dropped = read_manifests(out / "manifest").dropped
    assert set(bad) <= set(dropped.key)
    features_rejects = pd.read_csv(out / "features" / "rejects.csv")
    assert set(features_rejects.path) == {p for p in bad if "/fbank/" in p}
    assert sum(summary["rejects"].values()) == len(bad)


def test_best_frontal_picks_the_most_neutral_face(tmp_path: Path) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    import_release(release.root, tmp_path / "out", ImportOptions(reference="best_frontal"))
    refs = read_fits(tmp_path / "out" / "fits").references.set_index("name")
    assert refs.chosen.Fay_Fox.endswith("Fay_Fox/00000.jpg")  # scale 1: the weakest expression


def test_unknown_speaker_folders_are_an_error_or_rejects(tmp_path: Path) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    (release.root / "fbank" / "id10001").rename(release.root / "fbank" / "rand_id00001")
    with pytest.raises(ReleaseError, match=r"rand_id00001\. Map them with --alias FOLDER="):
        import_release(release.root, tmp_path / "out")
    dropped = ImportOptions(unknown_ids="drop")
    import_release(release.root, tmp_path / "out", dropped)
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    assert rejects.query("kind == 'speaker_folder'").path.tolist() == ["rand_id00001"]
    aliased = ImportOptions(aliases={"rand_id00001": "Ann_Able"})
    summary = import_release(release.root, tmp_path / "out", aliased)
    assert summary["identities"]["test"] == 2


def _break_every_param_file(root: Path) -> None:
    for folder in ("A2E_val", "faces_3d"):
        for path in (root / folder).glob("*/*.npy"):
            np.save(path, np.zeros(5))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "vox1_meta.csv").unlink(), "vox1_meta.csv.*put it in ROOT"),
        (lambda root: (root / "fbank").rename(root / "voices"), "no voice folder fbank"),
        (_break_every_param_file, "none of the 9 3DMM parameter files is usable"),
    ],
)
def test_an_unusable_release_is_named_and_writes_nothing(tmp_path: Path, damage, message) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    damage(release.root)
    with pytest.raises(ReleaseError, match=message):
        import_release(release.root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_command_line_imports_and_reports_errors_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    release = make_release(tmp_path / "voxceleb3d")
    out = tmp_path / "out"
    assert main(["import-release", str(release.root), "--out", str(out), "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == 7
    assert main(["import-release", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert main(["import-release", str(release.root), "--out", str(release.root)]) == 2
    assert "refusing to replace" in capsys.readouterr().err  # the release is never replaced


def test_the_real_release_voices_import_as_the_features_stage_stores(
    assets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The 15 released A-E utterances of ../shared/assets/cmp (a voices-only release)."""
    root = assets_dir / "cmp"
    aliases = [f"--alias={folder}={name}" for folder, name in CMP_ALIASES.items()]
    assert main(["import-release", str(root), "--out", str(tmp_path / "out"), "-q", *aliases]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["identities"] == {"train": 0, "val": 0, "test": 5} and not summary["fits"]
    assert summary["repeated_utterances_untiled"] == 13 and summary["rejects"] == {}
    manifests = read_manifests(tmp_path / "out" / "manifest")
    assert sorted(manifests.identities.name) == sorted(CMP_ALIASES.values())
    store = FeatureStore(tmp_path / "out" / "features")
    assert len(store) == 15 and list(store.index.path) == list(manifests.voices.path)
    for i, path in enumerate(store.index.path):
        frames = store[i]
        np.testing.assert_array_equal(repeat_to(frames, 1000), np.load(path))
        np.testing.assert_allclose(normalize(frames), frames, atol=2e-5)  # ours: same norm
    assert sorted(store.index.n_frames)[:2] == [319, 339] and store.index.n_frames.max() == 1751
