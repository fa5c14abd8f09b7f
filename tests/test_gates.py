"""Issue 13's gate table (voice2mesh.gates) reads the stages' metrics files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voice2mesh.gates import gate_table, main


def _are(mean: float, **p: float) -> dict:
    return {"ARE": {"mean": mean} | {f"p_vs_{k}": v for k, v in p.items()}}


def _metrics(folder: Path, agreement: float, unsup: float, p_mean_face: float) -> Path:
    folder.mkdir()
    (folder / "pretrain_teacher.json").write_text(json.dumps({"shape_rmse_ratio": 0.65}))
    gan = {"gender_agreement": agreement, "probe_accuracy": 0.94, "fake_id_accuracy": 0.05}
    gan["chance_accuracy"] = 0.005
    (folder / "train_gan.json").write_text(json.dumps({"mean": gan}))
    evaluate = {
        "vs_reference": {
            "unsupervised": _are(unsup, baseline=0.01, mean_face=p_mean_face),
            "baseline": _are(0.033),
            "mean_face": _are(0.0275),
        },
        "vs_truth": {
            "teacher_on_photos": _are(0.034, gender_mean_face=0.2),
            "gender_mean_face": _are(0.037),
        },
    }
    (folder / "evaluate.json").write_text(json.dumps(evaluate))
    return folder


def test_each_gate_reads_its_metric_and_says_whether_it_holds(tmp_path: Path) -> None:
    a = _metrics(tmp_path / "a", agreement=0.95, unsup=0.025, p_mean_face=0.01)
    b = _metrics(tmp_path / "b", agreement=0.5, unsup=0.029, p_mean_face=0.07)
    rows = gate_table({"a": a, "b": b}).splitlines()
    assert rows[0] == "| gate | a | b |" and len(rows) == 2 + 6
    by_gate = {r.split(" | ")[0].lstrip("| "): r for r in rows[2:]}
    assert "0.650 (met)" in by_gate["teacher: held-out corpus shape RMSE / mean predictor ≤ 0.7"]
    gender = by_gate["GAN gender_agreement ≥ 0.9"]
    assert "0.95 (probe 0.940) (met)" in gender and "0.50 (probe 0.940) (missed)" in gender
    assert "10 × chance (met)" in by_gate["GAN identity accuracy ≥ 5 × chance"]
    mean_face = by_gate["unsupervised beats the mean face (ARE vs references, p < 0.05)"]
    assert "0.0250 vs 0.0275, p = 0.010 (met)" in mean_face
    assert "0.0290 vs 0.0275, p = 0.070 (missed)" in mean_face
    # a p-value below 0.05 for a worse row is no win
    teacher = by_gate["teacher_on_photos beats the gender mean face (ARE vs truth, p < 0.05)"]
    assert teacher.count("(missed)") == 2


def test_the_gender_gate_shows_the_speaker_interval_when_the_stage_gives_one(
    tmp_path: Path,
) -> None:
    folder = _metrics(tmp_path / "a", agreement=0.53, unsup=0.029, p_mean_face=0.07)
    gan = json.loads((folder / "train_gan.json").read_text())
    gan["gender_agreement_by_speaker"] = {
        "mean": 0.52,
        "ci_low": 0.41,
        "ci_high": 0.63,
        "p_vs_chance": 0.71,
        "n_speakers": 33,
    }
    (folder / "train_gan.json").write_text(json.dumps(gan))
    rows = gate_table({"a": folder}).splitlines()[2:]
    gender = next(r for r in rows if r.startswith("| GAN gender_agreement"))
    assert "0.53 (probe 0.940), over 33 speakers 0.52 [0.41, 0.63], p vs chance 0.71" in gender
    assert gender.endswith("(missed) |")


def test_the_gender_gate_shows_the_probes_ceiling_at_the_gans_resolution(tmp_path: Path) -> None:
    folder = _metrics(tmp_path / "a", agreement=0.53, unsup=0.029, p_mean_face=0.07)
    gan = json.loads((folder / "train_gan.json").read_text())
    gan["mean"]["probe_accuracy_at_gan_resolution"] = 0.695
    (folder / "train_gan.json").write_text(json.dumps(gan))
    rows = gate_table({"a": folder}).splitlines()[2:]
    gender = next(r for r in rows if r.startswith("| GAN gender_agreement"))
    assert "0.53 (probe 0.940; 0.695 on the photos at the GAN's resolution) (missed)" in gender


def test_the_teacher_gate_shows_the_identity_interval_when_the_stage_gives_one(
    tmp_path: Path,
) -> None:
    folder = _metrics(tmp_path / "a", agreement=0.53, unsup=0.029, p_mean_face=0.07)
    pooled = {"ratio": 0.65, "ci_low": 0.61, "ci_high": 0.712, "n_identities": 80}
    teacher = {"shape_rmse_ratio": 0.65, "shape_rmse_ratio_by_identity": pooled}
    (folder / "pretrain_teacher.json").write_text(json.dumps(teacher))
    rows = gate_table({"a": folder}).splitlines()[2:]
    ratio = next(r for r in rows if r.startswith("| teacher: held-out"))
    assert ratio.endswith("| 0.650, over 80 identities [0.610, 0.712] (met) |")


def test_a_missing_metric_reads_as_a_dash(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    rows = gate_table({"x": tmp_path / "empty"}).splitlines()[2:]
    assert all(r.endswith("| — |") for r in rows)


def test_main_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such metrics folder"):
        main([f"x={tmp_path / 'nope'}"])
