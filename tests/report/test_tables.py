"""Tables 1-5 in markdown (voice2mesh.report.tables), from a small fake evaluate.json."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from voice2mesh.evaluation.rows import KD_ROWS
from voice2mesh.evaluation.scoring import METRIC_COLUMNS
from voice2mesh.report import tables as t

ROWS = ("mean_face", "gender_mean_face", "supervised", "kd_ablation@rkd")


def fake_summary(rows: tuple[str, ...], comparators: tuple[str, ...]) -> dict:
    """row -> metric -> {mean, ci_low, ci_high, p_vs_*}; values differ per row and metric."""
    out = {}
    for i, row in enumerate(rows):
        out[row] = {}
        for j, metric in enumerate(METRIC_COLUMNS):
            mean = 0.02 + 0.001 * i + 0.0001 * j
            entry = {"mean": mean, "ci_low": mean - 0.002, "ci_high": mean + 0.003}
            entry |= {f"p_vs_{c}": 0.01 * (i + 1) for c in comparators if c != row}
            out[row][metric] = entry
    return out


def fake_results(rows=ROWS, truth: bool = True) -> dict:
    comparators = ("mean_face", "gender_mean_face") + (("baseline",) if "baseline" in rows else ())
    results = {
        "counts": {"rows": len(rows), "test_identities": 7, "test_utterances": 21},
        "gender_from_voice": {"accuracy": 0.9, "majority_baseline": 0.5},
        "vs_reference": fake_summary(rows, comparators),
    }
    if truth:
        results["vs_truth"] = fake_summary(rows, comparators)
    return results


def fake_paired() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["supervised", "supervised"],
            "comparator": ["gender_mean_face", "gender_mean_face"],
            "metric": ["ARE", "ER"],
            "diff": [-0.0012, 0.0003],
            "ci_low": [-0.002, -0.001],
            "ci_high": [-0.0004, 0.001],
            "p": [0.0031, 0.5],
            "reference": ["reference", "reference"],
        }
    )


def cells(table: str, first: str) -> list[str]:
    """The cells of the first row of ``table`` whose first cell starts with ``first``."""
    for line in table.splitlines():
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and row[0].startswith(first):
            return row
    raise AssertionError(f"no row {first!r} in\n{table}")


def section(text: str, heading: str) -> str:
    """The text from ``heading`` to the next heading of the same or a higher level."""
    start = text.index(heading)
    level = heading.split(" ")[0]
    rest = text[start + len(heading) :]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{len(level)}}} ", rest, re.M)]
    return heading + (rest[: ends[0]] if ends else rest)


def test_every_table_with_the_paper_layout():
    text = t.render_tables(fake_results(), fake_paired(), {"meshes": "figures/meshes.png"})
    ref = section(text, "## Against the reference (fitted) faces")
    truth = section(text, "## Against the true faces (synthetic world only)")
    for part in (ref, truth):
        for n in range(1, 6):
            assert f"### Table {n}." in part
    columns = "| Metric | Mean face | Gender mean face | Baseline | Supervised | Unsupervised |"
    assert columns + " Paper: Baseline | Paper: Supervised | Paper: Unsupervised |" in ref
    assert columns + "\n" in truth and "Paper:" not in truth  # paper numbers: reference only
    table4 = section(ref, "### Table 4.")
    for label in ("Left eye", "Right eye", "Nose", "Mouth", "Left cheek", "Right cheek"):
        assert f"| {label} |" in table4
    table5 = section(ref, "### Table 5.")
    assert [line.split(" | ")[0][2:] for line in table5.splitlines() if line.startswith("| ")][
        1:
    ] == ["KD", "Attention", "SP", "Correlation", "RKD", "CRD", "VID", "PKT"]
    assert "[meshes](figures/meshes.png)" in text
    assert "7 identities, 21 utterances" in text and "accuracy 0.900" in text
    assert "Wilcoxon" in text and "bootstrap" in text


def test_ci_and_p_formatting():
    assert t.fmt_ci({"mean": 0.02543, "ci_low": 0.02311, "ci_high": 0.02784}, 4) == (
        "0.0254 [0.0231, 0.0278]"
    )
    assert t.fmt_ci(None, 4) == "—"
    assert t.fmt_p(0.04321) == "0.043" and t.fmt_p(0.00012) == "1.2e-04" and t.fmt_p(None) == "—"
    assert t.fmt_value(float("nan"), 3) == "—"
    text = t.render_tables(fake_results())
    entry = fake_results()["vs_reference"]["supervised"]["RMSE"]
    assert "| RMSE (mm) | " in text and t.fmt_ci(entry, 3) in section(text, "### Table 3.")


def test_missing_rows_are_dashes_with_a_footnote():
    text = t.render_tables(fake_results(truth=False))
    assert "Against the true faces" not in text
    table1 = section(text, "### Table 1.")
    er = cells(table1, "ER")
    assert er[3] == "—" and er[5] == "—"  # baseline, unsupervised
    assert er[4].startswith("0.")  # supervised is there
    assert "—: not in metrics/evaluate.json: Baseline, Unsupervised." in table1
    table5 = section(text, "### Table 5.")
    assert cells(table5, "RKD")[1] == "0.0234 [0.0214, 0.0264]"  # row 3, ARE = metric 4
    assert "not in metrics/evaluate.json: KD, Attention, SP, Correlation, CRD, VID, PKT." in table5


def test_percent_change_by_hand():
    rows = ("gender_mean_face", "baseline", "supervised")
    results = fake_results(rows, truth=False)
    ref = results["vs_reference"]
    ref["baseline"]["ARE"]["mean"] = 0.0300
    ref["supervised"]["ARE"]["mean"] = 0.0255
    ref["gender_mean_face"]["ARE"]["mean"] = 0.0250
    table1 = section(t.render_tables(results), "### Table 1.")
    vs_base = cells(table1, "Mean: % vs baseline")
    # columns: label, mean face, gender mean face, baseline, supervised, unsupervised, paper x3
    assert vs_base[1:6] == ["—", "-16.7 %", "—", "-15.0 %", "—"]
    assert vs_base[7:9] == ["-18.9 %", "-15.9 %"]  # the paper: 0.0245 and 0.0254 vs 0.0302
    vs_gender = cells(table1, "Mean: % vs gender")
    assert vs_gender[3:5] == ["+20.0 %", "+2.0 %"]
    p_table = table1[table1.index("p-values") :]
    assert cells(p_table, "Mean")[4] == "0.030 / 0.030"  # supervised (row 2): p = 0.01 * 3


def test_paper_numbers_appear():
    text = t.render_tables(fake_results())
    for row in ("baseline", "supervised", "unsupervised"):
        for metric, value in t.PAPER[row].items():
            digits = 3 if metric == "RMSE" else 4
            assert f"{value:.{digits}f}" in text, (row, metric)
    table5 = section(text, "### Table 5.")
    for row in KD_ROWS:
        assert f"{t.PAPER[row]['ARE']:.4f} |" in table5
    assert "not comparable" in text


def test_paired_section_from_the_csv():
    text = t.render_tables(fake_results(truth=False), fake_paired())
    paired = section(text, "### Paired differences")
    assert "| ARE | Supervised | Gender mean face | -0.0012 [-0.0020, -0.0004] | 0.003 |" in paired
    assert "| ER |" not in paired  # only the tables' summary metrics


def test_deterministic():
    args = (fake_results(), fake_paired(), {"meshes": "figures/meshes.png"})
    assert t.render_tables(*args) == t.render_tables(*args)


@pytest.mark.parametrize("value,base,expected", [(1.0, 2.0, "-50.0 %"), (1.0, 0.0, "—")])
def test_pct_change(value, base, expected):
    assert t.pct_change(value, base) == expected


def test_table5_rows_are_the_registry_keys():
    from voice2mesh.distill import REGISTRY

    assert tuple(f"kd_ablation@{key}" for key in REGISTRY) == KD_ROWS
    assert set(KD_ROWS) <= set(t.PAPER)
