"""The authors' release is a pipeline input: the stages train and evaluate on it unchanged.

A release-layout fixture (A-E identities with voices and one ground-truth face each, F-Z with
voices and several faces, photos with ``.pts`` landmarks beside them) is read by ``intersect``,
``features`` and ``fit3dmm`` with ``intersect.source: release`` (what ``import_release`` writes:
``test_release_stages.py``), as ``dvc repro`` runs them. ``evaluate`` predicts with every row
of ``evaluation.rows.ROWS`` the release can feed and reads the photos' landmarks: the GE2E row
(``embed_ge2e``, ``train_supervised_ge2e``) needs waveforms, which the release lacks, so its
stages skip and ``evaluate`` and the report leave it out, saying why. Besides ``pretrain_voice`` and
``train_supervised`` the test runs ``landmarks`` (the release ships none: backend ``pts`` stands
in for a detector), the teacher (trained on the synthetic ``teacher_corpus``, a population of
its own), ``train_gan`` and every ``kd_ablation`` method, all tiny, with one seed;
``evaluate.truth`` is null, as for real data. The release gives no pose, so
``pretrain_teacher`` scores none of its fits against the teacher and counts them
(``vs_fits.n_without_pose``).

The face model is the synthetic one: 40 shape + 10 expression coefficients, as the release's
fits keep. The release's coefficients are in BFM units, far beyond the synthetic model's, so
the meshes scored are not face-sized; what is tested is that the stages read the release and
that every test identity is scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from release_world import make_release
from test_pipeline import tiny_params

from stages import (
    embed_ge2e,
    evaluate,
    features,
    fit3dmm,
    intersect,
    kd_ablation,
    landmarks,
    pretrain_teacher,
    pretrain_voice,
    teacher_corpus,
    train_gan,
    train_supervised,
    train_supervised_ge2e,
)
from voice2mesh.config import Params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.distill import REGISTRY
from voice2mesh.encoders.store import NO_WAVEFORM
from voice2mesh.evaluation.rows import ROW_NAMES, SUPERVISED_GE2E
from voice2mesh.evaluation.scoring import METRIC_COLUMNS
from voice2mesh.report.tables import render_tables

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

UTTERANCES = (450, 620, 1000)  # frames; the release repeats the first two to 1000
TEST_PEOPLE = (  # A-E: voices and one ground-truth face (A2E_val)
    ("id10001", "Ann_Able", "f", UTTERANCES, 1),
    ("id10002", "Bob_Baker", "m", UTTERANCES, 1),
    ("id10003", "Cat_Cole", "f", UTTERANCES, 1),
)
TRAIN_PEOPLE = tuple(  # F-Z: voices and two faces each (faces_3d); 4 per gender, 1 held out
    (f"id1010{k}", name, "fm"[k % 2], UTTERANCES, 2)
    for k, name in enumerate(
        ("Fay_Fox", "Gus_Gray", "Ida_Ink", "Hal_Hill", "Jo_Jay", "Kim_Kent", "Lea_Lane", "Max_Moss")
    )
)
PHOTO = (96, 96)  # (height, width)


def release_params(root: Path, release: Path) -> Params:
    """The end-to-end test's tiny settings, one seed, with the release as the input."""
    params = tiny_params(root)
    return replace(
        params,
        n_seeds=1,
        intersect=replace(
            params.intersect,
            source="release",
            voxceleb_root=str(release),
            vggface_root=str(release),
            val_fraction=0.25,
        ),
        evaluate=replace(params.evaluate, truth=None),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Params, Path, dict]:
    """The release read by the data stages, its landmarks read, the voice encoder and the
    supervised model trained on it; returns the params, the metrics folder and the manifest
    counts."""
    root = tmp_path_factory.mktemp("release_run")
    release = make_release(root / "voxceleb3d", people=TEST_PEOPLE + TRAIN_PEOPLE, photo=PHOTO)
    params, m = release_params(root, release.root), root / "metrics"
    summary = intersect.run(params.intersect, m / "intersect.json")
    features.run(params, m / "features.json", quiet=True)
    landmarks.run(params, m / "landmarks.json", quiet=True)
    fit3dmm.run(params, m / "fit3dmm.json")
    pretrain_voice.run(params, m / "pretrain_voice.json", m / "voice.csv", quiet=True)
    train_supervised.run(params, m / "train_supervised.json", m / "sup.csv", quiet=True)
    return params, m, summary


