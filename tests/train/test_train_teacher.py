"""Teacher training data (crops, crop-frame labels) and the training loop, on tiny made-up data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.landmarks.base import LandmarkResult
from voice2mesh.landmarks.store import write_landmarks
from voice2mesh.models.teacher import (
    Teacher,
    crop_pose_to_image,
    crop_to_image,
    pose_to_crop,
    project_params,
)
from voice2mesh.render.camera import pose_matrix, project, rotation_matrix, to_pixels
from voice2mesh.train.teacher import TeacherConfig, shape_error, train_teacher
from voice2mesh.train.teacher_data import build_teacher_dataset

TINY = TeacherConfig(iterations=10, batch_size=6, lr=3e-3, widen_factor=0.25, eval_every=5)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Depthwise convolutions on a busy 2-core machine run far faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(rng: np.random.Generator) -> MorphableModel:
    """A random 68-vertex model with a face-like spread (mm)."""
    mean = rng.uniform([-60, -80, 0], [60, 50, 40], (68, 3)).astype(np.float32)
    return MorphableModel(
        name="random68",
        mean=mean,
        shape_basis=rng.normal(0, 0.5, (204, 40)).astype(np.float32),
        shape_std=np.ones(40, np.float32),
        expression_basis=rng.normal(0, 0.5, (204, 10)).astype(np.float32),
        expression_std=np.ones(10, np.float32),
        triangles=None,
        landmarks=np.arange(68),
        dense=False,
    )


def _poses(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    angles = rng.uniform(-30, 30, (n, 3))
    return np.stack(
        [
            pose_matrix(
                rng.uniform(0.3, 0.5), rotation_matrix(*a), *rng.uniform(0.4, 0.6, 2) * size
            )
            for a in angles
        ]
    )  # (n, 3, 4)


def test_pose_to_crop_round_trips_through_the_crop_frame() -> None:
    rng = np.random.default_rng(0)
    model, n, height = _model(rng), 5, 128
    pose, shape, expression = (
        _poses(rng, n, height),
        rng.normal(size=(n, 40)),
        rng.normal(size=(n, 10)),
    )
    boxes = np.concatenate([rng.uniform(0, 40, (n, 2)), np.zeros((n, 2))], axis=1)
    boxes[:, 2:] = boxes[:, :2] + rng.integers(60, 140, (n, 1))  # square, as the crops are
    heights = np.full(n, height)
    vertices = model.reconstruct(shape, expression, landmarks_only=True)  # (n, 68, 3) mm
    expected = to_pixels(project(vertices, pose), height)  # (n, 68, 2) (x, row)
    params = np.concatenate([pose_to_crop(pose, boxes, heights), shape, expression], axis=1)
    np.testing.assert_allclose(
        crop_to_image(project_params(params, model), boxes), expected, atol=1e-6
    )
    np.testing.assert_allclose(crop_pose_to_image(params, boxes, heights), pose, atol=1e-9)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Eight face images with exact fits: (root, fits folder, landmarks folder, model, poses)."""
    root = tmp_path_factory.mktemp("teacher")
    rng = np.random.default_rng(1)
    model, n, size = _model(rng), 8, 128
    pose = _poses(rng, n, size)
    shape, expression = rng.normal(size=(n, 40)), rng.normal(size=(n, 10))
    points = to_pixels(
        project(model.reconstruct(shape, expression, landmarks_only=True), pose), size
    )
    paths = [f"faces/p{i // 4}/{i:05d}.jpg" for i in range(n)]
    for i, path in enumerate(paths):  # brightness carries the first shape coefficient
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(128 + 40 * shape[i, 0] + rng.normal(0, 5, (size, size, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(root / path)
    faces = pd.DataFrame(
        {"identity": [f"id{i // 4}" for i in range(n)], "name": "x", "path": paths}
    ).assign(split=["train"] * 4 + ["test"] * 4)
    sizes = np.full((n, 2), size, np.int32)
    index = write_landmarks(
        LandmarkResult(paths, points.astype(np.float32), sizes, []), faces, root / "lm"
    )
    zeros = np.zeros(n)
    fit = FitResult(
        pose,
        shape,
        expression,
        zeros,
        zeros,
        zeros + 50,
        zeros == 0,
        zeros,
        zeros,
        zeros,
        zeros,
        zeros,
        zeros + 68,
    )
    (root / "fits").mkdir()
    usable = np.arange(n) != 3  # one rejected fit
    np.savez(root / "fits" / "fits.npz", usable=usable, **fit.arrays())
    index.assign(usable=usable).to_csv(root / "fits" / "index.csv", index=False)
    np.savez(root / "fits" / "references.npz", ids=np.array(["id0"]), shape=shape[:1])
    pd.DataFrame({"identity": ["id0"]}).to_csv(root / "fits" / "references.csv", index=False)
    return root, model, pose[usable]


def test_dataset_labels_decode_to_the_detected_landmarks(world) -> None:
    root, model, pose = world
    data = build_teacher_dataset(root / "fits", root / "lm", root=root)
    assert data.crops.shape == (7, 120, 120, 3) and data.crops.dtype == np.uint8
    assert data.labels.shape == (7, 62) and list(data.splits).count("test") == 4
    assert list(data.identities[:3]) == ["id0"] * 3 and data.paths[3].endswith("00004.jpg")
    points = to_pixels(
        project(
            model.reconstruct(data.labels[:, 12:52], data.labels[:, 52:], landmarks_only=True), pose
        ),
        128,
    )
    lo, hi = points.min(axis=1), points.max(axis=1)
    side = ((hi - lo).sum(axis=1) / 2 * 1.58).astype(int)  # the box the crop covers
    sx = np.round((lo[:, 0] + hi[:, 0]) / 2 - 0.5 - side / 2)
    sy = np.round((lo[:, 1] + hi[:, 1]) / 2 - 0.5 + 0.14 * (hi - lo).sum(axis=1) / 2 - side / 2)
    boxes = np.stack([sx, sy, sx + side, sy + side], axis=1)
    decoded = crop_to_image(project_params(data.labels, model), boxes)
    np.testing.assert_allclose(decoded, points, atol=1e-3)


def _train(world, cfg: TeacherConfig = TINY, **kwargs):
    data = build_teacher_dataset(world[0] / "fits", world[0] / "lm", root=world[0])
    return data, train_teacher(cfg, data.crops, data.labels, data.splits != "train", **kwargs)


def test_training_lowers_the_loss_and_reports_held_out_errors(world) -> None:
    data, (teacher, history, metrics) = _train(world, replace(TINY, iterations=20))
    assert [h["step"] for h in history] == [5, 10, 15, 20]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_train"] == 3 and metrics["n_holdout"] == 4
    held = data.splits != "train"
    assert metrics["shape_rmse"] == pytest.approx(
        shape_error(teacher, data.crops[held], data.labels[held, 12:52]), rel=1e-5
    )
    assert metrics["shape_rmse_mean_baseline"] > 0 and metrics["val_mse_mean_baseline"] > 0


def test_resume_reproduces_and_the_checkpoint_loads_identically(world, tmp_path: Path) -> None:
    _, (full, history, _) = _train(world, checkpoint=tmp_path / "full.pt")
    _train(world, replace(TINY, iterations=5), checkpoint=tmp_path / "part.pt")
    _, (resumed, resumed_history, _) = _train(world, checkpoint=tmp_path / "part.pt", resume=True)
    assert resumed_history == history
    for key, value in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    crops = np.random.default_rng(0).integers(0, 256, (2, 120, 120, 3), dtype=np.uint8)
    loaded = Teacher.load(tmp_path / "full.pt")
    np.testing.assert_array_equal(loaded.predict_params(crops), full.predict_params(crops))
    assert loaded.config["widen_factor"] == TINY.widen_factor


def test_resume_refuses_another_width(world, tmp_path: Path) -> None:
    _train(world, replace(TINY, iterations=5), checkpoint=tmp_path / "part.pt")
    with pytest.raises(ValueError, match="widen_factor"):
        _train(world, replace(TINY, widen_factor=0.5), checkpoint=tmp_path / "part.pt", resume=True)
