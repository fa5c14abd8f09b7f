"""The report stage end to end on a tiny fake evaluate output, and its figures."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import stages.report as stage
from voice2mesh.config import Params
from voice2mesh.evaluation.rows import ROW_LABELS
from voice2mesh.evaluation.store import read_predictions, write_predictions
from voice2mesh.facemodel.synthetic import build_synthetic_model
from voice2mesh.report import figures

IDS = ("id10001", "id10002", "id10003", "id10004", "id10005")
ROWS = ("mean_face", "gender_mean_face", "supervised", "unsupervised")


@pytest.fixture(scope="module")
def model():
    return build_synthetic_model().truncated(6, 2)


def fake_predictions(path, model, rows=ROWS, n_utt: int = 3) -> None:
    rng = np.random.default_rng(0)
    ids = np.repeat(IDS, n_utt)
    paths = [f"wav/{i}/vid/{k + 1:05d}.wav" for i in IDS for k in range(n_utt)]
    test = SimpleNamespace(
        utterances=pd.DataFrame({"identity": ids, "path": paths}), identities=np.array(IDS)
    )
    ref = rng.normal(size=(len(IDS), 6)) * model.shape_std
    preds = {}
    for row in rows:
        shape = ref[np.arange(len(ids)) // n_utt] * 0.5 + rng.normal(size=(len(ids), 6))
        expression = None if "mean" in row else rng.normal(size=(len(ids), 2)) * 0.3
        preds[row] = (shape.astype(np.float32), expression)
    seeds = {row: -1 if "mean" in row else 0 for row in rows}
    write_predictions(path, test, preds, {"reference": ref, "truth": ref * 1.1}, seeds)


def fake_results(rows=ROWS) -> dict:
    entry = {"mean": 0.03, "ci_low": 0.02, "ci_high": 0.04, "p_vs_gender_mean_face": 0.5}
    entry["p_holm_vs_gender_mean_face"] = 1.0
    summary = {r: {m: dict(entry) for m in ("ER", "ARE", "NME")} for r in rows}
    blocks = ("vs_reference", "vs_truth", "shape_only", "shape_only_vs_truth")
    return {
        "counts": {"test_identities": len(IDS), "test_utterances": 3 * len(IDS), "seeds": 3},
        "gender_from_voice": {"accuracy": 0.8, "majority_baseline": 0.6},
        "families": {f"{b}: Tables 1-4": {"tests": 30, "adjustment": "Holm"} for b in blocks},
    } | {block: summary for block in blocks}


@pytest.fixture
def evaluated(tmp_path, model, monkeypatch):
    """Params pointing at a fake evaluate output in ``tmp_path``; the tiny model injected."""
    folder = tmp_path / "evaluation"
    folder.mkdir()
    fake_predictions(folder / "predictions.npz", model)
    pd.DataFrame(
        {
            "block": ["vs_reference"],
            "model": ["supervised"],
            "comparator": ["gender_mean_face"],
            "metric": ["ARE"],
            "diff": [-0.001],
            "ci_low": [-0.002],
            "ci_high": [0.0],
            "p": [0.04],
            "family": ["vs_reference: Tables 1-4"],
            "p_holm": [0.4],
        }
    ).to_csv(folder / "paired.csv", index=False)
    metrics = tmp_path / "evaluate.json"
    metrics.write_text(json.dumps(fake_results()))
    monkeypatch.setattr(stage, "load_from_params", lambda cfg: model)
    base = Params()
    params = dataclasses.replace(
        base,
        evaluate=dataclasses.replace(base.evaluate, out=str(folder)),
        report=dataclasses.replace(
            base.report,
            tables=str(tmp_path / "reports" / "tables.md"),
            figures=str(tmp_path / "reports" / "figures"),
            n_speakers=2,
            size=48,
        ),
    )
    return params, metrics


def test_stage_end_to_end_and_deterministic(evaluated, tmp_path):
    params, metrics = evaluated
    out = stage.run(params, metrics)
    assert out["rows"] == sorted(ROWS) and "baseline" in out["missing"]
    assert out["kinds"] == ["reference", "truth"]
    folder = tmp_path / "reports"
    text = (folder / "tables.md").read_text()
    assert "(figures/meshes.png)" in text and "(figures/ear_ratio.png)" in text
    assert "gan_samples" not in text
    assert "synthetic world only" in text and "| Supervised | Gender mean face |" in text
    assert "Tables 1-4, shape only" in text and "Holm family `vs_reference: Tables 1-4`" in text
    names = ("meshes.png", "coherence.png", "ear_ratio.png")
    first = {n: (folder / "figures" / n).read_bytes() for n in names}
    meshes = np.asarray(Image.open(folder / "figures" / "meshes.png"))
    assert meshes.shape[0] > 4 * 48 and meshes.shape[1] > 3 * 48  # 2 speakers x 2 views
    (folder / "figures" / "gan_samples.png").write_bytes(first["meshes.png"])
    stage.run(params, metrics)
    assert "[GAN samples](figures/gan_samples.png)" in (folder / "tables.md").read_text()
    for name in names:
        assert (folder / "figures" / name).read_bytes() == first[name], name


def test_stage_says_what_is_missing(evaluated, tmp_path):
    params, _ = evaluated
    with pytest.raises(FileNotFoundError, match="dvc repro evaluate"):
        stage.run(params, tmp_path / "absent.json")


def test_mesh_rows_fall_back_to_the_mean_faces():
    assert figures.shown_rows(["mean_face", "supervised"]) == ["supervised"]
    assert figures.shown_rows(["mean_face", "gender_mean_face"]) == [
        "gender_mean_face",
        "mean_face",
    ]
    assert figures.pick_speakers(["c", "a", "b", "e", "d"], 3) == ["a", "c", "e"]
    assert figures.pick_speakers(["a"], 4) == ["a"]


def test_figures_on_mean_rows_only(tmp_path, model):
    fake_predictions(tmp_path / "p.npz", model, rows=("mean_face", "gender_mean_face"))
    pred = read_predictions(tmp_path / "p.npz")
    sheet = figures.mesh_sheet(model, pred, n_speakers=1, size=32)
    assert sheet.ndim == 3 and sheet.shape[1] > 3 * 32  # label + reference + 2 fallback rows
    assert figures.coherence_sheet(model, pred, size=32).shape[1] > 4 * 32  # 3 utterances
    figures.ear_ratio_png(model, pred, tmp_path / "ear.png")
    assert Image.open(tmp_path / "ear.png").size == (500, 500)


def test_ear_ratio_matches_the_pair_distances(tmp_path, model):
    fake_predictions(tmp_path / "p.npz", model)
    pred = read_predictions(tmp_path / "p.npz")
    shape, expression = pred.rows["supervised"]
    ratio = figures.ear_ratio(model, shape[:2], expression[:2])
    dist = model.pair_distances(model.reconstruct(shape[:2], expression[:2]))
    np.testing.assert_allclose(ratio, dist["ear"] / dist["oicd"])
    assert figures.coherence_speaker(pred) == IDS[0]
    assert list(figures.utterances_of(pred, IDS[1])) == [3, 4, 5]
    assert pred.seeds == {
        "mean_face": -1,
        "gender_mean_face": -1,
        "supervised": 0,
        "unsupervised": 0,
    }
    assert ROW_LABELS["supervised"] == "Supervised"
