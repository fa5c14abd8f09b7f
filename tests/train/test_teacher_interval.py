"""The identity bootstrap of the teacher's held-out shape RMSE ratio."""

from __future__ import annotations

import numpy as np
import torch

from voice2mesh.facemodel.bfm import N_POSE, N_SHAPE
from voice2mesh.train.teacher import shape_ratio_interval

N_PARAMS = 62


class KnownTeacher:
    """Answers ``predict_params`` with fixed rows: what the interval reads of a teacher."""

    def __init__(self, predictions: np.ndarray, mean: np.ndarray) -> None:
        self.predictions = predictions
        self.param_mean = torch.as_tensor(mean, dtype=torch.float32)

    def predict_params(self, crops: np.ndarray) -> np.ndarray:
        return self.predictions[np.asarray(crops, np.int64)]  # crops: row numbers here


def _case(rng: np.random.Generator, n_ids: int = 12, photos: int = 4):
    """Labels of n_ids identities (one shape each, ``photos`` photos), noisy predictions."""
    identities = np.repeat([f"id{i:02d}" for i in range(n_ids)], photos)
    labels = np.zeros((len(identities), N_PARAMS))
    shapes = rng.normal(size=(n_ids, N_SHAPE)) * 10.0
    labels[:, N_POSE : N_POSE + N_SHAPE] = np.repeat(shapes, photos, axis=0)
    predictions = labels + rng.normal(size=labels.shape) * 6.0
    return labels, predictions, identities


def test_the_ratio_is_the_teachers_rmse_over_the_mean_predictors() -> None:
    labels, predictions, identities = _case(np.random.default_rng(0))
    mean = np.zeros(N_PARAMS)
    rows = np.arange(len(labels))
    out = shape_ratio_interval(
        KnownTeacher(predictions, mean), rows, labels, identities, 400, seed=0
    )
    shape = slice(N_POSE, N_POSE + N_SHAPE)
    teacher = np.sqrt(np.mean((predictions[:, shape] - labels[:, shape]) ** 2))
    baseline = np.sqrt(np.mean(labels[:, shape] ** 2))
    assert np.isclose(out["ratio"], teacher / baseline)
    assert out["ci_low"] < out["ratio"] < out["ci_high"]
    assert out["n_identities"] == 12


def test_the_unit_resampled_is_the_identity_not_the_photo() -> None:
    """Twice the photos of the same identities (the same errors) give the same interval."""
    labels, predictions, identities = _case(np.random.default_rng(1))
    teacher = KnownTeacher(np.concatenate([predictions, predictions]), np.zeros(N_PARAMS))
    once = shape_ratio_interval(teacher, np.arange(len(labels)), labels, identities, 400, 3)
    twice = shape_ratio_interval(
        teacher,
        np.arange(2 * len(labels)),
        np.concatenate([labels, labels]),
        np.concatenate([identities, identities]),
        400,
        3,
    )
    assert np.isclose(once["ci_low"], twice["ci_low"])
    assert np.isclose(once["ci_high"], twice["ci_high"])


def test_one_bad_identity_spreads_the_interval_down_to_zero() -> None:
    """Perfect on every identity but one: resamples without it have ratio 0."""
    labels, _, identities = _case(np.random.default_rng(2), n_ids=5)
    predictions = labels.copy()
    predictions[identities == "id03", N_POSE] += 50.0
    out = shape_ratio_interval(
        KnownTeacher(predictions, np.zeros(N_PARAMS)),
        np.arange(len(labels)),
        labels,
        identities,
        1000,
        seed=0,
    )
    assert out["ci_low"] == 0.0 and out["ci_high"] > out["ratio"] > 0.0


def test_no_crops_no_interval() -> None:
    teacher = KnownTeacher(np.zeros((0, N_PARAMS)), np.zeros(N_PARAMS))
    empty = np.zeros((0, N_PARAMS))
    assert shape_ratio_interval(teacher, np.zeros(0), empty, np.zeros(0, str), 10, 0) is None
