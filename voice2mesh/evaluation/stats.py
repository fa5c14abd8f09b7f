"""Uncertainty for per-identity metric values: bootstrap CIs and paired tests.

The paper reports plain means over its 301 test speakers. With tens of synthetic test identities
(or 301 real ones) a mean alone does not say whether one row beats another, so every figure
here carries

* a percentile bootstrap confidence interval over **identities** (Efron & Tibshirani 1993,
  ch. 13): identities are resampled with replacement, each resample's mean is recorded, and the
  interval is the (α/2, 1 − α/2) quantiles of those means. The same resampling indices serve
  every row and metric, so the intervals of the *paired* difference of two rows come from the
  same resamples;
* a two-sided paired test over identities: Wilcoxon's signed-rank test (Wilcoxon 1945, via
  ``scipy.stats.wilcoxon``, zero differences dropped as in Wilcoxon's original method), which
  does not assume the differences are normal. All-equal rows give p = 1.

Inputs are per-identity values (utterances already averaged per identity, as the paper does).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def bootstrap_indices(n_identities: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_identities) int64 resampling indices, deterministic for ``seed``."""
    if n_identities < 1 or n_resamples < 1:
        raise ValueError(
            f"bootstrap needs at least 1 identity and 1 resample, got {n_identities}, {n_resamples}"
        )
    return np.random.default_rng(seed).integers(0, n_identities, (n_resamples, n_identities))


def bootstrap_ci(
    values: np.ndarray, indices: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap CI of per-identity ``values`` (S,).

    Args:
        values: (S,) one value per identity.
        indices: (B, S) from ``bootstrap_indices``.
        confidence: the interval's coverage, in (0, 1).

    Returns:
        ``(mean, low, high)``.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or indices.ndim != 2 or indices.shape[1] != len(values):
        raise ValueError(
            f"values must be (S,) and indices (B, S); got {values.shape} and {indices.shape}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    means = values[indices].mean(axis=1)  # (B,)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(values.mean()), float(low), float(high)


def paired_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-identity values ``a`` vs ``b`` (S,)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must both be (S,), got {a.shape} and {b.shape}")
    diff = a - b
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
