"""Per-utterance metric rows → per-identity means → overall figures with CIs and paired tests.

Input: a long frame, one row per (model, utterance), columns ``model``, ``identity`` and the
metric columns. Every model must cover the same identities (the paired tests need it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voice2mesh.evaluation.stats import bootstrap_ci, bootstrap_indices, paired_p_value


def per_identity(rows: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """``{model: (S, len(metrics)) per-identity means}``, identities sorted, equal across models."""
    out, identities = {}, None
    for model, group in rows.groupby("model", sort=False):
        means = group.groupby("identity", sort=True)[list(metrics)].mean()
        if identities is None:
            identities = means.index
        elif not means.index.equals(identities):
            raise ValueError(
                f"model {model!r} was evaluated on other identities than the first model; "
                "every row must cover the same test identities"
            )
        out[str(model)] = means
    return out


def summarise(
    rows: pd.DataFrame,
    metrics: tuple[str, ...],
    comparators: tuple[str, ...],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict, pd.DataFrame]:
    """Overall mean, bootstrap CI and paired p-values of every model and metric.

    Args:
        rows: per-utterance metrics (``model``, ``identity`` and ``metrics`` columns).
        metrics: the metric columns to summarise.
        comparators: models every other model is tested against (those present in ``rows``).
        n_resamples, confidence, seed: the identity bootstrap (``stats.bootstrap_ci``).

    Returns:
        ``(summary, paired)``: ``summary[model][metric]`` = ``{mean, ci_low, ci_high,
        p_vs_<comparator>...}`` (floats, for ``dvc metrics``); ``paired``: one row per (model,
        comparator, metric) with the mean paired difference (model − comparator, negative =
        model better for these error metrics), its bootstrap CI and the p-value.
    """
    tables = per_identity(rows, metrics)
    if not tables:
        raise ValueError("nothing to summarise: no evaluated rows")
    n_ids = len(next(iter(tables.values())))
    indices = bootstrap_indices(n_ids, n_resamples, seed)
    present = [c for c in comparators if c in tables]
    summary: dict = {}
    paired = []
    for model, table in tables.items():
        summary[model] = {}
        for metric in metrics:
            values = table[metric].to_numpy()
            mean, low, high = bootstrap_ci(values, indices, confidence)
            entry = {"mean": mean, "ci_low": low, "ci_high": high}
            for comp in present:
                if comp == model:
                    continue
                other = tables[comp][metric].to_numpy()
                p = paired_p_value(values, other)
                entry[f"p_vs_{comp}"] = p
                diff, d_low, d_high = bootstrap_ci(values - other, indices, confidence)
                paired.append(
                    {
                        "model": model,
                        "comparator": comp,
                        "metric": metric,
                        "diff": diff,
                        "ci_low": d_low,
                        "ci_high": d_high,
                        "p": p,
                    }
                )
            summary[model][metric] = entry
    return summary, pd.DataFrame(
        paired, columns=["model", "comparator", "metric", "diff", "ci_low", "ci_high", "p"]
    )


def n_identities(rows: pd.DataFrame) -> int:
    """Distinct identities in per-utterance rows."""
    return int(np.unique(rows.identity.astype(str)).size)
