"""The paper's Tables 1-5 as markdown (``reports/tables.md``), from the ``evaluate`` outputs.

Pure functions: ``metrics/evaluate.json`` (loaded), ``paired.csv`` (a frame) and figure links
in, one deterministic markdown string out. Layout follows the paper: metrics down, models
across (Baseline / Supervised / Unsupervised), plus our two reference rows (mean face and
gender-from-voice mean face) and the paper's own numbers beside ours. Table 5 lists the ARE
mean of the unsupervised model trained with each distillation method (``kd_ablation@<key>``).
A row missing from the json is shown as "—" and named in a footnote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from voice2mesh.evaluation.rows import KD_ROWS, MAIN_ROWS, ROW_LABELS
from voice2mesh.facemodel.model import REGION_NAMES

MISSING = "—"
PAPER_ROWS = ("baseline", "supervised", "unsupervised")
COMPARATORS = ("baseline", "gender_mean_face")  # p-values and % changes are against these
METRIC_LABELS = {"ARE": "Mean", "RMSE": "RMSE (mm)"} | {
    part: part.replace("_", " ").capitalize() for part in REGION_NAMES
}

# Wu, Hsu, Neumann, "Cross-Modal Perceptionist", CVPR 2022, Tables 1-5 (real Voxceleb-3D, BFM).
# fmt: off
PAPER: dict[str, dict[str, float]] = {
    "baseline": {
        "ER": 0.0311, "FR": 0.0173, "MR": 0.0173, "CR": 0.0551, "ARE": 0.0302,
        "NME": 0.2969, "RMSE": 1.348,
        "left_eye": 0.3945, "right_eye": 0.3656, "nose": 0.5250, "mouth": 0.3435,
        "left_cheek": 0.4735, "right_cheek": 0.5061,
    },
    "supervised": {
        "ER": 0.0157, "FR": 0.0188, "MR": 0.0172, "CR": 0.0463, "ARE": 0.0245,
        "NME": 0.2723, "RMSE": 1.210,
        "left_eye": 0.3517, "right_eye": 0.3349, "nose": 0.5141, "mouth": 0.2958,
        "left_cheek": 0.4654, "right_cheek": 0.4916,
    },
    "unsupervised": {
        "ER": 0.0184, "FR": 0.0172, "MR": 0.0176, "CR": 0.0484, "ARE": 0.0254,
        "NME": 0.2904, "RMSE": 1.312,
        "left_eye": 0.3779, "right_eye": 0.3488, "nose": 0.5177, "mouth": 0.3149,
        "left_cheek": 0.4711, "right_cheek": 0.4919,
    },
} | {
    f"kd_ablation@{key}": {"ARE": value}
    for key, value in {
        "kd": 0.0298, "attention": 0.0304, "sp": 0.0262, "correlation": 0.0263,
        "rkd": 0.0254, "crd": 0.0255, "vid": 0.0259, "pkt": 0.0254,
    }.items()
}
# fmt: on
PAPER_NOTE = (
    "Paper: the published numbers (Wu et al., CVPR 2022) on real Voxceleb-3D with BFM — "
    "other data and another face model, so not comparable with ours in absolute terms."
)


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
    TableSpec(3, "Whole-mesh point-to-plane RMSE after ICP (mm)", ("RMSE",), 3, "RMSE"),
    TableSpec(4, "Part point-to-plane RMSE after local ICP (mm)", REGION_NAMES, 4, None),
)


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


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals, scientific below 0.001, "—" when absent."""
    if p is None or not math.isfinite(p):
        return MISSING
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def pct_change(value: float | None, base: float | None) -> str:
    """Signed % change of ``value`` relative to ``base`` (negative = lower error), or "—"."""
    if value is None or base is None or not (math.isfinite(value) and math.isfinite(base)):
        return MISSING
    if base == 0:
        return MISSING
    return f"{100.0 * (value - base) / base:+.1f} %"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; the first column is left-aligned, the others right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _mean(summary: Mapping, row: str, metric: str) -> float | None:
    return summary.get(row, {}).get(metric, {}).get("mean")


