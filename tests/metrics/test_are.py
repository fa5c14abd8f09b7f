"""ARE: hand-computed ratios, invariances, the reference BFM pairs, per-speaker aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from voice2mesh.facemodel.bfm import load_bfm_mean
from voice2mesh.facemodel.model import DenseBasisUnavailable, MorphableModel
from voice2mesh.facemodel.semantics import BFM_PAIRS
from voice2mesh.metrics import aggregate_by_speaker, are, oicd_scale

# Hand-placed pair vertices (mm): OICD 100; widths ear 120, forehead 80, mid 100, cheek 90.
HAND = np.array(
    [
        [-50, 0, 0], [50, 0, 0],  # oicd
        [-60, -20, -50], [60, -20, -50],  # ear
        [-40, 40, 0], [40, 40, 0],  # forehead
        [-50, -10, 5], [50, -10, 5],  # mid
        [-45, -30, 0], [45, -30, 0],  # cheek
    ],
    np.float32,
)  # fmt: skip
HAND_PAIRS = {
    name: (2 * k, 2 * k + 1) for k, name in enumerate(("oicd", "ear", "forehead", "mid", "cheek"))
}


def make_model(mean: np.ndarray, pairs: dict, *, dense: bool = True) -> MorphableModel:
    """A basis-free model around ``mean`` (N, 3); the metrics read only its semantics."""
    return MorphableModel.without_basis("test", mean, pairs=pairs, dense=dense)


@pytest.fixture(scope="module")
def hand() -> MorphableModel:
    return make_model(HAND, HAND_PAIRS)


def test_identical_is_zero(hand):
    for ref in (HAND, HAND[None].repeat(2, 0)):
        out = are(hand, HAND[None].repeat(2, 0), ref)
        assert set(out) == {"ER", "FR", "MR", "CR", "mean"}
        for value in out.values():
            np.testing.assert_array_equal(value, 0.0)


def test_wider_ears_change_only_er(hand):
    pred = HAND.copy()
    pred[2, 0], pred[3, 0] = -66.0, 66.0  # ear width 132: ratio 1.32 instead of 1.2
    out = are(hand, pred[None], HAND)
    np.testing.assert_allclose(out["ER"], [0.12], atol=1e-6)
    for key in ("FR", "MR", "CR"):
        np.testing.assert_array_equal(out[key], 0.0)
    np.testing.assert_allclose(out["mean"], [0.03], atol=1e-6)


def test_wider_eyes_change_every_ratio(hand):
    pred = HAND.copy()
    pred[0, 0], pred[1, 0] = -55.0, 55.0  # OICD 110, widths unchanged
    out = are(hand, pred[None], HAND)
    expected = {
        "ER": 1.2 - 120 / 110,
        "FR": 0.8 - 80 / 110,
        "MR": 1 - 100 / 110,
        "CR": 0.9 - 90 / 110,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], [value], rtol=1e-6)
    np.testing.assert_allclose(out["mean"], [np.mean(list(expected.values()))], rtol=1e-6)
    np.testing.assert_allclose(oicd_scale(hand, pred[None], HAND), [100 / 110], rtol=1e-6)


def test_invariant_to_scale_and_rigid_motion(hand):
    rng = np.random.default_rng(0)
    pred = (HAND + rng.normal(scale=3.0, size=HAND.shape)).astype(np.float32)
    base = are(hand, pred[None], HAND)
    assert base["mean"][0] > 0.01
    c, s = np.cos(0.3), np.sin(0.3)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    for moved in (1.7 * pred, pred @ rotation.T + [5.0, -3.0, 2.0]):
        out = are(hand, moved[None], HAND)
        for key, value in base.items():
            np.testing.assert_allclose(out[key], value, rtol=1e-5, atol=1e-7)


def test_ref_index_pairs_predictions_with_references(hand):
    rng = np.random.default_rng(1)
    refs = (HAND + rng.normal(scale=2.0, size=(2, *HAND.shape))).astype(np.float32)
    preds = (HAND + rng.normal(scale=2.0, size=(3, *HAND.shape))).astype(np.float32)
    ref_index = np.array([1, 0, 1])
    out = are(hand, preds, refs, ref_index=ref_index)
    explicit = are(hand, preds, refs[ref_index])
    for key in out:
        np.testing.assert_allclose(out[key], explicit[key])
    assert not np.allclose(out["mean"], are(hand, preds, refs[0])["mean"])


def test_bad_inputs_are_named(hand):
    with pytest.raises(ValueError, match="vertices but model"):
        are(hand, np.zeros((1, 5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="ref_index"):
        are(hand, HAND[None].repeat(3, 0), HAND[None].repeat(2, 0))
    with pytest.raises(ValueError, match="ear"):
        are(make_model(HAND, {"oicd": (0, 1)}), HAND[None], HAND)
    landmark_only = make_model(HAND, {"oicd": (0, 1)}, dense=False)
    with pytest.raises(DenseBasisUnavailable, match="landmark-only"):
        are(landmark_only, HAND[None], HAND)


def test_aggregate_by_speaker_weights_speakers_equally():
    values = np.array([1.0, 1.0, 1.0, 4.0])
    speakers = np.array(["b", "b", "b", "a"])
    per_speaker, ids = aggregate_by_speaker(values, speakers)
    np.testing.assert_array_equal(ids, ["a", "b"])
    np.testing.assert_allclose(per_speaker, [4.0, 1.0])
    assert per_speaker.mean() == pytest.approx(2.5)
    assert values.mean() == pytest.approx(1.75)  # the plain mean differs
    with pytest.raises(ValueError, match=r"\(U,\)"):
        aggregate_by_speaker(values, speakers[:3])


@pytest.fixture(scope="module")
def bfm(assets_dir) -> MorphableModel:
    mean, _, _ = load_bfm_mean(assets_dir / "bfm68")
    return make_model(mean, dict(BFM_PAIRS))


def test_bfm_reference_pair_distances(bfm):
    distances = bfm.pair_distances(bfm.mean[None])
    expected = {"oicd": 93.96, "ear": 132.6, "forehead": 108.9, "mid": 104.3, "cheek": 94.4}
    for name, value in expected.items():
        assert distances[name][0] == pytest.approx(value, abs=0.2), name


def test_bfm_ears_pushed_outwards_raise_er_only(bfm):
    mean = bfm.mean
    assert are(bfm, mean[None], mean)["mean"][0] == 0.0
    pred = mean.copy()
    left, right = BFM_PAIRS["ear"]
    assert pred[left, 0] < 0 < pred[right, 0]
    pred[left, 0] -= 4.0
    pred[right, 0] += 4.0
    out = are(bfm, pred[None], mean)
    assert out["ER"][0] == pytest.approx(8.0 / 93.96, rel=0.01)
    for key in ("FR", "MR", "CR"):
        assert out[key][0] == 0.0
