"""Uncertainty of per-identity metric values over identities and training seeds.

The paper reports plain means over its 301 test speakers from one trained model. Here every
network row is trained with several seeds, and each figure carries

* the **grand mean** over seeds and identities;
* a **two-level percentile bootstrap** CI (Efron & Tibshirani 1993, ch. 13; Davison & Hinkley
  1997, sec. 3.8 for hierarchical data): each resample draws the test identities with
  replacement (the same draw for every row, so rows are paired) and, independently for each
  row, its training seeds with replacement; the statistic is the mean over the drawn seeds and
  identities, and the interval is the (α/2, 1 − α/2) quantiles of the B resampled statistics.
  A row with one seed (the mean faces, no training) reduces to the identity bootstrap;
* a **two-sided bootstrap p** for a paired difference of two rows, from the same resamples of
  the difference (each row with its own seed draws):
  ``p = min(1, 2·min(#(Δ* ≤ 0) + 1, #(Δ* ≥ 0) + 1) / (B + 1))``. The CI at level 1 − α excludes
  0 exactly when p < α, up to the resolution 1/(B + 1); the smallest p is 2/(B + 1);
* Holm's step-down adjustment (Holm 1979) of a family of p-values.

Inputs are arrays ``values`` (n_seeds, S[, ...]): one value per training seed and identity
(utterances already averaged per identity, as the paper does), trailing axes (e.g. metrics)
carried along. The functions know nothing of rows or tables, so a study can reuse them on
pooled worlds.
"""

from __future__ import annotations

import numpy as np


def bootstrap_indices(n_identities: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_identities) int64 resampling indices, deterministic for ``seed``."""
    if n_identities < 1 or n_resamples < 1:
        raise ValueError(
            f"bootstrap needs at least 1 identity and 1 resample, got {n_identities}, {n_resamples}"
        )
    return np.random.default_rng(seed).integers(0, n_identities, (n_resamples, n_identities))


def seed_bootstrap(
    values: np.ndarray, id_idx: np.ndarray, seed_rng: np.random.Generator
) -> np.ndarray:
    """Two-level bootstrap statistics: the mean over resampled seeds and identities.

    Args:
        values: (n_seeds, S, ...) per-seed, per-identity values.
        id_idx: (B, S) identity indices (``bootstrap_indices``), shared by the rows compared.
        seed_rng: draws this row's seeds, ``seed_rng.integers(0, n_seeds, (B, n_seeds))``.

    Returns:
        (B, ...) float64: resample b's mean of ``values[k, i]`` over its drawn seeds k and
        identities i.
    """
    values = np.asarray(values, np.float64)
    id_idx = np.asarray(id_idx)
    if values.ndim < 2 or id_idx.ndim != 2 or id_idx.shape[1] != values.shape[1]:
        raise ValueError(
            f"values must be (n_seeds, S, ...) and id_idx (B, S); got {values.shape} and "
            f"{id_idx.shape}"
        )
    n_seeds, n_ids = values.shape[:2]
    n_resamples = len(id_idx)
    flat_idx = (np.arange(n_resamples)[:, None] * n_ids + id_idx).ravel()
    counts = np.bincount(flat_idx, minlength=n_resamples * n_ids).reshape(n_resamples, n_ids)
    flat = values.reshape(n_seeds, n_ids, -1).transpose(1, 0, 2).reshape(n_ids, -1)
    per_seed = (counts @ flat / n_ids).reshape(n_resamples, n_seeds, -1)  # (B, n_seeds, M)
    seeds = seed_rng.integers(0, n_seeds, (n_resamples, n_seeds))  # (B, n_seeds)
    drawn = np.take_along_axis(per_seed, seeds[:, :, None], axis=1)  # (B, n_seeds, M)
    return drawn.mean(axis=1).reshape((n_resamples, *values.shape[2:]))


def percentile_ci(statistics: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` percentile interval of (B,) bootstrap statistics."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    low, high = np.quantile(np.asarray(statistics, np.float64), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided bootstrap p of (B,) resampled differences against 0 (module docstring)."""
    d = np.asarray(differences, np.float64)
    if d.ndim != 1 or not len(d):
        raise ValueError(f"differences must be a non-empty (B,) array, got {d.shape}")
    tail = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0)) + 1
    return float(min(1.0, 2.0 * tail / (len(d) + 1)))


def smallest_holm_p(n_resamples: int, n_tests: int = 1) -> float:
    """The smallest Holm-adjusted p a family of ``n_tests`` can reach with ``n_resamples``
    resamples: ``bootstrap_p``'s floor 2/(B + 1), times m for the smallest of m. To let a test
    reach α, B must be at least 2m/α − 1."""
    return min(1.0, n_tests * 2.0 / (n_resamples + 1))


def seed_bootstrap_summary(
    values: np.ndarray,
    id_idx: np.ndarray,
    seed_rng: np.random.Generator,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Grand mean, two-level bootstrap CI and bootstrap p against 0 of (n_seeds, S) values.

    For paired differences (row − comparator per seed and identity) p tests a zero mean.

    Returns:
        ``{"mean", "ci_low", "ci_high", "p"}``.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be (n_seeds, S), got {values.shape}")
    statistics = seed_bootstrap(values, id_idx, seed_rng)  # (B,)
    low, high = percentile_ci(statistics, confidence)
    return {
        "mean": float(values.mean()),
        "ci_low": low,
        "ci_high": high,
        "p": bootstrap_p(statistics),
    }


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values of one family, in the input order.

    Sorted ascending, the i-th smallest (i = 1..m) becomes ``max_{j <= i} min(1, (m − j + 1)
    p_(j))``; rejecting where the adjusted p < α controls the family-wise error rate at α.
    """
    p = np.asarray(p_values, np.float64)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p-values must be a (m,) array in [0, 1], got {p}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out
