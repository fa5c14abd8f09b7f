"""The face_model stage and the ``voice2mesh facemodel preview`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stages.face_model import run
from voice2mesh.cli import main as cli
from voice2mesh.config import FaceModelParams


def test_stage_writes_sheet_and_summary(tmp_path):
    figure, metrics = tmp_path / "f.png", tmp_path / "m.json"
    summary = run(FaceModelParams(preview_size=64), figure, metrics)
    assert json.loads(metrics.read_text()) == summary
    assert summary["shape_components"] == 40 and summary["expression_components"] == 10
    assert 5000 <= summary["vertices"] <= 15000
    assert 80 <= summary["mean"]["oicd_mm"] <= 100
    assert summary["male"]["oicd_mm"] > summary["female"]["oicd_mm"]
    sheet = np.asarray(Image.open(figure))
    # 1 mean row + 6 shape + 4 expression rows of 64-px tiles
    assert sheet.shape[0] > 11 * 64 and sheet.shape[1] > 6 * 64
    first = figure.read_bytes()
    run(FaceModelParams(preview_size=64), figure, metrics)
    assert figure.read_bytes() == first  # deterministic


def test_stage_honours_component_counts(tmp_path):
    summary = run(
        FaceModelParams(n_shape=8, n_expression=4, preview_size=48),
        tmp_path / "f.png",
        tmp_path / "m.json",
    )
    assert (summary["shape_components"], summary["expression_components"]) == (8, 4)


def test_cli_preview_of_the_surrey_model(assets_dir, tmp_path, capsys):
    out = tmp_path / "sfm.png"
    code = cli(
        [
            "facemodel",
            "preview",
            "--model",
            "sfm",
            "--size",
            "48",
            "--out",
            str(out),
            "--path",
            str(assets_dir / "sfm" / "sfm_shape_3448.npz"),
        ]
    )
    assert code == 0 and out.is_file()
    summary = json.loads(capsys.readouterr().out)
    assert summary["vertices"] == 3448 and summary["shape_components"] == 63


def test_cli_preview_of_landmark_only_model_fails_clearly(assets_dir, tmp_path, capsys):
    code = cli(
        [
            "facemodel",
            "preview",
            "--model",
            "bfm68",
            "--path",
            str(assets_dir / "bfm68"),
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "dense" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv", [["facemodel", "preview", "--model", "sfm", "--out", "x.png"]])
def test_cli_missing_path_is_explained(argv, capsys):
    assert cli(argv) == 2
    assert "face_model.path" in capsys.readouterr().err
