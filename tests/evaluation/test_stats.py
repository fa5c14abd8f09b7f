"""Bootstrap CIs, paired tests and the per-identity summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.stats import bootstrap_ci, bootstrap_indices, paired_p_value
from voice2mesh.evaluation.summary import per_identity, summarise


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_more_identities() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    m_s, lo_s, hi_s = bootstrap_ci(small, bootstrap_indices(20, 2000, 0))
    m_l, lo_l, hi_l = bootstrap_ci(large, bootstrap_indices(2000, 500, 0))
    assert lo_s < m_s < hi_s and lo_l < m_l < hi_l
    assert m_s == pytest.approx(small.mean())
    # the normal-theory half width is 1.96 sd / sqrt(n)
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 * large.std() / np.sqrt(2000), rel=0.15)
    assert hi_l - lo_l < (hi_s - lo_s) / 5


def test_bootstrap_is_deterministic_and_validates() -> None:
    assert np.array_equal(bootstrap_indices(5, 10, 3), bootstrap_indices(5, 10, 3))
    assert not np.array_equal(bootstrap_indices(5, 10, 3), bootstrap_indices(5, 10, 4))
    with pytest.raises(ValueError, match="indices"):
        bootstrap_ci(np.ones(4), bootstrap_indices(5, 10, 0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(5), bootstrap_indices(5, 10, 0), confidence=1.5)


def test_paired_p_value_detects_a_consistent_shift_only() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    assert paired_p_value(a, a) == 1.0
    assert paired_p_value(a + 0.5 + 0.01 * rng.normal(size=40), a) < 1e-6
    assert paired_p_value(a + 0.1 * rng.normal(size=40), a) > 0.01
    with pytest.raises(ValueError, match="paired"):
        paired_p_value(a, a[:-1])


def _rows(n_ids: int = 30, per: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    ids = np.repeat([f"id{i:03d}" for i in range(n_ids)], per)
    base = rng.normal(1.0, 0.2, len(ids))
    return pd.concat(
        [
            pd.DataFrame({"model": "mean_face", "identity": ids, "ARE": base}),
            pd.DataFrame({"model": "good", "identity": ids, "ARE": base - 0.3}),
            pd.DataFrame({"model": "same", "identity": ids, "ARE": base}),
        ],
        ignore_index=True,
    )


def test_summary_averages_utterances_per_identity_then_identities() -> None:
    rows = _rows(per=1)
    rows = pd.concat([rows, rows.assign(ARE=rows.ARE + 1.0)])  # 2 utterances, per-id mean + 0.5
    tables = per_identity(rows, ("ARE",))
    expected = _rows(per=1).query("model == 'good'").ARE.to_numpy() + 0.5
    assert np.allclose(tables["good"].ARE.to_numpy(), expected)


def test_summary_reports_ci_and_paired_tests_against_comparators() -> None:
    summary, paired = summarise(_rows(), ("ARE",), ("mean_face",), n_resamples=500)
    good = summary["good"]["ARE"]
    assert good["ci_low"] < good["mean"] < good["ci_high"]
    assert good["p_vs_mean_face"] < 1e-5
    assert summary["same"]["ARE"]["p_vs_mean_face"] == 1.0
    assert "p_vs_mean_face" not in summary["mean_face"]["ARE"]
    row = paired.set_index("model").loc["good"]
    assert row["diff"] == pytest.approx(-0.3) and row["ci_high"] < 0


def test_summary_refuses_rows_on_different_identities() -> None:
    rows = _rows()
    rows = rows[~((rows.model == "good") & (rows.identity == "id000"))]
    with pytest.raises(ValueError, match="same test identities"):
        summarise(rows, ("ARE",), ("mean_face",), n_resamples=100)
