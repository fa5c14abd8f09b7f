"""The two-level (identity x seed) bootstrap, bootstrap p, Holm, and the per-identity summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.stats import (
    bootstrap_indices,
    bootstrap_p,
    holm,
    percentile_ci,
    seed_bootstrap,
    seed_bootstrap_summary,
)
from voice2mesh.evaluation.summary import per_identity, summarise


def _width(values: np.ndarray, n_resamples: int = 2000) -> float:
    idx = bootstrap_indices(values.shape[1], n_resamples, 0)
    low, high = percentile_ci(seed_bootstrap(values, idx, np.random.default_rng(1)))
    return high - low


def test_one_seed_reduces_to_the_identity_bootstrap() -> None:
    values = np.random.default_rng(0).normal(size=(1, 30))
    idx = bootstrap_indices(30, 500, 3)
    means = seed_bootstrap(values, idx, np.random.default_rng(9))
    np.testing.assert_allclose(means, values[0][idx].mean(axis=1))


def test_seed_spread_widens_the_interval_and_the_mean_is_the_grand_mean() -> None:
    base = np.random.default_rng(0).normal(1.0, 0.1, 40)
    same = np.tile(base, (3, 1))
    spread = base + np.array([[-0.2], [0.0], [0.2]])  # same grand mean, seeds far apart
    assert _width(spread) > 2 * _width(same)
    assert _width(same) == pytest.approx(_width(base[None]), rel=0.15)
    summary = seed_bootstrap_summary(
        spread, bootstrap_indices(40, 500, 0), np.random.default_rng(1)
    )
    assert summary["mean"] == pytest.approx(base.mean())
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"]


def test_the_statistic_averages_the_drawn_seeds_and_identities() -> None:
    values = np.arange(6.0).reshape(2, 3)  # seed 0: 0 1 2, seed 1: 3 4 5
    idx = np.array([[0, 0, 0], [2, 1, 0]])
    rng = np.random.default_rng(5)
    seeds = np.random.default_rng(5).integers(0, 2, (2, 2))  # the draws seed_bootstrap makes
    expected = [values[seeds[b]][:, idx[b]].mean() for b in range(2)]
    np.testing.assert_allclose(seed_bootstrap(values, idx, rng), expected)
    stacked = np.stack([values, 10 * values], axis=-1)  # trailing axes ride along
    both = seed_bootstrap(stacked, idx, np.random.default_rng(5))
    np.testing.assert_allclose(both, np.c_[expected, 10 * np.array(expected)])
    with pytest.raises(ValueError, match="id_idx"):
        seed_bootstrap(values, idx[:, :2], rng)


def test_bootstrap_p_by_hand_and_its_link_to_the_interval() -> None:
    assert bootstrap_p(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(2 * 2 / 5)
    assert bootstrap_p(np.arange(1.0, 10.0)) == pytest.approx(2 / 10)  # the smallest: 2/(B+1)
    assert bootstrap_p(np.zeros(7)) == 1.0
    rng = np.random.default_rng(4)
    for shift in np.linspace(0.0, 0.5, 11):
        d = rng.normal(shift, 0.2, 4000)
        low, high = percentile_ci(d)
        excludes = low > 0 or high < 0
        p = bootstrap_p(d)
        assert excludes == (p < 0.05) or abs(p - 0.05) < 2e-3


def test_paired_p_is_small_for_a_clear_difference_and_spread_out_without_one() -> None:
    rng = np.random.default_rng(2)
    n, s, b = 3, 40, 400
    idx = bootstrap_indices(s, b, 0)

    def p_value(shift: float) -> float:
        """Two rows sharing identity effects; each with its own seed effects and noise."""
        ident = rng.normal(0.0, 1.0, s)
        rows = [
            ident + d + rng.normal(0.0, 0.1, (n, 1)) + rng.normal(0.0, 0.5, (n, s))
            for d in (0.0, shift)
        ]
        boot = [seed_bootstrap(v, idx, np.random.default_rng(rng.integers(1 << 30))) for v in rows]
        return bootstrap_p(boot[1] - boot[0])

    assert p_value(1.0) <= 2 / (b + 1)
    null = np.array([p_value(0.0) for _ in range(300)])
    assert 0.01 < np.mean(null < 0.05) < 0.1  # near the nominal 5 %
    assert np.median(null) > 0.3


def test_holm_against_a_worked_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005, 3 x 0.01, 2 x 0.03, 1 x 0.04 = 0.02, 0.03,
    # 0.06, 0.04 -> running maximum 0.02, 0.03, 0.06, 0.06, back in the input order
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm([0.2]), [0.2])
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, 1.5])


def test_bootstrap_is_deterministic_and_validates() -> None:
    assert np.array_equal(bootstrap_indices(5, 10, 3), bootstrap_indices(5, 10, 3))
    assert not np.array_equal(bootstrap_indices(5, 10, 3), bootstrap_indices(5, 10, 4))
    with pytest.raises(ValueError, match="confidence"):
        percentile_ci(np.ones(5), confidence=1.5)
    with pytest.raises(ValueError, match="differences"):
        bootstrap_p(np.ones((2, 2)))


def _rows(n_ids: int = 30, per: int = 3, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    ids = np.repeat([f"id{i:03d}" for i in range(n_ids)], per)
    base = rng.normal(1.0, 0.2, len(ids))
    frames = [pd.DataFrame({"model": "mean_face", "seed": -1, "identity": ids, "ARE": base})]
    for seed in seeds:
        noise = 0.01 * rng.normal(size=len(ids))
        frames += [
            pd.DataFrame(
                {"model": "good", "seed": seed, "identity": ids, "ARE": base - 0.3 + noise}
            ),
            pd.DataFrame({"model": "same", "seed": seed, "identity": ids, "ARE": base}),
            pd.DataFrame(
                {"model": "twin", "seed": seed, "identity": ids, "ARE": base - 0.3 + noise}
            ),
        ]
    return pd.concat(frames, ignore_index=True)


def test_summary_averages_utterances_per_identity_within_each_seed() -> None:
    rows = _rows(per=1)
    rows = pd.concat([rows, rows.assign(ARE=rows.ARE + 1.0)])  # 2 utterances, per-id mean + 0.5
    tables = per_identity(rows, ("ARE",))
    assert tables["good"].shape == (3, 30, 1) and tables["mean_face"].shape == (1, 30, 1)
    expected = _rows(per=1).query("model == 'good' and seed == 1").ARE.to_numpy() + 0.5
    np.testing.assert_allclose(tables["good"][1, :, 0], expected)


def test_summary_reports_seeds_ci_and_paired_tests_against_comparators() -> None:
    rows = _rows()
    summary, paired = summarise(rows, ("ARE",), ("mean_face",), 500, draw_keys={"twin": "good"})
    good = summary["good"]["ARE"]
    assert summary["good"]["n_seeds"] == 3 and summary["mean_face"]["n_seeds"] == 1
    assert good["mean"] == pytest.approx(rows.query("model == 'good'").ARE.mean())
    assert good["ci_low"] < good["mean"] < good["ci_high"]
    assert good["p_vs_mean_face"] == pytest.approx(2 / 501)
    assert summary["same"]["ARE"]["p_vs_mean_face"] > 0.5
    assert "p_vs_mean_face" not in summary["mean_face"]["ARE"]
    assert summary["twin"]["ARE"] == good  # the same model under two names: the same draws
    row = paired.set_index("model").loc["good"]
    assert row["diff"] == pytest.approx(-0.3, abs=0.01) and row["ci_high"] < 0
    again, _ = summarise(rows, ("ARE",), ("mean_face",), 500, draw_keys={"twin": "good"})
    assert again == summary
    other, _ = summarise(rows, ("ARE",), ("mean_face",), 500, seed=1)
    assert other["good"]["ARE"]["ci_low"] != good["ci_low"]


def test_summary_refuses_rows_or_seeds_on_different_identities() -> None:
    rows = _rows()
    drop = (rows.model == "good") & (rows.seed == 2) & (rows.identity == "id000")
    with pytest.raises(ValueError, match=r"'good', seed 2 .* same test identities"):
        summarise(rows[~drop], ("ARE",), ("mean_face",), n_resamples=100)
