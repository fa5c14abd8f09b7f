"""The dlib backend: real photos from ../shared/assets (accuracy, every face of a group photo),
a blank image, the rotation maps, and the message when its packages are missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from voice2mesh.data.pts import read_pts
from voice2mesh.landmarks import DlibBackend, detect_landmarks
from voice2mesh.landmarks.base import load_image
from voice2mesh.landmarks.dlib_backend import INSTALL, load_models, turn

# emma.jpg's three faces, x1, y1, x2, y2 (../shared/assets/README.md).
EMMA_BOXES = np.array([[317, 382, 815, 1036], [2986, 298, 3480, 886], [1694, 241, 2048, 733]])
MIN_IOU = 0.4  # dlib's boxes are tight squares, the reference boxes taller: IoU 0.5-0.7


@pytest.fixture(scope="module")
def hog() -> DlibBackend:
    """The default backend (HOG detector); skips when dlib or its weights are not installed."""
    if importlib.util.find_spec("dlib") is None:
        pytest.skip(f"dlib is not installed ({INSTALL})")
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip(f"face-recognition-models is not installed ({INSTALL})")
    return DlibBackend()


def nme(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error over the outer-eye-corner distance (ibug points 37 and 46, 1-based)."""
    return float(
        np.linalg.norm(points - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45])
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    w, h = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None)
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return float(w * h / (area(a) + area(b) - w * h))


def test_image_0010_matches_its_hand_annotation(hog: DlibBackend, assets_dir: Path) -> None:
    folder = assets_dir / "images"
    result = detect_landmarks(hog, [folder / "image_0010.png"])
    assert result.rejects == []
    assert nme(result.points[0], read_pts(folder / "image_0010.pts")) <= 0.05


def test_emma_yields_her_three_faces_largest_first(hog: DlibBackend, assets_dir: Path) -> None:
    """Each reference box holds exactly one detection's box centre, with IoU >= MIN_IOU."""
    faces = hog.faces(load_image(assets_dir / "images" / "emma.jpg"))
    assert len(faces) == 3
    areas = [np.prod(f.box[2:] - f.box[:2]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    for ref in EMMA_BOXES:
        inside = [
            f
            for f in faces
            if (ref[:2] <= (f.box[:2] + f.box[2:]) / 2).all()
            and ((f.box[:2] + f.box[2:]) / 2 <= ref[2:]).all()
        ]
        assert len(inside) == 1, (ref, [f.box for f in faces])
        assert iou(inside[0].box, ref) >= MIN_IOU, (ref, inside[0].box)
        points = inside[0].points
        assert ((ref[:2] - 50 <= points) & (points <= ref[2:] + 50)).all()  # the face's own points


def test_the_cnn_detector_agrees_with_hog(hog: DlibBackend, assets_dir: Path) -> None:
    image = load_image(assets_dir / "images" / "JianzhuGuo.jpg")
    (by_cnn,) = DlibBackend(detector="cnn").faces(image)
    (by_hog,) = hog.faces(image)
    assert nme(by_cnn.points, by_hog.points) < 0.1


def test_a_blank_image_is_a_no_face_reject(hog: DlibBackend, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 100, 3), 128, np.uint8)).save(path)
    result = detect_landmarks(hog, [path])
    assert result.rejects == [(str(path), "no face detected")]
    assert hog.faces(load_image(path)) == []


@pytest.mark.parametrize("angle", [20.0, -20.0, 90.0])
def test_turn_follows_pil_rotate_and_back(angle: float) -> None:
    image = np.zeros((50, 80), np.uint8)
    image[10, 60] = 255  # pixel centre (60.5, 10.5)
    turned = np.asarray(Image.fromarray(image).rotate(angle, Image.Resampling.BILINEAR, True))
    rows, cols = np.mgrid[: turned.shape[0], : turned.shape[1]] + 0.5
    weight = turned.astype(np.float64) / turned.sum()
    seen = np.array([(weight * cols).sum(), (weight * rows).sum()])
    there = turn(np.array([[60.5, 10.5]]), angle, image.shape, turned.shape)
    assert np.allclose(there[0], seen, atol=0.1)
    assert np.allclose(turn(there, -angle, turned.shape, image.shape), [[60.5, 10.5]])


@pytest.mark.parametrize("module", ["dlib", "face_recognition_models"])
def test_a_missing_package_names_the_install_command(monkeypatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails, find_spec finds nothing
    with pytest.raises(ImportError) as error:
        load_models("hog")
    assert INSTALL in str(error.value)
