"""Landmark NME: hand-computed values, OICD-scale invariance, no centring, unmapped landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from voice2mesh.facemodel.bfm import load_bfm_mean
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.semantics import BFM_PAIRS
from voice2mesh.metrics import nme

SIZE = np.sqrt(200.0 * 100.0)  # sqrt(w * h) of the hand mesh below


def hand_mesh() -> np.ndarray:
    """(70, 3): 68 landmarks inside |x| <= 40, |y| <= 30, and two vertices setting the extents
    (x from -100 to 100, y from -50 to 50)."""
    x, y = np.meshgrid(np.linspace(-40, 40, 17), np.linspace(-30, 30, 4))
    landmarks = np.stack([x.ravel(), y.ravel(), np.zeros(68)], axis=1)  # (68, 3)
    landmarks[36], landmarks[45] = [-45, 20, 5], [45, 20, 5]  # outer eye corners: OICD 90
    corners = np.array([[-100.0, -50.0, 0.0], [100.0, 50.0, -10.0]])
    return np.concatenate([landmarks, corners]).astype(np.float32)


def make_model(mean: np.ndarray, landmarks: np.ndarray, oicd: tuple[int, int]) -> MorphableModel:
    """A basis-free model around ``mean`` (N, 3); the metrics read only its semantics."""
    return MorphableModel.without_basis(
        "test", mean, landmarks=landmarks, pairs={"oicd": oicd}, dense=True
    )


@pytest.fixture(scope="module")
def hand() -> MorphableModel:
    return make_model(hand_mesh(), np.arange(68), (36, 45))


def test_identical_is_zero(hand):
    mesh = hand.mean
    np.testing.assert_array_equal(nme(hand, mesh[None].repeat(3, 0), mesh), 0.0)


def test_one_moved_landmark(hand):
    pred = hand.mean.copy()
    pred[10] += [3.0, 4.0, 0.0]  # 5 mm off; the OICD pair is untouched
    np.testing.assert_allclose(nme(hand, pred[None], hand.mean), [5.0 / SIZE], rtol=1e-6)


def test_one_norm_over_all_coordinates_without_centring(hand):
    pred = hand.mean + np.float32([1.0, 2.0, 2.0])  # every landmark 3 mm off, OICD unchanged
    expected = 3.0 * np.sqrt(68) / SIZE  # a Frobenius norm, not a mean of 3 mm distances
    np.testing.assert_allclose(nme(hand, pred[None], hand.mean), [expected], rtol=1e-6)


def test_scaled_by_oicd_about_the_origin(hand):
    rng = np.random.default_rng(0)
    pred = (hand.mean + rng.normal(scale=2.0, size=hand.mean.shape)).astype(np.float32)
    base = nme(hand, pred[None], hand.mean)
    assert base[0] > 0.01
    np.testing.assert_allclose(nme(hand, 1.8 * pred[None], hand.mean), base, rtol=1e-6)
    # A prediction twice as large as the reference is brought back to its size first.
    np.testing.assert_allclose(nme(hand, 2.0 * hand.mean[None], hand.mean), 0.0, atol=1e-7)


def test_reference_extents_come_from_the_whole_mesh(hand):
    pred = hand.mean.copy()
    pred[10] += [3.0, 4.0, 0.0]
    wider = hand.mean.copy()
    wider[68, 0] = -300.0  # reference 400 mm wide instead of 200
    model = make_model(wider, np.arange(68), (36, 45))
    pred_wider = pred.copy()
    pred_wider[68] = wider[68]
    value = nme(model, pred_wider[None], wider)
    np.testing.assert_allclose(value, [5.0 / np.sqrt(400.0 * 100.0)], rtol=1e-6)


def test_unmapped_landmarks_are_left_out(hand):
    landmarks = np.arange(68)
    landmarks[10] = -1
    model = make_model(hand.mean, landmarks, (36, 45))
    pred = hand.mean.copy()
    pred[10] += [3.0, 4.0, 0.0]
    pred[11] += [0.0, 0.0, 2.0]
    np.testing.assert_allclose(nme(model, pred[None], hand.mean), [2.0 / SIZE], rtol=1e-6)


def test_ref_index(hand):
    rng = np.random.default_rng(2)
    refs = (hand.mean + rng.normal(scale=1.0, size=(2, *hand.mean.shape))).astype(np.float32)
    preds = (hand.mean + rng.normal(scale=1.0, size=(4, *hand.mean.shape))).astype(np.float32)
    ref_index = np.array([0, 1, 1, 0])
    np.testing.assert_allclose(
        nme(hand, preds, refs, ref_index=ref_index), nme(hand, preds, refs[ref_index])
    )


def test_bfm_scale_invariance(assets_dir):
    mean, _, landmarks = load_bfm_mean(assets_dir / "bfm68")
    model = make_model(mean, landmarks, BFM_PAIRS["oicd"])
    assert nme(model, mean[None], mean)[0] == 0.0
    bent = mean + 2.0 * np.sin(mean / 30.0).astype(np.float32)  # smooth 2 mm deformation
    base = nme(model, bent[None], mean)
    assert 0.005 < base[0] < 0.2
    np.testing.assert_allclose(nme(model, 0.9 * bent[None], mean), base, rtol=1e-5)
    shifted = nme(model, bent[None] + np.float32([0.0, 5.0, 0.0]), mean)
    assert shifted[0] > base[0]  # no centring: a translation is an error
