"""Teacher training data (crops, crop-frame labels) and the training loop, on tiny made-up data."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from voice2mesh.checkpoint import load_model, read_model, read_state, save_model
from voice2mesh.config import TeacherParams, as_dict
from voice2mesh.data.crops import crop_to_image, project_params
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.fitting.reference import References
from voice2mesh.fitting.store import write_fits
from voice2mesh.landmarks.base import LandmarkResult
from voice2mesh.landmarks.store import write_landmarks
from voice2mesh.models.teacher import Teacher
from voice2mesh.render.camera import pose_matrix, project, rotation_matrix, to_pixels
from voice2mesh.train.loop import Schedule
from voice2mesh.train.teacher import loss_weights, one_cycle_lr, shape_error, train_teacher
from voice2mesh.train.teacher_data import build_teacher_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = TeacherParams(
    iterations=10,
    batch_size=6,
    lr=3e-3,
    arch="mobilenet_v1",
    widen_factor=0.25,
    input_size=120,
    cycle_steps=10,
    eval_every=5,
)
ARCH = {
    "arch": "mobilenet_v1",
    "widen_factor": 0.25,
    "widths": [32, 64, 128, 256],
    "input_size": 120,
}


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
    ).assign(split=["train"] * 4 + ["val"] * 4)
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
    usable = np.arange(n) != 3  # one rejected fit
    reasons = [None if ok else "rejected" for ok in usable]
    references = References(["id0"], shape[:1], np.array([0]), np.array([3]))
    identities = pd.DataFrame(
        {"identity": ["id0", "id1"], "name": "x", "gender": "m", "split": ["train", "val"]}
    )
    write_fits(root / "fits", index, fit, reasons, references, identities)
    return root, model, pose[usable]


def test_dataset_labels_decode_to_the_detected_landmarks(world) -> None:
    root, model, pose = world
    data = build_teacher_dataset(root / "fits", root / "lm", root=root)
    assert data.crops.shape == (7, 120, 120, 3) and data.crops.dtype == np.uint8
    assert data.labels.shape == (7, 62) and list(data.splits).count("val") == 4
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


def test_only_the_asked_splits_are_read(world) -> None:
    root = world[0]
    train_only = build_teacher_dataset(root / "fits", root / "lm", root=root, splits=("train",))
    assert list(train_only.splits) == ["train"] * 3 and len(train_only.crops) == 3
    none = ("test",)  # no test identity in this world: nothing to read
    with pytest.raises(ValueError, match="no usable fit"):
        build_teacher_dataset(root / "fits", root / "lm", root=root, splits=none)


def _train(world, cfg: TeacherParams = TINY, seed: int = 0, **schedule) -> tuple:
    data = build_teacher_dataset(world[0] / "fits", world[0] / "lm", root=world[0])
    plan = Schedule(cfg.iterations, cfg.eval_every, seed, **schedule)
    return data, train_teacher(cfg, data.crops, data.labels, data.splits != "train", plan)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for key, value in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], value, rtol=0, atol=0)


def test_training_lowers_the_loss_and_reports_held_out_errors(world) -> None:
    data, trained = _train(world, replace(TINY, iterations=20))
    teacher, history, metrics = trained.model, trained.history, trained.metrics
    assert [h["step"] for h in history] == [5, 10, 15, 20]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_train"] == 3 and metrics["n_holdout"] == 4
    assert metrics["iterations"] == 20 and metrics["arch"] == TINY.arch
    assert not teacher.training and teacher.widen_factor == TINY.widen_factor
    held = data.splits != "train"
    assert metrics["shape_rmse"] == pytest.approx(
        shape_error(teacher, data.crops[held], data.labels[held, 12:52]), rel=1e-5
    )
    assert metrics["val_mse"] == history[-1]["val_mse"]
    assert metrics["shape_rmse_mean_baseline"] > 0 and metrics["val_mse_mean_baseline"] > 0
    train = data.labels[~held].astype(np.float64)
    np.testing.assert_allclose(teacher.param_mean.numpy(), train.mean(axis=0), rtol=1e-5)


def test_same_seed_same_run_other_seed_other_run(world) -> None:
    cfg = replace(TINY, iterations=5)
    first = _train(world, cfg)[1].history
    assert _train(world, cfg)[1].history == first
    assert _train(world, cfg, seed=1)[1].history != first


def test_resume_reproduces_and_the_model_loads_identically(world, tmp_path: Path) -> None:
    _, full = _train(world)
    state = tmp_path / "resume.pt"
    _, part = _train(world, replace(TINY, iterations=5), state_path=state)
    assert part.history == full.history[:1] and read_state(state)["step"] == 5
    torch.manual_seed(123)  # the global RNG's state must not matter
    _, resumed = _train(world, state_path=state, resume=True)
    assert resumed.history == full.history
    assert resumed.metrics == full.metrics
    _same_weights(resumed.model, full.model)

    path = tmp_path / "teacher.pt"
    save_model(path, "teacher", full.model, as_dict(TINY), {"seed": 0}, {})
    checkpoint = read_model(path, ("teacher",))
    assert checkpoint.arch == ARCH
    assert checkpoint.config["widen_factor"] == TINY.widen_factor
    loaded = load_model(path, kinds=("teacher",))
    assert isinstance(loaded, Teacher) and not loaded.training
    _same_weights(loaded, full.model)  # the label whitening too
    crops = np.random.default_rng(0).integers(0, 256, (2, 120, 120, 3), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.predict_params(crops), full.model.predict_params(crops))


def test_a_state_of_another_width_is_ignored(
    world, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "resume.pt"
    _train(world, replace(TINY, iterations=5), state_path=state)
    wider = replace(TINY, widen_factor=0.5)
    _, fresh = _train(world, wider)
    with caplog.at_level(logging.WARNING, logger="voice2mesh.train.loop"):
        _, ignored = _train(world, wider, state_path=state, resume=True)
    assert "another configuration" in caplog.text and str(state) in caplog.text
    assert ignored.history == fresh.history  # started at step 0, as a fresh run
    assert ignored.model.widen_factor == 0.5
    _same_weights(ignored.model, fresh.model)
    assert read_state(state)["step"] == TINY.iterations  # overwritten by the new run


def test_labels_that_do_not_match_the_crops_or_no_training_rows_are_errors(world) -> None:
    data = build_teacher_dataset(world[0] / "fits", world[0] / "lm", root=world[0])
    plan = Schedule(TINY.iterations, TINY.eval_every, 0)
    with pytest.raises(ValueError, match="same N"):
        train_teacher(TINY, data.crops, data.labels[:-1], data.splits != "train", plan)
    with pytest.raises(ValueError, match="every row is held out"):
        train_teacher(TINY, data.crops, data.labels, np.ones(len(data.crops), bool), plan)


def test_an_unreadable_image_is_skipped_and_listed(world, tmp_path: Path, caplog) -> None:
    """One bad file never kills the stage: its fit is left out and named, with the reason."""
    import shutil

    root = world[0]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "faces/p0/00001.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level("WARNING"):
        data = build_teacher_dataset(copy / "fits", copy / "lm", root=copy)
    assert len(data.crops) == 6 and "faces/p0/00001.jpg" not in list(data.paths)
    assert [p for p, _ in data.skipped] == ["faces/p0/00001.jpg"]
    assert "00001.jpg: cannot read the face image" in caplog.text


def test_the_convnet_teacher_reads_smaller_crops_and_round_trips(world, tmp_path: Path) -> None:
    cfg = replace(TINY, arch="convnet", widths=(4, 8, 8), input_size=48, iterations=20)
    data, trained = _train(world, cfg)
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]
    teacher = trained.model
    assert teacher.arch == "convnet" and teacher.input_size == 48
    mid, pooled = teacher.features(torch.zeros(2, 3, 120, 120))
    assert mid.shape == (2, 8, 6, 6) and pooled.shape == (2, 8)  # 48 / 8 = 6
    path = tmp_path / "teacher.pt"
    save_model(path, "teacher", teacher, as_dict(cfg), {"seed": 0}, {})
    assert read_model(path).arch == {
        "arch": "convnet",
        "widen_factor": 0.25,
        "widths": [4, 8, 8],
        "input_size": 48,
    }
    loaded = load_model(path, kinds=("teacher",))
    np.testing.assert_array_equal(
        loaded.predict_params(data.crops[:2]), teacher.predict_params(data.crops[:2])
    )


def test_vertex_weights_follow_the_label_variance_within_each_block() -> None:
    std = np.concatenate([np.full(12, 3.0), np.linspace(1, 4, 40), np.full(10, 2.0)])
    w = loss_weights(std, "vertex")
    np.testing.assert_array_equal(w[:12], 1.0)
    np.testing.assert_allclose(w[12:52].mean(), 1.0)
    np.testing.assert_allclose(w[12:52] / w[12], std[12:52] ** 2)  # ∝ variance
    np.testing.assert_allclose(w[52:], 1.0)  # equal variances: equal weights
    np.testing.assert_array_equal(loss_weights(std, "whitened"), 1.0)


def test_one_cycle_warms_up_then_anneals() -> None:
    lrs = [one_cycle_lr(k, 100, 1e-2) for k in range(100)]
    assert lrs[0] == pytest.approx(1e-2 / 25) and max(lrs) == pytest.approx(1e-2, rel=1e-3)
    assert int(np.argmax(lrs)) == 30 and lrs[-1] < 1e-4
    assert np.all(np.diff(lrs[:31]) >= 0) and np.all(np.diff(lrs[30:]) <= 0)
    assert one_cycle_lr(500, 100, 1e-2) == pytest.approx(1e-6)  # past the cycle: the floor
