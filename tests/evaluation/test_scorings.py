"""Scoring every (row, seed) as predicted and shape-only against every reference kind."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from voice2mesh.evaluation.scoring import METRIC_COLUMNS, REGISTRATION_COLUMNS, score
from voice2mesh.evaluation.scorings import score_all
from voice2mesh.facemodel.synthetic import build_synthetic_model

N_IDS, N_UTT = 4, 2


@pytest.fixture(scope="module")
def model():
    return build_synthetic_model().truncated(8, 3)


@pytest.fixture(scope="module")
def scored(model):
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(N_IDS, 8)) * model.shape_std
    ref_index = np.repeat(np.arange(N_IDS), N_UTT)
    n = len(ref_index)
    test = SimpleNamespace(
        ref_index=ref_index,
        utterances=pd.DataFrame(
            {"identity": [f"id{i}" for i in ref_index], "path": [f"u{k}.wav" for k in range(n)]}
        ),
    )
    net = refs[ref_index] * 0.5 + rng.normal(size=(n, 8)) * model.shape_std
    predictions = {
        ("mean_face", -1): (np.tile(refs.mean(axis=0), (n, 1)), None),
        ("net", 0): (net.astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32) * 2),
        ("net", 1): (net.astype(np.float32) + 0.5, np.zeros((n, 3), np.float32)),
    }
    predictions["copy", 0] = predictions["net", 0]  # two rows reading the same model
    references = {"reference": refs, "truth": refs * 1.05}
    return score_all(model, predictions, test, references), predictions, references, test


def _pick(frame: pd.DataFrame, **where) -> np.ndarray:
    mask = np.ones(len(frame), bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame.loc[mask, list(METRIC_COLUMNS)].to_numpy()


def test_the_layout_has_every_kind_scoring_row_and_seed(scored) -> None:
    frame, predictions, _, test = scored
    assert list(frame.columns[:6]) == ["reference", "scoring", "model", "seed", "identity", "path"]
    assert len(frame) == 2 * 2 * len(predictions) * len(test.ref_index)
    one = frame[(frame.reference == "truth") & (frame.scoring == "shape_only")]
    assert one[one.model == "net"].seed.tolist() == [0] * 8 + [1] * 8
    assert one.identity.iloc[:3].tolist() == ["id0", "id0", "id1"]


def test_the_values_are_those_of_score(scored, model) -> None:
    frame, predictions, references, test = scored
    for kind, refs in references.items():
        shape, expression = predictions["net", 0]
        expected = score(model, shape, expression, refs, test.ref_index).to_numpy()
        got = _pick(frame, reference=kind, scoring="as_predicted", model="net", seed=0)
        np.testing.assert_array_equal(got, expected)
        neutral = score(model, shape, None, refs, test.ref_index).to_numpy()
        got = _pick(frame, reference=kind, scoring="shape_only", model="net", seed=0)
        np.testing.assert_array_equal(got, neutral)


def test_shape_only_zeroes_the_expression_only(scored) -> None:
    frame = scored[0]
    as_predicted = _pick(frame, reference="reference", scoring="as_predicted", model="net", seed=0)
    shape_only = _pick(frame, reference="reference", scoring="shape_only", model="net", seed=0)
    assert not np.allclose(as_predicted, shape_only)  # an expression counts against the row
    for model, seed in (("mean_face", -1), ("net", 1)):  # neutral rows: nothing to zero
        np.testing.assert_array_equal(
            _pick(frame, reference="truth", scoring="as_predicted", model=model, seed=seed),
            _pick(frame, reference="truth", scoring="shape_only", model=model, seed=seed),
        )
    np.testing.assert_array_equal(
        _pick(frame, model="copy", seed=0), _pick(frame, model="net", seed=0)
    )
    assert not np.allclose(
        _pick(frame, reference="reference", model="net", seed=0),
        _pick(frame, reference="truth", model="net", seed=0),
    )


def test_non_finite_predictions_are_refused(model, scored) -> None:
    _, _, references, test = scored
    bad = {("net", 0): (np.full((len(test.ref_index), 8), np.nan), None)}
    with pytest.raises(ValueError, match="not finite"):
        score_all(model, bad, test, references)


def test_unregistered_rows_get_the_cheap_metrics_only(model, scored) -> None:
    """A row ``registered`` leaves out has NaN RMSE and parts, even when a registered row made
    the same prediction; its other metrics, and every registered row, are unchanged."""
    full, predictions, references, test = scored
    frame = score_all(model, predictions, test, references, registered=lambda row: row != "copy")
    registration = list(REGISTRATION_COLUMNS)
    cheap = [c for c in METRIC_COLUMNS if c not in REGISTRATION_COLUMNS]
    copy = frame.model == "copy"
    assert frame.loc[copy, registration].isna().all().all()
    assert frame.loc[~copy, registration].notna().all().all()
    np.testing.assert_array_equal(frame.loc[copy, cheap], full.loc[copy, cheap])
    np.testing.assert_array_equal(frame.loc[~copy, METRIC_COLUMNS], full.loc[~copy, METRIC_COLUMNS])
    alone = score_all(model, predictions, test, references, registered=lambda row: False)
    assert alone[registration].isna().all().all()
    np.testing.assert_array_equal(alone[cheap], full[cheap])
