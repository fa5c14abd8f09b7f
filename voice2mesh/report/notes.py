"""The text around the tables of ``reports/tables.md``: header, notes, families, paired section.

Pure functions of the loaded ``metrics/evaluate.json`` (and ``paired.csv``); ``tables`` places
them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from voice2mesh.evaluation.stats import smallest_holm_p

MISSING = "—"
# What each row of Tables 1-4 is (``evaluation.rows`` names), for the header; a row evaluate left
# out (``counts.rows_left_out``) is not described.
ROW_NOTES = {
    "mean_face": ("Mean face", "the training identities' mean shape for every voice"),
    "gender_mean_face": (
        "Gender mean face",
        "the mean shape of the gender a voice classifier hears",
    ),
    "teacher_on_photos": (
        "Teacher on photos",
        "the image→3DMM teacher on the test identities' own photos, averaged per identity: the "
        "ceiling of voice → image → teacher",
    ),
    "baseline": (
        "Baseline",
        "pretrained voice→face GAN, then the image→3DMM teacher, no joint training",
    ),
    "supervised": (
        "Supervised",
        "voice encoder + regression head trained on fitted 3DMM parameters",
    ),
    "supervised_ge2e": (
        "Supervised (GE2E)",
        "the same heads on resemblyzer's pretrained GE2E speaker embedding, trained on "
        "VoxCeleb1/2 dev and LibriSpeech speakers: on real data most A–E test speakers are "
        "VoxCeleb1 dev speakers it has heard, so that row is optimistic; the synthetic world's "
        "voices share no speaker with it but lie outside its training domain",
    ),
    "unsupervised": (
        "Unsupervised",
        "GAN and student trained jointly with knowledge distillation (Table 5: one model per "
        "distillation method)",
    ),
}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; the first column is left-aligned, the others right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_p(p: float | None) -> str:
    """A p-value: three decimals, scientific below 0.001, "—" when absent or NaN."""
    if p is None or not math.isfinite(p):
        return MISSING
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def family_line(results: Mapping, name: str, confidence: float = 0.95) -> str:
    """One line under a table: its Holm family, the family's size and the floor of its Holm p."""
    family = results.get("families", {}).get(name)
    if family is None:
        return f"Holm family `{name}`: not in metrics/evaluate.json."
    n, alpha = family["tests"], 1.0 - confidence
    line = f"Holm family `{name}`: {n} tests; * = Holm-adjusted p < {alpha:g}."
    resamples = results.get("counts", {}).get("resamples")
    if resamples:
        floor = smallest_holm_p(resamples, n)
        line += f" With {resamples} resamples the smallest Holm p here is {floor:.3g}"
        line += " (no test can reach significance)." if floor >= alpha else "."
    return line


def reading_note(results: Mapping, confidence: float = 0.95) -> str:
    """How to read the tables: seeds, the two-level bootstrap, % changes, Holm."""
    seeds = results.get("counts", {}).get("seeds", "?")
    level = f"{100 * confidence:g} %"
    return (
        f'How to read these tables. Every network row is trained with {seeds} seeds ("Seeds"); '
        "its value is the grand mean over seeds and test identities (utterances averaged per "
        f"identity first). The {level} CI and the p-values include the seed-to-seed variance: "
        "a two-level bootstrap resamples the identities (the same draw for every row, so rows "
        "are paired) and, independently per row, its seeds. p is the two-sided bootstrap p of "
        "the paired difference row − comparator from the same resamples; in brackets the "
        "Holm-adjusted p within the family named under the table (block × table: all rows, "
        'metrics and comparators of the table). "% vs baseline" ("% vs gender mean face") '
        "is the relative difference of the row's grand mean from the comparator's: negative = "
        "lower error; the paper's columns compare the paper's own numbers. The mean faces need "
        'no training ("none"); the paper reports one model per row.'
    )


def header(results: Mapping, figures: Mapping[str, str], confidence: float = 0.95) -> str:
    """What the rows are, the test-set size, the gender classifier, the statistics, figures."""
    counts, gender = results.get("counts", {}), results.get("gender_from_voice", {})
    lines = [
        "# Voice2Mesh: Tables 1–5",
        "",
        "Rows: "
        + "; ".join(
            f"**{label}** — {what}"
            for row, (label, what) in ROW_NOTES.items()
            if row not in counts.get("rows_left_out", {})
        )
        + ".",
        "",
        f"Test set: {counts.get('test_identities', '?')} identities, "
        f"{counts.get('test_utterances', '?')} utterances (metrics averaged per identity first); "
        f"{counts.get('seeds', '?')} training seeds per network row.",
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
    lines.append(
        f"Values are grand means with {100 * confidence:g} % two-level bootstrap confidence "
        "intervals over identities and training seeds; p-values are two-sided paired bootstrap "
        "p-values, shown as p (Holm-adjusted p). Lower is better for every metric."
    )
    if figures:
        lines += ["", "Figures: " + ", ".join(f"[{t}]({p})" for t, p in figures.items()) + "."]
    return "\n".join(lines)


def paired_section(
    paired: pd.DataFrame,
    block: str,
    comparators: Sequence[str],
    labels: Mapping[str, str],
    order: Sequence[str],
    metrics: Sequence[str] = ("ARE", "NME", "RMSE"),
) -> str:
    """Paired differences (row − comparator, negative = row better) of one block of
    ``paired.csv``, with p and Holm-adjusted p."""
    sel = paired[(paired.block == block) & paired.comparator.isin(comparators)]
    sel = sel[sel.metric.isin(metrics)]
    if sel.empty:
        return ""
    rank = {name: i for i, name in enumerate((*order, *labels))}
    sel = sel.assign(
        _r=sel.model.map(lambda m: rank.get(m, len(rank))),
        _c=sel.comparator.map(list(comparators).index),
        _m=sel.metric.map(list(metrics).index),
    ).sort_values(["_m", "_c", "_r", "model"], kind="stable")
    rows = [
        [
            r.metric,
            labels.get(r.model, r.model),
            labels.get(r.comparator, r.comparator),
            f"{r.diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
            fmt_p(r.p),
            fmt_p(getattr(r, "p_holm", None)),
        ]
        for r in sel.itertuples()
    ]
    head = ["Metric", "Row", "Comparator", "Difference [CI]", "p", "Holm p"]
    title = "### Paired differences (row − comparator; negative = row better)\n\n"
    return title + markdown_table(head, rows)
