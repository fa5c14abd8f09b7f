"""``voice2mesh fit``: a known synthetic face rendered into a photo is recovered (small landmark
RMSE, the model's vertex count, the pose); real photos with the SFM and bfm68 (hand landmarks
and dlib's); the user errors are one line naming the file, written before any work."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from voice2mesh.cli import main
from voice2mesh.data.pts import read_pts, write_pts
from voice2mesh.detect_cli import FACE_BACKENDS
from voice2mesh.facemodel.loaders import LOADERS, load_model
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.landmarks import Face
from voice2mesh.landmarks.dlib_backend import INSTALL
from voice2mesh.render import load_mesh, pose_matrix, render, rotation_matrix

SIZE = (240, 320)  # (H, W) of the synthetic photo
YAW, PITCH, ROLL = 20.0, 5.0, -5.0


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, dict | None, str]:
    """Exit status, the JSON record on stdout (None if there is none) and stderr; ``str``
    arguments are split at spaces ("--model sfm"), ``Path``s are not."""
    code = main([w for a in argv for w in (a.split() if isinstance(a, str) else [str(a)])])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def assert_one_line_error(code: int, err: str, *names: str | Path) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("voice2mesh: error: "), err
    for name in names:
        assert str(name) in err, (name, err)


@pytest.fixture(scope="module")
def synthetic() -> MorphableModel:
    return load_model("synthetic")  # cached: the CLI gets the same model without rebuilding it


@pytest.fixture(scope="module")
def known_face(synthetic: MorphableModel, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A random face of the synthetic model rendered at a known pose into ``photo.png``, its
    68 projected landmarks in ``face.pts``, and its (N, 3) vertices."""
    rng = np.random.default_rng(0)
    shape = rng.normal(size=(1, synthetic.n_shape)) * synthetic.shape_std
    expression = rng.normal(size=(1, synthetic.n_expression)) * synthetic.expression_std * 0.5
    vertices = synthetic.reconstruct(shape, expression)[0]
    pose = pose_matrix(1.5, rotation_matrix(YAW, PITCH, ROLL), 160.0, 130.0)
    shot = render(
        vertices,
        synthetic.triangles,
        pose,
        SIZE,
        background=(90, 90, 90),
        landmarks=synthetic.landmarks,
    )
    folder = tmp_path_factory.mktemp("known_face")
    Image.fromarray(shot.image).save(folder / "photo.png")
    write_pts(folder / "face.pts", shot.landmarks_2d)
    return {"photo": folder / "photo.png", "pts": folder / "face.pts", "vertices": vertices}


