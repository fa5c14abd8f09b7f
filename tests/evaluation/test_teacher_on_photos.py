"""The teacher-on-photos row: the teacher's shape per photo, averaged per test speaker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.inference import teacher_on_photos
from voice2mesh.models.cascade import N_POSE

KS = 6  # shape coefficients the test set's references have


class FixedTeacher:
    """Stands in for ``models.teacher.Teacher``: crop ``k`` (every pixel ``k``) is predicted as
    row ``k`` of ``params``; records what it was given."""

    def __init__(self, params: np.ndarray) -> None:
        self.params = params  # (N, 62)
        self.seen: list[np.ndarray] = []

    def predict_params(self, crops: np.ndarray) -> np.ndarray:
        self.seen.append(crops)
        return self.params[crops[:, 0, 0, 0].astype(int)].astype(np.float32)


def _test_set(identities: list[str], ref_index: list[int]) -> protocol.TestSet:
    names = np.array(identities)[ref_index]
    utterances = pd.DataFrame(
        {
            "row": np.arange(len(ref_index)),
            "identity": names,
            "path": [f"{n}/{k}.wav" for k, n in enumerate(names)],
            "gender": "m",
        }
    )
    return protocol.TestSet(
        utterances=utterances,
        identities=np.array(identities),
        ref_index=np.array(ref_index),
        reference_shape=np.zeros((len(identities), KS)),
        train_shape=np.zeros((2, KS)),
        train_ids=np.array(["t1", "t2"]),
        train_gender=np.array(["m", "f"]),
    )


def _crops(n: int) -> np.ndarray:
    """(n, 4, 4, 3) uint8 crops, crop ``k`` filled with ``k``."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy()


def test_each_utterance_gets_its_speakers_mean_shape() -> None:
    params = np.random.default_rng(0).normal(size=(7, 62))
    owners = np.array(["B", "A", "B", "Z", "A", "B", "C"])  # Z is no test speaker
    test = _test_set(["A", "B", "C"], [2, 0, 1, 0, 2, 1])
    teacher = FixedTeacher(params)
    shape, expression = teacher_on_photos(teacher, _crops(7), owners, test)
    assert expression is None and shape.shape == (6, KS) and shape.dtype == np.float64
    shapes = params[:, N_POSE : N_POSE + KS].astype(np.float32)  # what the teacher returns
    mean = {n: shapes[owners == n].astype(np.float64).mean(axis=0) for n in "ABC"}
    expected = np.stack([mean[n] for n in np.array(["A", "B", "C"])[test.ref_index]])
    np.testing.assert_allclose(shape, expected, rtol=1e-12)
    np.testing.assert_array_equal(shape[1], shape[3])  # the same speaker, the same row
    assert not np.allclose(shape[1], shapes[1])  # A's mean, not one of A's photos
    assert len(teacher.seen) == 1 and len(teacher.seen[0]) == 7  # one call on every crop


def test_the_shape_columns_follow_the_pose() -> None:
    params = np.zeros((2, 62))
    params[:, :N_POSE] = 100.0  # the pose must not leak into the shape
    params[:, N_POSE : N_POSE + KS] = [[1.0] * KS, [3.0] * KS]
    params[:, N_POSE + KS :] = -50.0  # nor the coefficients beyond the references'
    shape, _ = teacher_on_photos(FixedTeacher(params), _crops(2), ["A", "A"], _test_set(["A"], [0]))
    np.testing.assert_array_equal(shape, np.full((1, KS), 2.0))


def test_identities_may_come_as_objects() -> None:
    params = np.random.default_rng(1).normal(size=(3, 62))
    test = _test_set(["x1", "x2"], [1, 0])
    owners = pd.Series(["x2", "x1", "x2"], dtype=object)
    shape, _ = teacher_on_photos(FixedTeacher(params), _crops(3), owners.to_numpy(), test)
    cut = params[:, N_POSE : N_POSE + KS].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(shape[0], cut[[0, 2]].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(shape[1], cut[1], rtol=1e-12)


def test_a_test_speaker_without_a_photo_is_named() -> None:
    params = np.zeros((3, 62))
    test = _test_set(["A", "B", "C"], [0, 1, 2])
    with pytest.raises(ValueError, match=r"identities \[[^,]*'B'\)?\] \(1 in all\).*landmarks"):
        teacher_on_photos(FixedTeacher(params), _crops(3), np.array(["A", "C", "Z"]), test)
    with pytest.raises(ValueError, match=r"'A'.*'B'.*'C'\)?\] \(3 in all\)"):
        teacher_on_photos(FixedTeacher(params), _crops(3), np.array(["Z", "Y", "Z"]), test)


def test_the_missing_speakers_are_named_plainly() -> None:
    test = _test_set(["A", "B"], [0, 1])
    with pytest.raises(ValueError, match=r"test identities \['B'\] \(1 in all\)"):
        teacher_on_photos(FixedTeacher(np.zeros((1, 62))), _crops(1), np.array(["A"]), test)
