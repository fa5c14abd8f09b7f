"""``voice2mesh detect``: one .pts file per face, largest first, named OUT.pts, OUT_1.pts, ...;
a photo without a face and a backend without its packages are one-line user errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from voice2mesh.cli import main
from voice2mesh.data.pts import read_pts
from voice2mesh.detect_cli import FACE_BACKENDS, out_paths
from voice2mesh.landmarks import Face
from voice2mesh.landmarks.dlib_backend import INSTALL


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> list[Face]:
    """The faces a stand-in ``dlib`` backend reports (largest first, as real backends do);
    a test fills the list."""
    faces: list[Face] = []

    class Stub:
        def __init__(self, detector: str = "hog") -> None:
            self.detector = detector

        def faces(self, image: np.ndarray) -> list[Face]:
            assert image.shape == (60, 80, 3) and image.dtype == np.uint8
            return faces

    monkeypatch.setitem(FACE_BACKENDS, "dlib", Stub)
    return faces


def face(x1: float, y1: float, size: float) -> Face:
    t = np.linspace(0, 1, 68)
    points = np.stack([x1 + size * t, y1 + size * t[::-1]], axis=1)  # (68, 2) inside the box
    return Face(np.array([x1, y1, x1 + size, y1 + size]), points, 1.5, 0.0)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.full((60, 80, 3), 90, np.uint8)).save(path)
    return path


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_out_paths_name_the_largest_face_out() -> None:
    names = [p.name for p in out_paths(Path("dir/face.pts"), 3)]
    assert names == ["face.pts", "face_1.pts", "face_2.pts"]


def test_every_face_gets_a_pts_file_and_a_box_line(photo, tmp_path, capsys, found):
    found += [face(10, 5, 40), face(50, 20, 12)]
    out = tmp_path / "out" / "face.pts"
    code, stdout, err = run(capsys, "detect", photo, "--out", out)
    assert code == 0, err
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["pts"] for r in records] == [str(out), str(out.with_name("face_1.pts"))]
    assert records[0]["box"] == [10, 5, 50, 45] and records[1]["box"] == [50, 20, 62, 32]
    for record, expected in zip(records, found, strict=True):
        assert np.allclose(read_pts(record["pts"]), expected.points, atol=1e-3)
    assert not out.with_name("face_2.pts").exists()


def test_no_face_is_a_user_error_with_a_hint(photo, tmp_path, capsys, found):
    code, stdout, err = run(capsys, "detect", photo, "--out", tmp_path / "face.pts")
    assert code == 2 and stdout == ""
    assert err == f"voice2mesh: error: {photo}: no face found; try --detector cnn\n"
    assert not (tmp_path / "face.pts").exists()


def test_out_must_be_a_pts_file(photo, tmp_path, capsys):
    code, _, err = run(capsys, "detect", photo, "--out", tmp_path / "face.txt")
    assert code == 2 and "--out must end in .pts" in err


def test_missing_dlib_says_how_to_install_it(photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    code, _, err = run(capsys, "detect", photo, "--out", tmp_path / "face.pts")
    assert code == 2 and err.count("\n") == 1
    assert INSTALL in err


def test_a_real_photo(assets_dir: Path, tmp_path: Path, capsys) -> None:
    if importlib.util.find_spec("dlib") is None:
        pytest.skip(f"dlib is not installed ({INSTALL})")
    out = tmp_path / "guo.pts"
    code, stdout, err = run(
        capsys, "detect", assets_dir / "images" / "JianzhuGuo.jpg", "--out", out
    )
    assert code == 0, err
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    x1, y1, x2, y2 = record["box"]
    points = read_pts(out)
    assert (points.mean(axis=0) > [x1, y1]).all() and (points.mean(axis=0) < [x2, y2]).all()
