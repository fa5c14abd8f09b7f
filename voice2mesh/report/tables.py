"""The paper's Tables 1-5 as markdown (``reports/tables.md``), from the ``evaluate`` outputs.

Pure functions: ``metrics/evaluate.json`` (loaded), ``paired.csv`` (a frame) and figure links
in, one deterministic markdown string out. Layout follows the paper: metrics down, models
across (Baseline / Supervised / Unsupervised), plus our two reference rows (mean face and
gender-from-voice mean face) and the paper's own numbers beside ours. Each table shows the
training seeds per row, the paired p-values as ``p (Holm-adjusted p)`` with the Holm family
named under it; Table 5 lists the ARE of the unsupervised model per distillation method
(``kd_ablation@<key>``); a compact shape-only variant of Tables 1-4 follows. A row missing
from the json is shown as "—" and named in a footnote; a row ``evaluate`` left out on purpose
(``counts.rows_left_out``: its stage trains no model under the params) loses its column, and a
line under the table says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from voice2mesh.evaluation.families import family_name
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE
from voice2mesh.evaluation.rows import KD_ROWS, MAIN_ROWS, ROW_LABELS, UNSUPERVISED
from voice2mesh.facemodel.model import REGION_NAMES
from voice2mesh.report.notes import (
    MISSING,
    family_line,
    fmt_p,
    header,
    markdown_table,
    paired_section,
    reading_note,
)
from voice2mesh.report.paper import PAPER, PAPER_NOTE, PAPER_ROWS, PAPER_SEEDS

COMPARATORS = ("baseline", "gender_mean_face")  # p-values and % changes are against these
UNTRAINED = (MEAN_FACE, GENDER_MEAN_FACE)
METRIC_LABELS = {"ARE": "Mean"} | {
    part: part.replace("_", " ").capitalize() for part in REGION_NAMES
}
SHAPE_ONLY_METRICS = ("ARE", "NME", "RMSE")
UNITS = "ours: mm; paper: 3DDFA crop units"


@dataclass(frozen=True)
class TableSpec:
    """One of Tables 1-4: which metrics, how many decimals, which metric gets % changes."""

    number: int
    title: str
    metrics: tuple[str, ...]
    digits: int
    change: str | None


TABLES = (
    TableSpec(
        1,
        "ARE: ear (ER), forehead (FR), mid (MR), cheek (CR) ratio errors",
        ("ER", "FR", "MR", "CR", "ARE"),
        4,
        "ARE",
    ),
    TableSpec(2, "NME of the 68 landmarks", ("NME",), 4, "NME"),
    TableSpec(3, f"Whole-mesh point-to-plane RMSE after ICP ({UNITS})", ("RMSE",), 3, "RMSE"),
    TableSpec(4, f"Part point-to-plane RMSE after local ICP ({UNITS})", REGION_NAMES, 4, None),
)
DIGITS = {m: spec.digits for spec in TABLES for m in spec.metrics}


def fmt_value(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, or "—" when absent or not finite."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def fmt_ci(entry: Mapping[str, float] | None, digits: int) -> str:
    """``mean [ci_low, ci_high]`` of one json entry, e.g. ``0.0254 [0.0231, 0.0278]``."""
    if entry is None:
        return MISSING
    low, high = fmt_value(entry.get("ci_low"), digits), fmt_value(entry.get("ci_high"), digits)
    return f"{fmt_value(entry.get('mean'), digits)} [{low}, {high}]"


def fmt_p_holm(entry: Mapping | None, comparator: str, alpha: float) -> str:
    """``p (p_Holm)`` against ``comparator``, starred when the Holm p is below ``alpha``."""
    entry = entry or {}
    p, p_holm = entry.get(f"p_vs_{comparator}"), entry.get(f"p_holm_vs_{comparator}")
    if p is None:
        return MISSING
    star = " *" if p_holm is not None and p_holm < alpha else ""
    return f"{fmt_p(p)} ({fmt_p(p_holm)}){star}"


def pct_change(value: float | None, base: float | None) -> str:
    """Signed % change of ``value`` relative to ``base`` (negative = lower error), or "—"."""
    if value is None or base is None or not (math.isfinite(value) and math.isfinite(base)):
        return MISSING
    if base == 0:
        return MISSING
    return f"{100.0 * (value - base) / base:+.1f} %"


def _entry(summary: Mapping, row: str, metric: str) -> Mapping | None:
    return summary.get(row, {}).get(metric)


def _mean(summary: Mapping, row: str, metric: str) -> float | None:
    return (_entry(summary, row, metric) or {}).get("mean")


def seeds_cell(summary: Mapping, row: str) -> str:
    """How many training seeds ``row`` averages ("none" for the mean faces, "—" if absent)."""
    if row in UNTRAINED:
        return "none" if row in summary else MISSING
    n = summary.get(row, {}).get("n_seeds")
    return MISSING if n is None else str(n)


def left_out(results: Mapping) -> dict[str, str]:
    """``{row: why}``: the rows ``evaluate`` left out on purpose (``counts.rows_left_out``)."""
    return dict(results.get("counts", {}).get("rows_left_out", {}))


def shown(rows: tuple[str, ...], results: Mapping) -> tuple[str, ...]:
    """``rows`` less those left out: the columns (or lines) of a table."""
    gone = left_out(results)
    return tuple(r for r in rows if r not in gone)


def _notes(rows: tuple[str, ...], summary: Mapping, results: Mapping) -> str:
    """The footnotes of a table over ``rows``: rows left out (and why), rows missing."""
    gone = left_out(results)
    text = "".join(f"\n\nLeft out: {ROW_LABELS.get(r, r)}: {gone[r]}." for r in rows if r in gone)
    missing = [ROW_LABELS.get(r, r) for r in shown(rows, results) if r not in summary]
    if missing:
        text += f"\n\n{MISSING}: not in metrics/evaluate.json: {', '.join(missing)}."
    return text


def _p_table(
    summary: Mapping, rows: tuple[str, ...], metrics: tuple[str, ...], alpha: float
) -> str:
    lines = [
        [METRIC_LABELS.get(m, m)]
        + [
            " / ".join(fmt_p_holm(_entry(summary, r, m), c, alpha) for c in COMPARATORS)
            for r in rows
        ]
        for m in metrics
    ]
    text = "\n\np (Holm-adjusted p) vs baseline / vs gender mean face:\n\n"
    return text + markdown_table(["Metric"] + [ROW_LABELS[r] for r in rows], lines)


def metric_table(
    spec: TableSpec, results: Mapping, block: str, paper: bool, confidence: float = 0.95
) -> str:
    """Table ``spec`` (values with CIs, seeds, % changes, then the p-values) for one block.

    Args:
        spec: which table.
        results: the loaded ``metrics/evaluate.json``; ``results[block]``: row → ``n_seeds``
            and metric → {mean, ci_low, ci_high, p_vs_*, p_holm_vs_*}.
        block: ``vs_reference`` or ``vs_truth``.
        paper: add the paper's Baseline / Supervised / Unsupervised columns.
        confidence: the CI level (1 − the significance level of the stars).
    """
    summary, columns = results.get(block, {}), shown(MAIN_ROWS, results)
    header_cells = ["Metric"] + [ROW_LABELS[r] for r in columns]
    header_cells += [f"Paper: {ROW_LABELS[r]}" for r in PAPER_ROWS] if paper else []
    rows = []
    for metric in spec.metrics:
        cells = [fmt_ci(_entry(summary, r, metric), spec.digits) for r in columns]
        if paper:
            cells += [fmt_value(PAPER[r][metric], spec.digits) for r in PAPER_ROWS]
        rows.append([METRIC_LABELS.get(metric, metric), *cells])
    seeds = [seeds_cell(summary, r) for r in columns]
    rows.append(["Seeds", *seeds, *([str(PAPER_SEEDS)] * len(PAPER_ROWS) if paper else [])])
    if spec.change is not None:
        label = METRIC_LABELS.get(spec.change, spec.change)
        for comp in COMPARATORS:
            base = _mean(summary, comp, spec.change)
            cells = [
                MISSING if r == comp else pct_change(_mean(summary, r, spec.change), base)
                for r in columns
            ]
            if paper:
                base = PAPER.get(comp, {}).get(spec.change)
                cells += [
                    MISSING if r == comp else pct_change(PAPER[r][spec.change], base)
                    for r in PAPER_ROWS
                ]
            rows.append([f"{label}: % vs {ROW_LABELS[comp].lower()}", *cells])
    text = f"### Table {spec.number}. {spec.title}\n\n" + markdown_table(header_cells, rows)
    text += _p_table(summary, columns, spec.metrics, 1.0 - confidence)
    text += "\n\n" + family_line(results, family_name(block, "Tables 1-4"), confidence)
    return text + _notes(MAIN_ROWS, summary, results)


def kd_table(results: Mapping, block: str, paper: bool, confidence: float = 0.95) -> str:
    """Table 5: ARE mean [CI], seed spread and seeds per distillation method, % and p vs the
    comparators and vs the ``kd.method`` row (the unsupervised one)."""
    summary = results.get(block, {})
    against = (*COMPARATORS, UNSUPERVISED)
    head = ["KD method", "Seeds", f"ARE mean [{100 * confidence:g} % CI]", "Seed SD"]
    head += [f"% vs {ROW_LABELS[c].lower()}" for c in COMPARATORS]
    head += [f"p (Holm) vs {ROW_LABELS[c].lower()}" for c in COMPARATORS]
    head += ["p (Holm) vs kd.method"]
    head += ["Paper: ARE mean"] if paper else []
    rows = []
    for row in shown(KD_ROWS, results):
        entry = _entry(summary, row, "ARE")
        spread = entry.get("seed_sd") if isinstance(entry, Mapping) else None
        cells = [ROW_LABELS[row], seeds_cell(summary, row), fmt_ci(entry, 4)]
        cells += [fmt_value(spread, 4) if spread is not None else MISSING]
        cells += [
            pct_change(_mean(summary, row, "ARE"), _mean(summary, c, "ARE")) for c in COMPARATORS
        ]
        cells += [fmt_p_holm(entry, c, 1.0 - confidence) for c in against]
        cells += [fmt_value(PAPER[row]["ARE"], 4)] if paper else []
        rows.append(cells)
    text = "### Table 5. ARE mean of the unsupervised model per distillation method\n\n"
    text += markdown_table(head, rows)
    text += "\n\n" + family_line(results, family_name(block, "Table 5"), confidence)
    return text + _notes(KD_ROWS, summary, results)


def shape_only_table(results: Mapping, block: str, confidence: float = 0.95) -> str:
    """Tables 1-4 in short (ARE, NME, RMSE) with every row's expression set to zero."""
    summary, columns = results.get(block, {}), shown(MAIN_ROWS, results)
    rows = [
        [METRIC_LABELS.get(m, m)] + [fmt_ci(_entry(summary, r, m), DIGITS[m]) for r in columns]
        for m in SHAPE_ONLY_METRICS
    ]
    rows.append(["Seeds", *(seeds_cell(summary, r) for r in columns)])
    text = (
        "### Tables 1-4, shape only: every row's expression set to zero (RMSE in mm)\n\n"
        "The references are neutral, so this leaves out what a network loses by predicting an "
        "expression; the mean faces are neutral anyway and score as above.\n\n"
    )
    text += markdown_table(["Metric"] + [ROW_LABELS[r] for r in columns], rows)
    text += _p_table(summary, columns, SHAPE_ONLY_METRICS, 1.0 - confidence)
    text += "\n\n" + family_line(results, family_name(block, "Tables 1-4"), confidence)
    return text + _notes(MAIN_ROWS, summary, results)