def _missing_note(rows: Sequence[str], summary: Mapping) -> str:
    missing = [ROW_LABELS.get(r, r) for r in rows if r not in summary]
    if not missing:
        return ""
    return f"\n\n{MISSING}: not in metrics/evaluate.json: {', '.join(missing)}."


def metric_table(spec: TableSpec, summary: Mapping, paper: bool) -> str:
    """Table ``spec`` (values with CIs, % changes, then the p-values) for one reference kind.

    Args:
        spec: which table.
        summary: ``evaluate.json[vs_<kind>]``: row → metric → {mean, ci_low, ci_high, p_vs_*}.
        paper: add the paper's Baseline / Supervised / Unsupervised columns.
    """
    header = ["Metric"] + [ROW_LABELS[r] for r in MAIN_ROWS]
    header += [f"Paper: {ROW_LABELS[r]}" for r in PAPER_ROWS] if paper else []
    rows = []
    for metric in spec.metrics:
        cells = [fmt_ci(summary.get(r, {}).get(metric), spec.digits) for r in MAIN_ROWS]
        if paper:
            cells += [fmt_value(PAPER[r][metric], spec.digits) for r in PAPER_ROWS]
        rows.append([METRIC_LABELS.get(metric, metric), *cells])
    if spec.change is not None:
        label = METRIC_LABELS.get(spec.change, spec.change)
        for comp in COMPARATORS:
            base = _mean(summary, comp, spec.change)
            cells = [
                MISSING if r == comp else pct_change(_mean(summary, r, spec.change), base)
                for r in MAIN_ROWS
            ]
            if paper:
                base = PAPER.get(comp, {}).get(spec.change)
                cells += [
                    MISSING if r == comp else pct_change(PAPER[r][spec.change], base)
                    for r in PAPER_ROWS
                ]
            rows.append([f"{label}: % vs {ROW_LABELS[comp].lower()}", *cells])
    text = f"### Table {spec.number}. {spec.title}\n\n" + markdown_table(header, rows)
    p_rows = [
        [METRIC_LABELS.get(m, m)]
        + [
            " / ".join(fmt_p(summary.get(r, {}).get(m, {}).get(f"p_vs_{c}")) for c in COMPARATORS)
            for r in MAIN_ROWS
        ]
        for m in spec.metrics
    ]
    text += "\n\np-values vs baseline / vs gender mean face:\n\n"
    text += markdown_table(["Metric"] + [ROW_LABELS[r] for r in MAIN_ROWS], p_rows)
    return text + _missing_note(MAIN_ROWS, summary)


def kd_table(summary: Mapping, paper: bool) -> str:
    """Table 5: ARE mean [CI] per distillation method, % and p vs the comparators, the paper's."""
    wanted = list(KD_ROWS)
    header = ["KD method", "ARE mean [95 % CI]"]
    header += [f"% vs {ROW_LABELS[c].lower()}" for c in COMPARATORS]
    header += [f"p vs {ROW_LABELS[c].lower()}" for c in COMPARATORS]
    header += ["Paper: ARE mean"] if paper else []
    rows = []
    for row in wanted:
        entry = summary.get(row, {}).get("ARE")
        cells = [ROW_LABELS[row], fmt_ci(entry, 4)]
        cells += [
            pct_change(_mean(summary, row, "ARE"), _mean(summary, c, "ARE")) for c in COMPARATORS
        ]
        cells += [fmt_p((entry or {}).get(f"p_vs_{c}")) for c in COMPARATORS]
        cells += [fmt_value(PAPER[row]["ARE"], 4)] if paper else []
        rows.append(cells)
    text = "### Table 5. ARE mean of the unsupervised model per distillation method\n\n"
    return text + markdown_table(header, rows) + _missing_note(wanted, summary)


