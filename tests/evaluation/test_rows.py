"""The evaluation rows registry: one table for evaluate, report and predict."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from voice2mesh.config import KD_METHODS, Params
from voice2mesh.evaluation.rows import KD_ROWS, MAIN_ROWS, ROW_LABELS, ROWS, predicting_rows, row


def test_rows_are_unique_and_in_table_order():
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names))
    assert MAIN_ROWS == ("mean_face", "gender_mean_face", "baseline", "supervised", "unsupervised")
    assert tuple(f"kd_ablation@{m}" for m in KD_METHODS) == KD_ROWS
    assert set(ROW_LABELS) == set(names)


def test_the_unsupervised_row_is_the_kd_method_model_trained_once():
    params = Params()
    for method in KD_METHODS:
        chosen = replace(params, kd=replace(params.kd, method=method))
        files = dict((r.name, f) for r, f in predicting_rows(chosen))
        assert files["unsupervised"] == files[f"kd_ablation@{method}"]
        assert row("unsupervised").stage(chosen) == f"kd_ablation@{method}"
    files = [f for _, f in predicting_rows(params)]
    assert len(set(files)) == len(files) - 1  # one model file shared by two rows


def test_model_rows_name_their_stage_and_files():
    params = Params()
    for r, files in predicting_rows(params):
        assert r.stage is not None and r.stage(params)
        assert files and all(isinstance(f, Path) for f in files)
    assert row("baseline").files(params) == (
        Path("models/gan_baseline.pt"),
        Path("models/teacher.pt"),
    )
    assert row("mean_face").load is None


def test_unknown_rows_are_named():
    with pytest.raises(ValueError, match="no evaluation row 'supervized'"):
        row("supervized")


def test_every_row_stage_is_a_dvc_stage():
    import yaml

    root = Path(__file__).resolve().parents[2]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    names = {
        f"{name}@{item}" if "foreach" in spec else name
        for name, spec in stages.items()
        for item in spec.get("foreach", [None])
    }
    params = Params()
    for r, _ in predicting_rows(params):
        assert r.stage(params) in names, r.name