@pytest.fixture
def dlib(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in dlib backend class: it reports the faces of its ``found`` list (tests fill
    it); ``made`` counts the backends built (0: the command stopped before detecting)."""

    class Stub:
        found: ClassVar[list] = []
        made = 0

        def __init__(self, detector: str = "hog") -> None:
            Stub.made += 1

        def faces(self, image: np.ndarray) -> list:
            return Stub.found

    monkeypatch.setitem(FACE_BACKENDS, "dlib", Stub)
    return Stub


def centred_rms(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.sqrt(((a - b) ** 2).sum(1).mean()))


def test_a_known_synthetic_face_is_recovered(known_face, synthetic, tmp_path, capsys) -> None:
    out, png = tmp_path / "face.obj", tmp_path / "fit.png"
    code, record, err = run(
        capsys, "fit", known_face["photo"], "--pts", known_face["pts"], "--out", out, "--png", png
    )
    assert code == 0, err
    assert record["landmarks_used"] == 68 and record["converged"]
    assert record["rmse_px"] < 1.5 and record["rmse_eye_corners"] < 0.015  # measured 0.77, 0.006
    fitted = np.array([record["yaw"], record["pitch"], record["roll"]])
    assert np.abs(fitted - [YAW, PITCH, ROLL]).max() < 2.0
    vertices, triangles = load_mesh(out)
    assert vertices.shape == (synthetic.n_vertices, 3)
    assert np.array_equal(triangles, synthetic.triangles)
    # The landmarks pull the face from the mean towards the truth (measured 1.2 vs 2.1 mm).
    truth = known_face["vertices"]
    assert centred_rms(vertices, truth) < 0.75 * centred_rms(synthetic.mean, truth)
    with Image.open(png) as picture:
        assert max(picture.size) >= 512  # the face's crop at --size 512, and a caption above it


def test_ply_mesh_and_no_outputs(known_face, synthetic, tmp_path, capsys) -> None:
    photo, pts = known_face["photo"], known_face["pts"]
    code, _, err = run(capsys, "fit", photo, "--pts", pts, "--out", tmp_path / "face.ply")
    assert code == 0, err
    assert load_mesh(tmp_path / "face.ply")[0].shape == (synthetic.n_vertices, 3)
    code, record, err = run(capsys, "fit", photo, "--pts", pts)
    assert code == 0 and record["rmse_px"] < 1.5 and "wrote" not in err


def test_the_largest_face_dlib_reports_is_fitted(known_face, capsys, dlib) -> None:
    points = read_pts(known_face["pts"])
    dlib.found = [
        Face(np.array([40, 30, 280, 230]), points, 1.0, 0.0),
        Face(np.array([0, 0, 20, 20]), points[::-1] / 10, 1.0, 0.0),
    ]
    code, record, err = run(capsys, "fit", known_face["photo"])
    assert code == 0, err
    assert dlib.made == 1 and record["landmarks"] == "dlib (hog)"
    assert record["rmse_px"] < 1.5  # the second, garbled face would not fit this well


def test_missing_photo_and_missing_or_bad_pts(known_face, tmp_path, capsys) -> None:
    missing = tmp_path / "nothing.jpg"
    assert_one_line_error(*run(capsys, "fit", missing)[::2], missing, "no such file")
    no_pts = tmp_path / "nothing.pts"
    code, _, err = run(capsys, "fit", known_face["photo"], "--pts", no_pts)
    assert_one_line_error(code, err, no_pts, "no such file")
    bad = tmp_path / "bad.pts"
    bad.write_text("version: 1\nn_points: 68\n{\n1 2\nthree 4\n}\n")
    code, _, err = run(capsys, "fit", known_face["photo"], "--pts", bad)
    assert_one_line_error(code, err, f"{bad}:5", ".pts")


def test_unusable_landmarks_are_a_user_error(known_face, tmp_path, capsys) -> None:
    nan = tmp_path / "nan.pts"
    write_pts(nan, np.full((68, 2), np.nan))
    code, _, err = run(
        capsys, "fit", known_face["photo"], "--pts", nan, "--out", tmp_path / "f.obj"
    )
    assert_one_line_error(code, err, nan, "the fit failed")
    assert not (tmp_path / "f.obj").exists()


def test_no_face_is_a_user_error_with_hints(known_face, tmp_path, capsys, dlib) -> None:
    code, _, err = run(capsys, "fit", known_face["photo"], "--out", tmp_path / "f.obj")
    assert_one_line_error(
        code, err, known_face["photo"], "no face found", "--detector cnn", "--pts"
    )
    assert not (tmp_path / "f.obj").exists()


def test_missing_dlib_says_how_to_install_it(known_face, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)
    code, _, err = run(capsys, "fit", known_face["photo"], "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, INSTALL, "--pts")


def test_a_landmark_only_model_refuses_a_mesh_before_detecting(
    known_face, synthetic, tmp_path, capsys, monkeypatch, dlib
) -> None:
    landmarks_only = MorphableModel.without_basis(
        "bfm68", synthetic.mean[synthetic.landmarks], landmarks=np.arange(68), dense=False
    )
    monkeypatch.setitem(LOADERS, "landmarks_only", lambda path=None: landmarks_only)
    out = tmp_path / "face.obj"
    photo = known_face["photo"]
    code, _, err = run(capsys, "fit", photo, "--model landmarks_only --out", out)
    assert_one_line_error(code, err, "only its 68 landmarks", str(out), "drop --out")
    assert dlib.made == 0 and not out.exists()
    png = tmp_path / "fit.png"
    code, record, err = run(
        capsys, "fit", photo, "--pts", known_face["pts"], "--model landmarks_only --png", png
    )
    assert code == 0 and png.is_file() and record["landmarks_used"] == 68, err


def test_outputs_are_checked_first(known_face, tmp_path, capsys, dlib) -> None:
    code, _, err = run(capsys, "fit", known_face["photo"], "--out", tmp_path / "face.stl")
    assert_one_line_error(code, err, "--out must end in .obj or .ply")
    code, _, err = run(capsys, "fit", known_face["photo"], "--png", known_face["photo"])
    assert_one_line_error(code, err, "would overwrite an input")
    assert dlib.made == 0


def test_image_0010_with_its_hand_landmarks(assets_dir: Path, tmp_path, capsys) -> None:
    images, sfm = assets_dir / "images", assets_dir / "sfm" / "sfm_shape_3448.npz"
    out, png = tmp_path / "face.obj", tmp_path / "fit.png"
    photo, pts = images / "image_0010.png", images / "image_0010.pts"
    code, record, err = run(
        capsys, "fit", photo, "--pts", pts, "--model sfm --path", sfm, "--out", out, "--png", png
    )
    assert code == 0, err
    assert record["landmarks_used"] == 50 and record["converged"]  # the SFM maps 50 of 68
    assert record["rmse_eye_corners"] < 0.05  # measured 0.033 (6.0 px)
    assert -40 < record["yaw"] < -20  # she looks to the image-left
    assert load_mesh(out)[0].shape == (3448, 3)
    code, record, err = run(
        capsys, "fit", photo, "--pts", pts, "--model bfm68 --path", assets_dir / "bfm68"
    )
    assert code == 0 and record["landmarks_used"] == 68 and record["rmse_eye_corners"] < 0.08


def test_image_0010_with_dlib(assets_dir: Path, tmp_path, capsys) -> None:
    for package in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed ({INSTALL})")
    photo, sfm = assets_dir / "images" / "image_0010.png", assets_dir / "sfm" / "sfm_shape_3448.npz"
    code, record, err = run(
        capsys, "fit", photo, "--model sfm --path", sfm, "--out", tmp_path / "f.ply"
    )
    assert code == 0, err
    assert record["landmarks"] == "dlib (hog)" and record["rmse_eye_corners"] < 0.05  # 0.031
    assert -40 < record["yaw"] < -20  # -30 (hand landmarks: -31)
