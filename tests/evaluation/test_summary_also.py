"""``summarise``'s per-model extra comparators (``also``) and its seed spread (``seed_sd``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.summary import summarise

METRICS = ("ARE", "NME")


def _rows(n_ids: int = 10) -> pd.DataFrame:
    """A one-seed mean face and three-seed models ``a`` (low error), ``b`` (high), ``c`` (in
    between), ``twin`` (a's networks under another name); identities have 1-3 utterances, so a
    per-seed mean of identity means is not the mean of the utterances."""
    rng = np.random.default_rng(5)
    per = rng.integers(1, 4, n_ids)
    ids = np.repeat([f"id{i:02d}" for i in range(n_ids)], per)
    base = rng.normal(1.0, 0.2, len(ids))
    frames = [pd.DataFrame({"model": "mean_face", "seed": -1, "identity": ids, "ARE": base})]
    for seed in (0, 1, 2):
        noise = 0.05 * rng.normal(size=len(ids))
        for model, offset in (("a", -0.3), ("b", 0.3), ("c", 0.0), ("twin", -0.3)):
            are = (
                base + offset + (noise if model in ("a", "twin") else rng.normal(0, 0.05, len(ids)))
            )
            frames.append(pd.DataFrame({"model": model, "seed": seed, "identity": ids, "ARE": are}))
    rows = pd.concat(frames, ignore_index=True)
    return rows.assign(NME=2.0 * rows.ARE + 0.1 * rows.seed)


def _comparisons(summary: dict, model: str) -> set[str]:
    return {k.removeprefix("p_vs_") for k in summary[model]["ARE"] if k.startswith("p_vs_")}


def test_an_extra_comparator_is_tested_for_its_model_only() -> None:
    rows = _rows()
    summary, paired = summarise(rows, METRICS, ("mean_face",), 300, also={"a": ("b",)})
    assert _comparisons(summary, "a") == {"mean_face", "b"}
    for model in ("b", "c", "twin"):
        assert _comparisons(summary, model) == {"mean_face"}, model
    assert _comparisons(summary, "mean_face") == set()
    pairs = paired[paired.comparator == "b"]
    assert set(pairs.model) == {"a"} and sorted(pairs.metric) == sorted(METRICS)
    diff = pairs.set_index("metric").loc["ARE", "diff"]
    by_model = rows.groupby("model").ARE.mean()  # utterance means
    assert diff < 0 and summary["a"]["ARE"]["p_vs_b"] == pytest.approx(2 / 301)
    per_id = rows.groupby(["model", "seed", "identity"]).ARE.mean().groupby("model").mean()
    assert diff == pytest.approx(per_id["a"] - per_id["b"])
    assert diff != pytest.approx(by_model["a"] - by_model["b"])  # identity means, not utterances


def test_an_extra_comparator_is_tested_as_a_common_one_is() -> None:
    rows = _rows()
    extra, extra_pairs = summarise(rows, METRICS, ("mean_face",), 300, also={"c": ("b",)})
    common, common_pairs = summarise(rows, METRICS, ("mean_face", "b"), 300)
    for metric in METRICS:
        assert extra["c"][metric] == common["c"][metric]
    pick = ["model", "comparator", "metric"]
    mine = extra_pairs[extra_pairs.comparator == "b"].set_index(pick)
    pd.testing.assert_frame_equal(
        mine, common_pairs[common_pairs.model == "c"].set_index(pick).loc[mine.index]
    )


def test_an_extra_comparator_already_common_or_absent_adds_nothing() -> None:
    rows = _rows()
    base, base_pairs = summarise(rows, METRICS, ("mean_face",), 200)
    again, pairs = summarise(
        rows, METRICS, ("mean_face",), 200, also={"a": ("mean_face", "not_evaluated")}
    )
    assert again == base
    pd.testing.assert_frame_equal(pairs, base_pairs)  # no duplicated test


def test_a_comparator_that_is_the_same_networks_is_skipped() -> None:
    rows = _rows()
    keys = {"twin": "a"}
    summary, paired = summarise(
        rows, METRICS, ("mean_face",), 300, draw_keys=keys, also={"twin": ("a", "b"), "c": ("a",)}
    )
    assert _comparisons(summary, "twin") == {"mean_face", "b"}  # not against itself
    assert _comparisons(summary, "c") == {"mean_face", "a"}
    assert not ((paired.model == "twin") & (paired.comparator == "a")).any()
    # the same draw key is skipped for the common comparators as well
    common, _ = summarise(rows, METRICS, ("a",), 300, draw_keys=keys)
    assert _comparisons(common, "twin") == set() and _comparisons(common, "c") == {"a"}
    # without the shared key the twin is a model of its own and is tested
    apart, _ = summarise(rows, METRICS, ("mean_face",), 300, also={"twin": ("a",)})
    assert _comparisons(apart, "twin") == {"mean_face", "a"}


def test_seed_sd_is_the_spread_of_the_per_seed_means() -> None:
    rows = _rows()
    summary, _ = summarise(rows, METRICS, ("mean_face",), 200)
    for model in ("a", "b", "c"):
        for metric in METRICS:
            by_identity = rows[rows.model == model].groupby(["seed", "identity"])[metric].mean()
            per_seed = by_identity.groupby("seed").mean().to_numpy()  # (3,)
            expected = np.sqrt(((per_seed - per_seed.mean()) ** 2).sum() / (len(per_seed) - 1))
            assert summary[model][metric]["seed_sd"] == pytest.approx(expected, rel=1e-12)
            assert summary[model][metric]["seed_sd"] > 0
    # NME adds 0.1 x seed: the spread of 0, 0.1, 0.2 on top of 2 x ARE's
    assert summary["a"]["NME"]["seed_sd"] > 0.05
    assert summary["mean_face"]["ARE"]["seed_sd"] is None  # one seed: no spread
    one = rows[(rows.model != "mean_face") & (rows.seed == 1)]
    single, _ = summarise(one, METRICS, (), 100)
    assert all(single[m][k]["seed_sd"] is None for m in single for k in METRICS)
    assert all(single[m]["n_seeds"] == 1 for m in single)


def test_identical_seeds_have_no_spread() -> None:
    rows = _rows()
    first = rows[(rows.model == "c") & (rows.seed == 0)]
    same = pd.concat([first.assign(seed=s) for s in (0, 1)], ignore_index=True)
    summary, _ = summarise(same, METRICS, (), 100)
    assert summary["c"]["n_seeds"] == 2 and summary["c"]["ARE"]["seed_sd"] == 0.0


def test_a_metric_a_model_was_not_scored_on_is_left_out_with_its_tests() -> None:
    """NME NaN throughout for ``b`` (as the ICP metrics of Table 5's rows): no NME entry for b,
    no NME test of b or against b; ARE untouched, other models' NME untouched."""
    rows = _rows()
    full, full_paired = summarise(rows, METRICS, ("mean_face", "b"), 300)
    rows.loc[rows.model == "b", "NME"] = np.nan
    summary, paired = summarise(rows, METRICS, ("mean_face", "b"), 300)
    assert "NME" not in summary["b"] and summary["b"]["ARE"] == full["b"]["ARE"]
    assert "p_vs_b" not in summary["a"]["NME"] and "p_vs_b" in summary["a"]["ARE"]
    assert summary["a"]["NME"]["p_vs_mean_face"] == full["a"]["NME"]["p_vs_mean_face"]
    nme = paired[paired.metric == "NME"]
    assert not ((nme.model == "b") | (nme.comparator == "b")).any()
    assert len(paired) == len(full_paired) - len(
        full_paired[
            (full_paired.metric == "NME")
            & ((full_paired.model == "b") | (full_paired.comparator == "b"))
        ]
    )
