"""Tables 1-5 in markdown (voice2mesh.report.tables), from a small fake evaluate.json."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.blocks import summarise_blocks
from voice2mesh.evaluation.rows import KD_ROWS, MAIN_ROWS, VS_KD_METHOD
from voice2mesh.evaluation.scoring import METRIC_COLUMNS
from voice2mesh.report import tables as t
from voice2mesh.report.notes import ROW_NOTES

ROWS = ("mean_face", "gender_mean_face", "supervised", "kd_ablation@rkd")
BLOCKS = ("vs_reference", "vs_truth", "shape_only", "shape_only_vs_truth")


def fake_summary(rows: tuple[str, ...], comparators: tuple[str, ...], shift: float = 0.0) -> dict:
    """row -> n_seeds, metric -> {mean, seed_sd, ci_low, ci_high, p_vs_*, p_holm_vs_*}; values
    differ per row and metric (seed_sd: None for the one-seed mean faces, 0.0005 (i + 1) else)."""
    out = {}
    for i, row in enumerate(rows):
        n_seeds = 1 if "mean_face" in row else 3
        out[row] = {"n_seeds": n_seeds}
        for j, metric in enumerate(METRIC_COLUMNS):
            mean = 0.02 + 0.001 * i + 0.0001 * j + shift
            spread = None if n_seeds == 1 else 0.0005 * (i + 1)
            entry = {"mean": mean, "seed_sd": spread, "ci_low": mean - 0.002}
            entry["ci_high"] = mean + 0.003
            entry |= {f"p_vs_{c}": 0.01 * (i + 1) for c in comparators if c != row}
            entry |= {f"p_holm_vs_{c}": min(1.0, 0.03 * (i + 1)) for c in comparators if c != row}
            out[row][metric] = entry
    return out


def fake_results(rows=ROWS, truth: bool = True) -> dict:
    comparators = ("mean_face", "gender_mean_face") + (("baseline",) if "baseline" in rows else ())
    results = {
        "counts": {
            "rows": len(rows),
            "test_identities": 7,
            "test_utterances": 21,
            "seeds": 3,
            "resamples": 2000,
        },
        "gender_from_voice": {"accuracy": 0.9, "majority_baseline": 0.5},
        "families": {},
    }
    for block in BLOCKS if truth else BLOCKS[::2]:
        shift = 0.1 if block.startswith("shape_only") else 0.0
        results[block] = fake_summary(rows, comparators, shift)
        results["families"][f"{block}: Tables 1-4"] = {"tests": 117, "adjustment": "Holm"}
        results["families"][f"{block}: Table 5"] = {"tests": 12, "adjustment": "Holm"}
    return results


def fake_paired() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block": ["vs_reference", "vs_reference", "shape_only"],
            "model": ["supervised", "supervised", "supervised"],
            "comparator": ["gender_mean_face"] * 3,
            "metric": ["ARE", "ER", "ARE"],
            "diff": [-0.0012, 0.0003, -0.5],
            "ci_low": [-0.002, -0.001, -0.6],
            "ci_high": [-0.0004, 0.001, -0.4],
            "p": [0.0031, 0.5, 0.001],
            "family": ["vs_reference: Tables 1-4"] * 2 + ["shape_only: Tables 1-4"],
            "p_holm": [0.0341, 1.0, 0.002],
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
        assert "### Tables 1-4, shape only" in part
    columns = (
        "| Metric | Mean face | Gender mean face | Teacher on photos | Baseline | Supervised "
        "| Supervised (GE2E) | Unsupervised |"
    )
    assert columns + " Paper: Baseline | Paper: Supervised | Paper: Unsupervised |" in ref
    assert columns + "\n" in truth and "Paper:" not in truth  # paper numbers: reference only
    table4 = section(ref, "### Table 4.")
    for label in ("Left eye", "Right eye", "Nose", "Mouth", "Left cheek", "Right cheek"):
        assert f"| {label} |" in table4
    table5 = section(ref, "### Table 5.")
    assert cells(table5, "KD method") == [
        "KD method",
        "Seeds",
        "ARE mean [95 % CI]",
        "Seed SD",
        "% vs baseline",
        "% vs gender mean face",
        "p (Holm) vs baseline",
        "p (Holm) vs gender mean face",
        "p (Holm) vs kd.method",
        "Paper: ARE mean",
    ]
    assert cells(section(truth, "### Table 5."), "KD method")[-1] == "p (Holm) vs kd.method"
    assert [line.split(" | ")[0][2:] for line in table5.splitlines() if line.startswith("| ")][
        1:
    ] == ["KD", "Attention", "SP", "Correlation", "RKD", "CRD", "VID", "PKT"]
    assert "[meshes](figures/meshes.png)" in text
    assert "7 identities, 21 utterances" in text and "accuracy 0.900" in text
    assert "3 training seeds per network row" in text and "two-level bootstrap" in text


def test_seeds_are_shown_per_row():
    text = t.render_tables(fake_results(truth=False))
    table1 = section(text, "### Table 1.")
    # mean faces: no training; teacher on photos, baseline and unsupervised absent; the paper:
    # one model per row
    assert cells(table1, "Seeds")[1:] == ["none", "none", "—", "—", "3", "—", "—", "1", "1", "1"]
    table5 = section(text, "### Table 5.")
    assert cells(table5, "RKD")[1] == "3" and cells(table5, "Attention")[1] == "—"
    shape = section(text, "### Tables 1-4, shape only")
    assert cells(shape, "Seeds")[1:] == ["none", "none", "—", "—", "3", "—", "—"]


def test_p_values_come_with_holm_and_their_family():
    text = t.render_tables(fake_results(truth=False))
    table1 = section(text, "### Table 1.")
    p_table = table1[table1.index("p (Holm-adjusted p)") :]
    # supervised is row 2: p = 0.03, Holm p = 0.09 vs the gender mean face; no baseline row
    assert cells(p_table, "Mean")[5] == "— / 0.030 (0.090)"
    assert cells(p_table, "Mean")[1] == "— / 0.010 (0.030) *"  # the mean face, row 0
    assert "Holm family `vs_reference: Tables 1-4`: 117 tests" in table1
    assert "the smallest Holm p here is 0.117 (no test can reach significance)" in table1
    table5 = section(text, "### Table 5.")
    assert "Holm family `vs_reference: Table 5`: 12 tests" in table5
    assert "smallest Holm p here is 0.012." in table5
    assert t.fmt_p_holm({"p_vs_baseline": 0.001, "p_holm_vs_baseline": 0.01}, "baseline", 0.05) == (
        "0.001 (0.010) *"
    )
    assert t.fmt_p_holm({}, "baseline", 0.05) == "—"


def test_shape_only_tables_and_units():
    results = fake_results()
    text = t.render_tables(results)
    for kind, block in (("reference", "shape_only"), ("truth", "shape_only_vs_truth")):
        title = (
            "Against the reference (fitted) faces" if kind == "reference" else "Against the true"
        )
        part = section(section(text, f"## {title}"), "### Tables 1-4, shape only")
        entry = results[block]["supervised"]["NME"]
        assert cells(part, "NME")[5] == t.fmt_ci(entry, 4)
        assert [c[0] for c in (cells(part, m) for m in ("Mean", "NME", "RMSE"))] == [
            "Mean",
            "NME",
            "RMSE",
        ]
        assert f"Holm family `{block}: Tables 1-4`" in part
    table3 = section(text, "### Table 3.")
    assert "3DDFA crop units" in table3.splitlines()[0] and "RMSE (mm)" not in text
    assert "not millimetres" in text


def test_ci_and_p_formatting():
    assert t.fmt_ci({"mean": 0.02543, "ci_low": 0.02311, "ci_high": 0.02784}, 4) == (
        "0.0254 [0.0231, 0.0278]"
    )
    assert t.fmt_ci(None, 4) == "—"
    assert t.fmt_p(0.04321) == "0.043" and t.fmt_p(0.00012) == "1.2e-04" and t.fmt_p(None) == "—"
    assert t.fmt_value(float("nan"), 3) == "—"
    text = t.render_tables(fake_results())
    entry = fake_results()["vs_reference"]["supervised"]["RMSE"]
    assert "| RMSE | " in text and t.fmt_ci(entry, 3) in section(text, "### Table 3.")


def test_missing_rows_are_dashes_with_a_footnote():
    text = t.render_tables(fake_results(truth=False))
    assert "Against the true faces" not in text
    table1 = section(text, "### Table 1.")
    er = cells(table1, "ER")
    assert er[3] == er[4] == er[6] == "—"  # teacher on photos, baseline, unsupervised
    assert er[5].startswith("0.")  # supervised is there
    missing = "Teacher on photos, Baseline, Supervised (GE2E), Unsupervised."
    assert f"—: not in metrics/evaluate.json: {missing}" in table1
    table5 = section(text, "### Table 5.")
    assert cells(table5, "RKD")[2] == "0.0234 [0.0214, 0.0264]"  # row 3, ARE = metric 4
    assert "not in metrics/evaluate.json: KD, Attention, SP, Correlation, CRD, VID, PKT." in table5


def test_percent_change_by_hand_and_what_it_compares():
    rows = ("gender_mean_face", "baseline", "supervised")
    results = fake_results(rows, truth=False)
    ref = results["vs_reference"]
    ref["baseline"]["ARE"]["mean"] = 0.0300
    ref["supervised"]["ARE"]["mean"] = 0.0255
    ref["gender_mean_face"]["ARE"]["mean"] = 0.0250
    text = t.render_tables(results)
    table1 = section(text, "### Table 1.")
    vs_base = cells(table1, "Mean: % vs baseline")
    # columns: label, mean face, gender mean face, teacher on photos, baseline, supervised,
    # supervised (GE2E), unsupervised, paper x3
    assert vs_base[1:8] == ["—", "-16.7 %", "—", "—", "-15.0 %", "—", "—"]
    assert vs_base[9:11] == ["-18.9 %", "-15.9 %"]  # the paper: 0.0245 and 0.0254 vs 0.0302
    vs_gender = cells(table1, "Mean: % vs gender")
    assert vs_gender[4:6] == ["+20.0 %", "+2.0 %"]
    note = text[text.index("How to read these tables") :]
    assert "seed-to-seed variance" in note and "relative difference of the row's grand mean" in note


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
    row = "| ARE | Supervised | Gender mean face | -0.0012 [-0.0020, -0.0004] | 0.003 | 0.034 |"
    assert row in paired
    assert "| ER |" not in paired  # only the tables' summary metrics
    assert "-0.5000" not in paired  # shape-only tests are not the as-predicted block's


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


def test_table5_seed_sd_and_p_vs_the_kd_method_row():
    rows = ("gender_mean_face", "baseline", "unsupervised", "kd_ablation@rkd", "kd_ablation@pkt")
    results = fake_results(rows, truth=False)
    ref = results["vs_reference"]
    ref["kd_ablation@pkt"]["ARE"] |= {"p_vs_unsupervised": 0.004, "p_holm_vs_unsupervised": 0.02}
    ref["kd_ablation@rkd"]["ARE"]["seed_sd"] = 0.00123  # the kd.method row: not tested vs itself
    ref["kd_ablation@pkt"]["n_seeds"] = 1
    ref["kd_ablation@pkt"]["ARE"]["seed_sd"] = None
    table5 = section(t.render_tables(results), "### Table 5.")
    rkd, pkt = cells(table5, "RKD"), cells(table5, "PKT")
    # columns: method, seeds, ARE [CI], seed SD, % x2, p x2, p vs kd.method, paper
    assert rkd[3] == "0.0012" and pkt[3] == "—"  # one seed: no spread
    assert rkd[1] == "3" and pkt[1] == "1"
    assert pkt[8] == "0.004 (0.020) *" and rkd[8] == "—"
    assert rkd[6] == "0.040 (0.120)" and pkt[7] == "0.050 (0.150)"  # vs baseline, vs gender
    assert pkt[6] != pkt[8]  # the kd.method column reads p_vs_unsupervised, not a comparator's
    assert cells(table5, "SP")[3] == cells(table5, "SP")[8] == "—"  # absent row
    assert "| Unsupervised |" not in table5  # the kd.method row is a column here, not a row


def test_table5_from_summarise_blocks_with_the_kd_method_comparator():
    """evaluate's chain: every Table 5 row is also tested against ``unsupervised`` (the
    ``kd.method`` row), except the ``kd.method`` row itself, which is the same networks."""
    rng = np.random.default_rng(0)
    ids = [f"id{i}" for i in range(12)]
    base = rng.normal(1.0, 0.2, len(ids))
    offsets = {"gender_mean_face": 0.0, "baseline": 0.1, "unsupervised": -0.2}
    offsets |= {"kd_ablation@rkd": -0.2, "kd_ablation@pkt": 0.3}
    frames = []
    for model, offset in offsets.items():
        seeds = (-1,) if model == "gender_mean_face" else (0, 1, 2)
        for seed in seeds:
            same = model in ("unsupervised", "kd_ablation@rkd")  # one network, one noise
            noise = np.random.default_rng([seed + 1, 0 if same else len(model)]).normal(size=12)
            frames.append(
                pd.DataFrame(
                    {
                        "reference": "reference",
                        "scoring": "as_predicted",
                        "model": model,
                        "seed": seed,
                        "identity": ids,
                        "ARE": base + offset + 0.01 * noise + 0.01 * seed,
                    }
                )
            )
    scored = pd.concat(frames, ignore_index=True)
    keys = {"unsupervised": "unsupervised", "kd_ablation@rkd": "unsupervised"}
    results, _ = summarise_blocks(
        scored, ("ARE",), ("gender_mean_face", "baseline"), 200, 0.95, 0, keys, VS_KD_METHOD
    )
    summary = results["vs_reference"]
    assert "p_vs_unsupervised" not in summary["kd_ablation@rkd"]["ARE"]
    assert "p_holm_vs_unsupervised" in summary["kd_ablation@pkt"]["ARE"]
    assert "p_vs_unsupervised" not in summary["baseline"]["ARE"]  # Table 5 rows only
    table5 = section(t.kd_table(results, "vs_reference", paper=False), "### Table 5.")
    pkt, rkd = cells(table5, "PKT"), cells(table5, "RKD")
    per_seed = scored.query("model == 'kd_ablation@pkt'").groupby("seed").ARE.mean()
    assert pkt[3] == f"{per_seed.std(ddof=1):.4f}" != "0.0000"
    assert pkt[-1] == t.fmt_p_holm(summary["kd_ablation@pkt"]["ARE"], "unsupervised", 0.05)
    # two-sided, 2 / (200 + 1): pkt is worse than the kd.method row in every draw
    assert summary["kd_ablation@pkt"]["ARE"]["p_vs_unsupervised"] == pytest.approx(2 / 201)
    assert pkt[-1].startswith("0.010 (")
    assert rkd[-1] == "—"


def test_a_row_left_out_loses_its_column_and_says_why():
    """``counts.rows_left_out``: no column, no dash, not "missing"; a line names it and why."""
    results = fake_results(truth=False)
    results["counts"]["rows_left_out"] = {"supervised_ge2e": "no waveforms"}
    text = t.render_tables(results)
    for heading in ("### Table 1.", "### Table 4.", "### Tables 1-4, shape only"):
        table = section(text, heading)
        assert "Supervised (GE2E)" not in cells(table, "Metric")
        assert cells(table, "Metric")[1:5] == [
            "Mean face", "Gender mean face", "Teacher on photos", "Baseline"
        ]  # fmt: skip
        assert "Left out: Supervised (GE2E): no waveforms." in table
        assert "not in metrics/evaluate.json: Teacher on photos, Baseline, Unsupervised." in table
    table1 = section(text, "### Table 1.")
    assert cells(table1, "Metric")[5] == "Supervised"
    assert cells(table1, "ER")[5].startswith("0.")  # the supervised value under its own label
    table5 = section(text, "### Table 5.")
    assert "Left out" not in table5 and "GE2E" not in table5
    assert t.render_tables(fake_results(truth=False)).count("Left out") == 0


def test_the_header_describes_each_main_row_but_a_left_out_one():
    assert tuple(ROW_NOTES) == MAIN_ROWS  # a new row needs its description
    results = fake_results(truth=False)
    rows_line = next(line for line in t.render_tables(results).splitlines() if "Rows:" in line)
    assert all(f"**{label}** — " in rows_line for label, _ in ROW_NOTES.values())
    results["counts"]["rows_left_out"] = {"supervised_ge2e": "no waveforms"}
    rows_line = next(line for line in t.render_tables(results).splitlines() if "Rows:" in line)
    assert "GE2E" not in rows_line and "**Supervised** — " in rows_line
