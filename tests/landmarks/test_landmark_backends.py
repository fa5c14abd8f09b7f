"""Landmark backends (pts files, face-alignment with a stand-in network) and the runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from voice2mesh.data.pts import read_pts, write_pts
from voice2mesh.landmarks import FAN_WEIGHTS, FanBackend, PtsBackend, detect_landmarks
from voice2mesh.landmarks.fan import build_predictor


def make_image(path: Path, size=(40, 50)) -> Path:
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(path)
    return path


def test_pts_backend_on_the_real_annotation(assets_dir, tmp_path):
    image = tmp_path / "image_0010.png"
    shutil.copy(assets_dir / "images" / "image_0010.png", image)  # only into tmp, never the repo
    shutil.copy(assets_dir / "images" / "image_0010.pts", tmp_path / "image_0010.pts")
    result = detect_landmarks(PtsBackend(), [image])
    assert result.rejects == []
    assert result.sizes.tolist() == [[1024, 1280]]
    expected = read_pts(assets_dir / "images" / "image_0010.pts")
    assert np.allclose(result.points[0], expected, atol=1e-4)


def test_rejects_are_listed_and_the_rest_survives(tmp_path):
    good = make_image(tmp_path / "good.jpg")
    write_pts(tmp_path / "good.pts", np.full((68, 2), 20.0))
    no_pts = make_image(tmp_path / "no_pts.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg")
    far = make_image(tmp_path / "far.jpg")
    write_pts(tmp_path / "far.pts", np.full((68, 2), 900.0))
    result = detect_landmarks(PtsBackend(batch_size=2), [good, no_pts, corrupt, far])
    assert result.paths == [str(good)]
    reasons = dict(result.rejects)
    assert "no landmark file no_pts.pts" in reasons[str(no_pts)]
    assert "unreadable image" in reasons[str(corrupt)]
    assert "far outside" in reasons[str(far)]


class StubFan:
    """Stands in for face_alignment.FaceAlignment: boxes from a table, landmarks in the box."""

    def __init__(self, boxes: dict[int, list]):
        self.boxes = boxes
        self.batches: list[tuple[int, ...]] = []
        self.face_detector = self

    def detect_from_batch(self, tensor: torch.Tensor) -> list:
        self.batches.append(tuple(tensor.shape))
        return [self.boxes[int(t[0, 0, 0])] for t in tensor]  # the image's value picks its boxes

    def get_landmarks_from_image(self, image, detected_faces):
        x1, y1, x2, y2, _ = detected_faces[0]
        t = np.linspace(0, 1, 68)
        return [np.stack([x1 + t * (x2 - x1), y1 + t * (y2 - y1), np.zeros(68)], axis=1)]


def test_fan_backend_batches_by_size_and_takes_the_largest_face(tmp_path):
    stub = StubFan({1: [[0, 0, 10, 10, 0.9], [5, 5, 35, 45, 0.8]], 2: [], 3: [[2, 2, 20, 30, 1]]})
    images = [
        np.full((50, 40, 3), 1, np.uint8),
        np.full((50, 40, 3), 2, np.uint8),
        np.full((60, 30, 3), 3, np.uint8),
    ]
    paths = [tmp_path / f"{k}.jpg" for k in range(3)]
    found = FanBackend(predictor=stub, batch_size=3).detect(paths, images)
    assert sorted(stub.batches) == [(1, 3, 60, 30), (2, 3, 50, 40)]
    assert np.allclose(found[0][0], [5.5, 5.5]) and np.allclose(found[0][-1], [35.5, 45.5])
    assert found[1] is None
    assert np.allclose(found[2][-1], [20.5, 30.5])


def test_fan_no_face_becomes_a_reject(tmp_path):
    path = make_image(tmp_path / "a.jpg")
    stub = StubFan({128: []})
    result = detect_landmarks(FanBackend(predictor=stub), [path])
    assert result.rejects == [(str(path), "no face detected")]


def test_missing_fan_weights_are_explained_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as error:
        build_predictor("cpu")
    message = str(error.value)
    assert all(name in message for name in FAN_WEIGHTS)
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert not (tmp_path / "hub").exists()
