"""Holm families of the paired tests, and the per-block summary that carries them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.blocks import summarise_blocks
from voice2mesh.evaluation.families import (
    adjust,
    families,
    family_of,
    too_few_resamples,
    with_holm,
)
from voice2mesh.evaluation.scorings import block_name
from voice2mesh.evaluation.stats import holm, smallest_holm_p


def _tests() -> pd.DataFrame:
    rows = [  # block, model, comparator, metric, p
        ("vs_reference", "supervised", "baseline", "ARE", 0.01),
        ("vs_reference", "supervised", "mean_face", "ARE", 0.04),
        ("vs_reference", "mean_face", "baseline", "ARE", 0.03),
        ("vs_reference", "baseline", "mean_face", "ARE", 0.03),  # the mirror image
        ("vs_reference", "supervised", "baseline", "NME", 0.005),
        ("vs_reference", "kd_ablation@rkd", "baseline", "ARE", 0.02),
        ("vs_reference", "kd_ablation@kd", "baseline", "ARE", 0.5),
        ("shape_only", "supervised", "baseline", "ARE", 0.01),
        ("vs_reference", "someone_else", "baseline", "ARE", 0.01),
    ]
    return pd.DataFrame(rows, columns=["block", "model", "comparator", "metric", "p"])


def test_families_are_block_and_table() -> None:
    assert family_of("vs_truth", "unsupervised") == "vs_truth: Tables 1-4"
    assert family_of("shape_only", "kd_ablation@crd") == "shape_only: Table 5"
    assert family_of("vs_reference", "not_a_row") is None
    assert [
        block_name(r, s) for r in ("reference", "truth") for s in ("as_predicted", "shape_only")
    ] == [
        "vs_reference",
        "shape_only",
        "vs_truth",
        "shape_only_vs_truth",
    ]
    with pytest.raises(ValueError, match="unknown scoring"):
        block_name("reference", "neutral")


def test_holm_within_each_family_counting_a_mirrored_test_once() -> None:
    out = adjust(_tests())
    main = out[out.family == "vs_reference: Tables 1-4"]
    # four distinct tests: 0.01, 0.04, 0.03 (twice: mirror images), 0.005
    expected = holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(
        main.p_holm, [expected[0], expected[1], expected[2], expected[2], expected[3]]
    )
    kd = out[out.family == "vs_reference: Table 5"]
    np.testing.assert_allclose(kd.p_holm, [0.04, 0.5])
    shape = out[out.family == "shape_only: Tables 1-4"]
    assert shape.p_holm.tolist() == [0.01]  # a family of one: unadjusted
    assert np.isnan(out.p_holm.iloc[-1]) and pd.isna(out.family.iloc[-1])
    assert families(out) == {
        "shape_only: Tables 1-4": {"tests": 1, "adjustment": "Holm"},
        "vs_reference: Table 5": {"tests": 2, "adjustment": "Holm"},
        "vs_reference: Tables 1-4": {"tests": 4, "adjustment": "Holm"},
    }


def test_holm_values_land_beside_the_raw_p() -> None:
    summary = {"supervised": {"n_seeds": 3, "ARE": {"mean": 0.1, "p_vs_baseline": 0.01}}}
    out = adjust(_tests())
    adjusted = with_holm(
        summary,
        out[(out.block == "vs_reference") & (out.model == "supervised") & (out.metric == "ARE")],
    )
    assert adjusted["supervised"]["ARE"]["p_holm_vs_baseline"] == pytest.approx(0.03)
    assert adjusted["supervised"]["n_seeds"] == 3
    assert "p_holm_vs_baseline" not in summary["supervised"]["ARE"]  # the input is not changed


def _scored(n_ids: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = [f"id{i:02d}" for i in range(n_ids)]
    frames = []
    for reference in ("reference", "truth"):
        for scoring in ("as_predicted", "shape_only"):
            base = rng.normal(1.0, 0.1, n_ids)
            rows = [("mean_face", -1, base), ("gender_mean_face", -1, base - 0.05)]
            rows += [("baseline", s, base + 0.01 * s) for s in (0, 1)]
            rows += [("supervised", s, base - 0.2 + 0.01 * s) for s in (0, 1)]
            rows += [("kd_ablation@rkd", s, base - 0.1) for s in (0, 1)]
            for model, seed, values in rows:
                frames.append(
                    pd.DataFrame(
                        {
                            "reference": reference,
                            "scoring": scoring,
                            "model": model,
                            "seed": seed,
                            "identity": ids,
                            "ARE": values,
                            "NME": 2 * values,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def test_every_block_is_summarised_and_every_family_adjusted() -> None:
    comparators = ("mean_face", "gender_mean_face", "baseline")
    results, paired = summarise_blocks(_scored(), ("ARE", "NME"), comparators, 300, 0.95, 0)
    blocks = ("vs_reference", "shape_only", "vs_truth", "shape_only_vs_truth")
    assert set(results) == {*blocks, "families"}
    for block in blocks:
        entry = results[block]["supervised"]
        assert entry["n_seeds"] == 2 and results[block]["mean_face"]["n_seeds"] == 1
        for comp in comparators:
            assert entry["ARE"][f"p_holm_vs_{comp}"] >= entry["ARE"][f"p_vs_{comp}"]
    # Tables 1-4: supervised x 3 + baseline x 2 + the two mean faces x 2, less 3 mirrored,
    # = 6 distinct pairs x 2 metrics; Table 5: kd_ablation@rkd x 3 comparators x 2 metrics
    for block in blocks:
        assert results["families"][f"{block}: Tables 1-4"] == {"tests": 12, "adjustment": "Holm"}
        assert results["families"][f"{block}: Table 5"] == {"tests": 6, "adjustment": "Holm"}
    assert list(paired.columns[:4]) == ["block", "model", "comparator", "metric"]
    assert {"p", "p_holm", "family"} <= set(paired.columns)


def test_families_too_small_for_their_resamples_are_named() -> None:
    found = {"a: Tables 1-4": {"tests": 117}, "a: Table 5": {"tests": 6}}
    (message,) = too_few_resamples(found, 2000, 0.05)
    assert "'a: Tables 1-4' has 117 tests" in message and "0.117" in message
    assert "at least 4680" in message
    assert smallest_holm_p(4680, 117) < 0.05 <= smallest_holm_p(4679, 117)
    assert too_few_resamples(found, 4680, 0.05) == []
