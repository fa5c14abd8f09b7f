"""Multiplicity: which paired tests form a family, and Holm's adjustment within each.

Every p-value of ``evaluate`` (a row against a comparator on one metric) belongs to the family
``"<block>: <table>"``:

    block   the scoring and reference kind (``scorings.block_name``): vs_reference, vs_truth,
            shape_only, shape_only_vs_truth
    table   "Tables 1-4" for the rows of ``rows.MAIN_ROWS``, "Table 5" for ``rows.KD_ROWS``

All p-values of a family (rows × metrics × comparators; Table 5's rows have no ICP metrics,
``scorings``) are adjusted together by Holm's
step-down method (Holm 1979, ``stats.holm``), which controls the family-wise error rate. A
test that appears twice (mean face vs baseline and baseline vs mean face: the same two rows,
the same resamples, the same p) counts once and both get its adjusted p.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from voice2mesh.evaluation.rows import KD_ROWS, MAIN_ROWS
from voice2mesh.evaluation.stats import holm, smallest_holm_p

TABLES: dict[str, tuple[str, ...]] = {"Tables 1-4": MAIN_ROWS, "Table 5": KD_ROWS}
ADJUSTMENT = "Holm"


def family_name(block: str, table: str) -> str:
    """The family of ``block``'s tests in ``table`` (e.g. ``"vs_reference: Tables 1-4"``)."""
    return f"{block}: {table}"


def family_of(block: str, row: str) -> str | None:
    """The family of ``row``'s tests in ``block``; None for a row in no table."""
    for table, rows in TABLES.items():
        if row in rows:
            return family_name(block, table)
    return None


def _test_keys(paired: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(family, metric, unordered row pair) per test: a test and its mirror image share it."""
    return [
        (f, metric, "|".join(sorted((m, c))))
        for f, metric, m, c in zip(
            paired.family, paired.metric, paired.model, paired.comparator, strict=True
        )
    ]


def adjust(paired: pd.DataFrame) -> pd.DataFrame:
    """``paired`` with the columns ``family`` and ``p_holm`` (None / NaN: a row in no table).

    Args:
        paired: ``block``, ``model``, ``comparator``, ``metric`` and ``p`` per test.
    """
    out = paired.assign(
        family=[family_of(b, m) for b, m in zip(paired.block, paired.model, strict=True)]
    )
    keys = pd.Series(_test_keys(out), index=out.index)
    first = out[out.family.notna() & ~keys.duplicated()]  # each distinct test once
    adjusted = {}
    for _, tests in first.groupby("family", sort=False):
        adjusted |= dict(zip(keys[tests.index], holm(tests.p.to_numpy()), strict=True))
    return out.assign(p_holm=[adjusted.get(key, float("nan")) for key in keys])


def families(adjusted: pd.DataFrame) -> dict[str, dict]:
    """``{family: {"tests": distinct tests, "adjustment": "Holm"}}`` of ``adjust``'s output."""
    keys = {key for key in _test_keys(adjusted) if isinstance(key[0], str)}  # in a family
    names = sorted({key[0] for key in keys})
    return {
        name: {"tests": sum(key[0] == name for key in keys), "adjustment": ADJUSTMENT}
        for name in names
    }


def with_holm(summary: Mapping, adjusted: pd.DataFrame) -> dict:
    """A copy of one block's summary with ``p_holm_vs_<comparator>`` beside each ``p_vs_*``.

    Args:
        summary: ``row -> {"n_seeds", metric -> {..., p_vs_<comparator>}}``.
        adjusted: ``adjust``'s rows of this block.
    """
    out = {row: {k: dict(v) if isinstance(v, Mapping) else v for k, v in entry.items()}
           for row, entry in summary.items()}  # fmt: skip
    for test in adjusted.dropna(subset=["p_holm"]).itertuples():
        out[test.model][test.metric][f"p_holm_vs_{test.comparator}"] = float(test.p_holm)
    return out


def too_few_resamples(found: Mapping[str, Mapping], n_resamples: int, alpha: float) -> list[str]:
    """What to say about each family (``families``' output) whose smallest attainable Holm p,
    ``2m/(B + 1)``, is not below ``alpha``: no test of it can be significant."""
    return [
        f"Holm family {name!r} has {f['tests']} tests: with evaluate.n_resamples = {n_resamples} "
        f"its smallest Holm-adjusted p is {smallest_holm_p(n_resamples, f['tests']):.3g}, so "
        f"none can fall below {alpha:g}; set evaluate.n_resamples to at least "
        f"{math.ceil(2 * f['tests'] / alpha)}"
        for name, f in found.items()
        if smallest_holm_p(n_resamples, f["tests"]) >= alpha
    ]
