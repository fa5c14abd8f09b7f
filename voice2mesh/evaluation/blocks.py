"""The per-utterance scores of ``evaluate`` summarised per block, with Holm's adjustment.

A block is one scoring against one reference kind (``scorings.block_name``). Each is
summarised on its own (``summary.summarise``: grand mean, two-level bootstrap CI, paired
bootstrap p), with the same identity resamples for every block; then the p-values of each
family (``families``) are Holm-adjusted together.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from voice2mesh.evaluation.families import adjust, families, with_holm
from voice2mesh.evaluation.scorings import block_name
from voice2mesh.evaluation.summary import summarise


def summarise_blocks(
    scored: pd.DataFrame,
    metrics: tuple[str, ...],
    comparators: tuple[str, ...],
    n_resamples: int,
    confidence: float,
    seed: int,
    draw_keys: Mapping[str, str] | None = None,
    also: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Every block's summary, the families, and every paired test.

    Args:
        scored: ``scorings.score_all``'s frame (``reference``, ``scoring``, ``model``, ``seed``,
            ``identity`` and ``metrics``).
        metrics, comparators, n_resamples, confidence, seed, draw_keys, also: as in
            ``summary.summarise``.

    Returns:
        ``(results, paired)``: ``results`` = ``{block: {row: {"n_seeds", metric: {mean, ci_low,
        ci_high, p_vs_<c>, p_holm_vs_<c>...}}}, "families": {family: {"tests", "adjustment"}}}``;
        ``paired``: ``block``, ``model``, ``comparator``, ``metric``, ``diff``, ``ci_low``,
        ``ci_high``, ``p``, ``family``, ``p_holm`` per test.
    """
    summaries, tests = {}, []
    for (reference, scoring), frame in scored.groupby(["reference", "scoring"], sort=False):
        block = block_name(str(reference), str(scoring))
        summaries[block], pairs = summarise(
            frame, metrics, comparators, n_resamples, confidence, seed, draw_keys, also
        )
        tests.append(pairs.assign(block=block))
    paired = adjust(pd.concat(tests, ignore_index=True))
    paired = paired[["block", *paired.columns.drop("block")]]
    results = {
        block: with_holm(summary, paired[paired.block == block])
        for block, summary in summaries.items()
    }
    return results | {"families": families(paired)}, paired
