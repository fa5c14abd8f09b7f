"""Tests for voice2mesh.fitting.reference: per-identity reference shapes by documented rules."""

import numpy as np
import pytest

from voice2mesh.facemodel.loaders import load_model
from voice2mesh.fitting import (
    RULES,
    FitResult,
    build_references,
    fit_landmarks,
    frontal_score,
    usable_fits,
)
from voice2mesh.fitting.reference import ReferenceAccumulator
from voice2mesh.render.camera import rotation_matrix


def fake_fits(yaw, pitch=None, expression=None, residual=None, converged=None) -> FitResult:
    """Hand-made fits with shape coefficients [index, -index] so picks are easy to read."""
    n = len(yaw)
    zeros = np.zeros(n)
    index = np.arange(n, dtype=float)
    return FitResult(
        pose=np.tile(np.c_[np.eye(3), np.zeros(3)], (n, 1, 1)),
        shape=np.stack([index, -index], 1),
        expression=np.zeros((n, 1)),
        residual_px=np.full(n, 1.0) if residual is None else np.asarray(residual) * 100,
        residual_norm=np.full(n, 0.01) if residual is None else np.asarray(residual, float),
        face_size_px=np.full(n, 100.0),
        converged=np.ones(n, bool) if converged is None else np.asarray(converged),
        objective=np.ones(n),
        yaw=np.asarray(yaw, float),
        pitch=zeros if pitch is None else np.asarray(pitch, float),
        roll=zeros,
        expression_strength=zeros if expression is None else np.asarray(expression, float),
        n_valid=np.full(n, 68),
    )


def test_frontal_score_is_the_documented_formula():
    fits = fake_fits([30.0, -15.0], pitch=[0.0, 15.0], expression=[0.5, 0.0], residual=[0.05, 0])
    np.testing.assert_allclose(frontal_score(fits), [2.0 + 0.5 + 1.0, 1.0 + 1.0 + 0.0])


def test_best_frontal_picks_the_lowest_score_per_identity():
    ids = np.array(["b", "a", "a", "b", "a", "c"])
    fits = fake_fits(
        yaw=[5.0, 40.0, 2.0, 1.0, -2.0, 0.0],
        pitch=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        expression=[0.0, 0.0, 0.9, 0.1, 0.0, 0.0],
        residual=[0.01, 0.01, 0.01, 0.01, 0.01, 0.5],  # c's only fit is rejected (> 0.1)
    )
    refs = build_references(ids, fits, "best_frontal")
    assert refs.ids == ["a", "b", "c"]
    # a: scores 2.87, 0.93 (expression 0.9), 0.33 -> fit 4; b: 0.53 vs 0.267 -> fit 3.
    assert refs.chosen.tolist() == [4, 3, -1]
    np.testing.assert_array_equal(refs.shape[:2], [[4.0, -4.0], [3.0, -3.0]])
    assert np.isnan(refs.shape[2]).all()
    assert refs.n_fits.tolist() == [3, 2, 0]
    ids, shape, chosen, n_fits = refs  # unpacks as the documented tuple
    assert ids == refs.ids and shape.shape == (3, 2)
    assert chosen.dtype == np.int64 and n_fits.dtype == np.int64


def test_best_frontal_skips_unconverged_fits_and_breaks_ties_by_index():
    fits = fake_fits(yaw=[0.0, 10.0, 10.0, 10.0], converged=[False, True, True, True])
    refs = build_references(np.array([7, 7, 7, 7]), fits, "best_frontal")
    assert refs.ids == [7] and refs.chosen.tolist() == [1] and refs.n_fits.tolist() == [3]


def test_mean_rule_averages_the_usable_fits():
    fits = fake_fits(yaw=[0.0, 80.0, 0.0, 0.0], converged=[True, True, False, True])
    refs = build_references(np.array(["x", "x", "x", "y"]), fits, "mean")
    np.testing.assert_allclose(refs.shape, [[0.5, -0.5], [3.0, -3.0]])
    assert refs.chosen.tolist() == [-1, -1] and refs.n_fits.tolist() == [2, 1]
    usable = np.array([True, False, True, True])
    refs = build_references(np.array(["x", "x", "x", "y"]), fits, "mean", usable=usable)
    np.testing.assert_allclose(refs.shape[0], [1.0, -1.0])


def test_rule_and_shape_errors():
    fits = fake_fits([0.0, 0.0])
    with pytest.raises(KeyError, match="unknown reference rule 'median'"):
        build_references(np.array([1, 2]), fits, "median")
    with pytest.raises(ValueError, match="identities must be"):
        build_references(np.array([1, 2, 3]), fits)