def paired_section(
    paired: pd.DataFrame, kind: str, metrics: Sequence[str] = ("ARE", "NME", "RMSE")
) -> str:
    """Paired differences (row − comparator, negative = row better) from ``paired.csv``."""
    sel = paired[(paired.reference == kind) & paired.comparator.isin(COMPARATORS)]
    sel = sel[sel.metric.isin(metrics)]
    if sel.empty:
        return ""
    order = {name: i for i, name in enumerate((*MAIN_ROWS, *ROW_LABELS))}
    sel = sel.assign(
        _r=sel.model.map(lambda m: order.get(m, len(order))),
        _c=sel.comparator.map(COMPARATORS.index),
        _m=sel.metric.map(list(metrics).index),
    ).sort_values(["_m", "_c", "_r", "model"], kind="stable")
    rows = [
        [
            r.metric,
            ROW_LABELS.get(r.model, r.model),
            ROW_LABELS.get(r.comparator, r.comparator),
            f"{r.diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
            fmt_p(r.p),
        ]
        for r in sel.itertuples()
    ]
    header = ["Metric", "Row", "Comparator", "Difference [95 % CI]", "p"]
    return "### Paired differences (row − comparator; negative = row better)\n\n" + markdown_table(
        header, rows
    )


def header(results: Mapping, figures: Mapping[str, str], confidence: float = 0.95) -> str:
    """What the rows are, the test-set size, the gender classifier, the statistics, figures."""
    counts, gender = results.get("counts", {}), results.get("gender_from_voice", {})
    lines = [
        "# Voice2Mesh: Tables 1–5",
        "",
        "Rows: **Mean face** — the training identities' mean shape for every voice; "
        "**Gender mean face** — the mean shape of the gender a voice classifier hears; "
        "**Baseline** — pretrained voice→face GAN, then the image→3DMM teacher, no joint training; "
        "**Supervised** — voice encoder + regression head trained on fitted 3DMM parameters; "
        "**Unsupervised** — GAN and student trained jointly with knowledge distillation "
        "(Table 5: one model per distillation method).",
        "",
        f"Test set: {counts.get('test_identities', '?')} identities, "
        f"{counts.get('test_utterances', '?')} utterances (metrics averaged per identity first).",
    ]
    if "accuracy" in gender:
        lines.append(
            f"Gender from voice: accuracy {gender['accuracy']:.3f} on the test utterances "
            f"(majority class {gender.get('majority_baseline', float('nan')):.3f})."
        )
    teacher = results.get("teacher", {})
    if "shape_rmse_vs_fits" in teacher:
        parts = [
            f"{teacher[f'shape_rmse_vs_{k}']:.3g} vs the {k} (mean shape: "
            f"{teacher[f'mean_shape_rmse_vs_{k}']:.3g})"
            for k in ("fits", "truth")
            if f"shape_rmse_vs_{k}" in teacher
        ]
        lines.append(
            f"Teacher (image → 3DMM) on {teacher.get('n_crops', '?')} held-out face crops, "
            f"shape-coefficient RMSE: {'; '.join(parts)}."
        )
    lines += [
        f"Values are means with {100 * confidence:g} % bootstrap confidence intervals over "
        "identities; p-values are two-sided Wilcoxon signed-rank tests over identities "
        "(paired per identity). Lower is better for every metric.",
    ]
    if figures:
        lines += ["", "Figures: " + ", ".join(f"[{t}]({p})" for t, p in figures.items()) + "."]
    return "\n".join(lines)


def render_tables(
    results: Mapping,
    paired: pd.DataFrame | None = None,
    figures: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> str:
    """The whole ``tables.md``: header, then Tables 1-5 per reference kind present.

    Args:
        results: the loaded ``metrics/evaluate.json``.
        paired: the loaded ``paired.csv`` or None (no paired-difference section).
        figures: ``{title: relative path}`` links for the header.
        confidence: the CI level used by ``evaluate`` (for the header).
    """
    parts = [header(results, figures or {}, confidence)]
    kinds = (
        ("reference", "Against the reference (fitted) faces", True),
        ("truth", "Against the true faces (synthetic world only)", False),
    )
    for kind, title, paper in kinds:
        summary = results.get(f"vs_{kind}")
        if summary is None:
            continue
        parts.append(f"## {title}" + (f"\n\n{PAPER_NOTE}" if paper else ""))
        parts += [metric_table(spec, summary, paper) for spec in TABLES]
        parts.append(kd_table(summary, paper))
        if paired is not None:
            section = paired_section(paired, kind)
            parts += [section] if section else []
    return "\n\n".join(parts) + "\n"
