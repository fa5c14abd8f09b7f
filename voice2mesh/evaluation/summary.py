"""Per-utterance metric rows → per-seed, per-identity means → figures with CIs and paired tests.

Input: a long frame, one row per (model, training seed, utterance), columns ``model``, ``seed``,
``identity`` and the metric columns. Every model and seed must cover the same identities (the
paired tests need it). The statistics are ``stats``' two-level bootstrap.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from voice2mesh.evaluation.stats import (
    bootstrap_indices,
    bootstrap_p,
    percentile_ci,
    seed_bootstrap,
)

PAIRED_COLUMNS = ["model", "comparator", "metric", "diff", "ci_low", "ci_high", "p"]


def per_identity(rows: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``{model: (n_seeds, S, len(metrics))}`` per-identity means, seeds and identities sorted.

    Raises:
        ValueError: a model or seed was evaluated on other identities than the first one.
    """
    out, identities = {}, None
    for model, group in rows.groupby("model", sort=False):
        per_seed = []
        for seed, by_seed in group.groupby("seed", sort=True):
            means = by_seed.groupby("identity", sort=True)[list(metrics)].mean()
            if identities is None:
                identities = means.index
            elif not means.index.equals(identities):
                raise ValueError(
                    f"model {model!r}, seed {seed} was evaluated on other identities than the "
                    "first model; every row and seed must cover the same test identities"
                )
            per_seed.append(means.to_numpy(np.float64))
        out[str(model)] = np.stack(per_seed)
    return out


def seed_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one row's seed draws: fixed by ``seed`` and the row's ``key``."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def summarise(
    rows: pd.DataFrame,
    metrics: tuple[str, ...],
    comparators: tuple[str, ...],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    draw_keys: Mapping[str, str] | None = None,
    also: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Grand mean, seed spread, two-level bootstrap CI and paired bootstrap p of every model
    and metric.

    Args:
        rows: per-utterance metrics (``model``, ``seed``, ``identity`` and ``metrics`` columns).
        metrics: the metric columns to summarise.
        comparators: models every other model is tested against (those present in ``rows``).
        n_resamples, confidence, seed: the bootstrap; the identity draws come from ``seed``,
            each model's seed draws from ``seed`` and its name.
        draw_keys: ``{model: key}`` for models that are the same trained networks under another
            name (e.g. ``unsupervised`` = ``kd_ablation@<kd.method>``): they share the key's seed
            draws, so identical rows get identical figures.
        also: ``{model: comparators}`` tested for that model only (e.g. each Table 5 method
            against the ``kd.method`` row); a comparator that is the same networks (one draw
            key) is skipped.

    Returns:
        ``(summary, paired)``: ``summary[model]`` = ``{"n_seeds": k, metric: {mean, seed_sd,
        ci_low, ci_high, p_vs_<comparator>...}}`` (for ``dvc metrics``; ``seed_sd``: the
        standard deviation of the per-seed means, None for one seed; a metric that is NaN
        throughout for a model, one it was not scored on, is left out, and so are its tests
        against such a comparator); ``paired``: one row per
        (model, comparator, metric) with the mean paired difference (model − comparator, negative =
        model better for these error metrics), its bootstrap CI and the bootstrap p.
    """
    tables = per_identity(rows, metrics)
    if not tables:
        raise ValueError("nothing to summarise: no evaluated rows")
    n_ids = next(iter(tables.values())).shape[1]
    id_idx = bootstrap_indices(n_ids, n_resamples, seed)  # (B, S), shared: rows are paired
    keys = dict(draw_keys or {})
    boot = {  # model -> (B, M) resampled means
        model: seed_bootstrap(values, id_idx, seed_rng(seed, keys.get(model, model)))
        for model, values in tables.items()
    }
    extra = dict(also or {})
    summary: dict = {}
    paired = []
    for model, values in tables.items():
        summary[model] = {"n_seeds": int(values.shape[0])}
        own = [*comparators, *(c for c in extra.get(model, ()) if c not in comparators)]
        present = [c for c in own if c in tables and keys.get(c, c) != keys.get(model, model)]
        for j, metric in enumerate(metrics):
            if np.isnan(values[..., j]).all():  # not measured for this row (scorings)
                continue
            mean = float(values[..., j].mean())
            low, high = percentile_ci(boot[model][:, j], confidence)
            seed_means = values[..., j].mean(axis=1)  # (n_seeds,)
            spread = float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else None
            entry = {"mean": mean, "seed_sd": spread, "ci_low": low, "ci_high": high}
            for comp in present:
                if np.isnan(tables[comp][..., j]).all():
                    continue
                delta = boot[model][:, j] - boot[comp][:, j]  # (B,)
                entry[f"p_vs_{comp}"] = bootstrap_p(delta)
                d_low, d_high = percentile_ci(delta, confidence)
                diff = mean - float(tables[comp][..., j].mean())
                paired.append([model, comp, metric, diff, d_low, d_high, entry[f"p_vs_{comp}"]])
            summary[model][metric] = entry
    return summary, pd.DataFrame(paired, columns=PAIRED_COLUMNS)