def test_the_stages_split_the_release_and_read_every_file(trained) -> None:
    _, m, summary = trained
    assert summary["identities"] == {"train": 6, "val": 2, "test": len(TEST_PEOPLE)}
    assert summary["dropped"] == {}  # no file, folder or identity left out
    n_faces = sum(p[4] for p in TEST_PEOPLE + TRAIN_PEOPLE)
    assert json.loads((m / "fit3dmm.json").read_text())["usable"] == n_faces
    assert json.loads((m / "features.json").read_text())["rejected"] == {}


def test_train_supervised_trains_on_the_import_with_a_finite_val_mse(trained) -> None:
    params, m, summary = trained
    assert params.supervised.model_path(params.seed).is_file()
    out = json.loads((m / "train_supervised.json").read_text())["mean"]
    assert out["n_train_identities"] == summary["identities"]["train"]
    assert out["n_val_identities"] == summary["identities"]["val"]
    assert math.isfinite(out["val_mse"]) and out["val_mse"] > 0
    assert math.isfinite(out["final_loss"])


def _pretrain_teacher(params: Params, m: Path) -> None:
    """``pretrain_teacher`` scores no fit without a pose (the release has none) and says so."""
    pretrain_teacher.run(params, m / "pretrain_teacher.json", m / "teacher.csv", quiet=True)
    vs_fits = json.loads((m / "pretrain_teacher.json").read_text())["vs_fits"]
    assert vs_fits["n_without_pose"] > 0 and vs_fits["n_images"] == 0
    assert vs_fits["shape_rmse"] is None and vs_fits["val_mse"] is None


def test_evaluate_scores_every_row_on_the_a_to_e_identities(trained) -> None:
    """Every row the release feeds is scored; the GE2E row is left out, and says why."""
    params, m, _ = trained
    embedded = embed_ge2e.run(params, m / "embed_ge2e.json", quiet=True)
    assert "fbank" in embedded["skipped"] and embedded["embedded"] == 0
    assert embedded["rejected"] == {NO_WAVEFORM: embedded["utterances"]}
    assert "skipped" in train_supervised_ge2e.run(params, m / "ge2e.json", m / "ge2e.csv")
    teacher_corpus.run(params, m / "teacher_corpus.json", quiet=True)
    _pretrain_teacher(params, m)
    train_gan.run(params, m / "train_gan.json", m / "gan.csv", quiet=True)
    for method in REGISTRY:
        kd_ablation.run(params, method, True, m / "kd_ablation", m / "kd_plots")
    out = evaluate.run(params, m / "evaluate.json", quiet=True)
    counts = out["counts"]
    assert counts["test_identities"] == len(TEST_PEOPLE)
    assert counts["test_utterances"] == len(TEST_PEOPLE) * params.evaluate.n_utterances
    assert counts["test_photos"] == len(TEST_PEOPLE) and not counts["unreadable_test_photos"]
    assert set(counts["rows_left_out"]) == {SUPERVISED_GE2E}
    assert "waveform" in counts["rows_left_out"][SUPERVISED_GE2E]
    assert set(out["vs_reference"]) == set(ROW_NAMES) - {SUPERVISED_GE2E}  # the others, scored
    assert out["vs_reference"]["supervised"]["n_seeds"] == 1
    scored = pd.read_csv(Path(params.evaluate.out) / "per_utterance.csv")
    supervised = scored.query("model == 'supervised'")
    test_ids = read_manifests(Path(params.intersect.out)).identities.query("split == 'test'")
    assert set(supervised.identity.astype(str)) == set(test_ids.identity.astype(str))
    assert supervised[list(METRIC_COLUMNS)].notna().all().all()
    assert SUPERVISED_GE2E not in set(scored.model)
    tables = render_tables(out)
    assert not [line for line in tables.splitlines() if line.startswith("|") and "GE2E" in line]
    assert "Left out: Supervised (GE2E): intersect.source is release" in tables