def render_tables(
    results: Mapping,
    paired=None,
    figures: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> str:
    """The whole ``tables.md``: header, then Tables 1-5 and the shape-only tables per kind.

    Args:
        results: the loaded ``metrics/evaluate.json``.
        paired: the loaded ``paired.csv`` (a DataFrame) or None (no paired-difference section).
        figures: ``{title: relative path}`` links for the header.
        confidence: the CI level used by ``evaluate``.
    """
    parts = [header(results, figures or {}, confidence)]
    kinds = (
        ("vs_reference", "shape_only", "Against the reference (fitted) faces", True),
        ("vs_truth", "shape_only_vs_truth", "Against the true faces (synthetic world only)", False),
    )
    for block, shape_block, title, paper in kinds:
        if block not in results:
            continue
        parts.append(f"## {title}" + (f"\n\n{PAPER_NOTE}" if paper else ""))
        parts += [metric_table(spec, results, block, paper, confidence) for spec in TABLES]
        parts.append(kd_table(results, block, paper, confidence))
        if shape_block in results:
            parts.append(shape_only_table(results, shape_block, confidence))
        parts.append(reading_note(results, confidence))
        if paired is not None:
            section = paired_section(paired, block, COMPARATORS, ROW_LABELS, MAIN_ROWS)
            parts += [section] if section else []
    return "\n\n".join(parts) + "\n"