def test_best_frontal_prefers_the_frontal_neutral_photo_of_real_fits():
    model = load_model("synthetic")
    rng = np.random.default_rng(0)
    identity_shape = rng.normal(size=(3, model.n_shape)) * model.shape_std
    yaws = np.array([35.0, 0.0, -30.0, 5.0])  # per identity: photo 1 is frontal and neutral
    smiles = np.array([0.0, 0.0, 0.0, 1.0])  # photo 3 is near-frontal with an expression
    shape = np.repeat(identity_shape, 4, axis=0)
    expression = np.zeros((12, model.n_expression))
    expression[:, 0] = np.tile(smiles, 3) * 2 * model.expression_std[0]
    R = rotation_matrix(np.tile(yaws, 3), 0.0, 0.0)
    X = model.reconstruct(shape, expression, landmarks_only=True)
    p = np.einsum("nij,nlj->nli", 1.3 * R[:, :2], X) + 250.0
    points = np.stack([p[..., 0], 500.0 - p[..., 1]], -1) + rng.normal(size=(12, 68, 2)) * 0.5
    fits = fit_landmarks(model, points, np.full(12, 500.0))
    refs = build_references(np.repeat(["p", "q", "r"], 4), fits, "best_frontal")
    assert refs.chosen.tolist() == [1, 5, 9]
    np.testing.assert_array_equal(refs.shape, fits.shape[[1, 5, 9]])


def random_fits(n: int, seed: int = 0) -> tuple[np.ndarray, FitResult, np.ndarray]:
    """``n`` fits of 7 identities in random order, with tied scores and unusable fits."""
    rng = np.random.default_rng(seed)
    fits = fake_fits(
        yaw=rng.choice([0.0, 15.0, 30.0], n),  # few values: many tied scores
        pitch=rng.choice([0.0, 15.0], n),
        converged=rng.random(n) > 0.2,
    )
    fits = FitResult(**fits.arrays() | {"shape": rng.normal(size=(n, 5)) * 1e3})
    identities = rng.choice([f"id{k}" for k in range(7)], n).astype("U16")
    identities[:2] = "only_unusable"  # an identity without a usable fit
    usable = usable_fits(fits) & (identities != "only_unusable")
    return identities, fits, usable


def rows_of(fits: FitResult, rows: slice) -> FitResult:
    return FitResult(**{name: values[rows] for name, values in fits.arrays().items()})


def by_hand(identities: np.ndarray, fits: FitResult, usable: np.ndarray, rule: str) -> dict:
    """Each identity's reference, one loop over its fits (the module docstring's rules)."""
    out = {}
    score = frontal_score(fits)
    for key in np.unique(identities).tolist():
        mine = [i for i in range(len(fits)) if identities[i] == key and usable[i]]
        if not mine:
            out[key] = (np.full(5, np.nan), -1, 0)
        elif rule == "mean":
            out[key] = (fits.shape[mine].mean(axis=0), -1, len(mine))
        else:
            best = min(mine, key=lambda i: (score[i], i))
            out[key] = (fits.shape[best], best, len(mine))
    return out


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize(
    "cuts", [(), (1,), (40,), (0, 0, 17), (5, 6, 7, 60, 99), tuple(range(100))]
)
def test_references_added_by_shards_equal_those_of_all_fits_at_once(rule, cuts) -> None:
    identities, fits, usable = random_fits(100)
    whole = build_references(identities, fits, rule, usable=usable)
    accumulator = ReferenceAccumulator(rule)
    for start, stop in zip((0, *cuts), (*cuts, 100), strict=True):
        accumulator.add(
            identities[start:stop], rows_of(fits, slice(start, stop)), usable[start:stop]
        )
    parts = accumulator.references()
    assert parts.ids == whole.ids
    np.testing.assert_array_equal(parts.chosen, whole.chosen)
    np.testing.assert_array_equal(parts.n_fits, whole.n_fits)
    if rule == "mean":
        np.testing.assert_allclose(parts.shape, whole.shape, rtol=1e-12, atol=0)
    else:
        np.testing.assert_array_equal(parts.shape, whole.shape)
    expected = by_hand(identities, fits, usable, rule)
    assert whole.ids == list(expected) and "only_unusable" in whole.ids
    for row, key in enumerate(whole.ids):
        shape, chosen, n_fits = expected[key]
        assert (whole.chosen[row], whole.n_fits[row]) == (chosen, n_fits)
        np.testing.assert_allclose(whole.shape[row], shape, rtol=1e-12)
    if rule == "best_frontal":  # ties exist, so the lowest-index rule is exercised
        score = frontal_score(fits)
        assert len(np.unique(score[usable])) < usable.sum()


def test_an_accumulator_without_fits_has_no_references() -> None:
    refs = ReferenceAccumulator("mean").references()
    assert refs.ids == [] and refs.shape.shape[0] == 0 and refs.n_fits.tolist() == []
    with pytest.raises(KeyError, match="unknown reference rule 'median'"):
        ReferenceAccumulator("median")
