"""The evaluation protocol: test-set choice, gender-from-voice baseline rows, scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.inference import predict_batched
from voice2mesh.evaluation.scoring import METRIC_COLUMNS, score
from voice2mesh.evaluation.voices import GenderClassifier, select_test_utterances
from voice2mesh.facemodel.synthetic import build_synthetic_model


@pytest.fixture(scope="module")
def model():
    return build_synthetic_model().truncated(8, 2)


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """4 train + 3 test identities; id6 (test) has no reference, id5 no finite one."""
    ids = [f"id{i}" for i in range(7)]
    identities = pd.DataFrame(
        {
            "identity": ids,
            "gender": ["male", "female", "male", "female", "male", "female", "male"],
            "split": ["train"] * 4 + ["test"] * 3,
        }
    )
    index = pd.DataFrame({"identity": np.repeat(ids, 4), "path": [f"u{k}" for k in range(28)]})
    references = pd.DataFrame({"identity": ids[:6]})
    shape = np.arange(6 * 8, dtype=float).reshape(6, 8) / 40.0
    shape[5, 0] = np.nan
    return index, identities, references, shape


def test_test_utterances_takes_the_first_n_of_each_test_identity() -> None:
    index = pd.DataFrame({"identity": ["b", "a", "b", "a", "b", "c"], "path": list("uvwxyz")})
    utts = select_test_utterances(index, {"a", "b"}, 2)
    assert utts.row.tolist() == [1, 3, 0, 2] and utts.identity.tolist() == ["a", "a", "b", "b"]
    with pytest.raises(ValueError, match="n_utterances"):
        select_test_utterances(index, {"a"}, 0)


def test_build_test_set_keeps_test_identities_with_finite_references() -> None:
    test = protocol.build_test_set(*_tables(), n_utterances=3)
    assert test.identities.tolist() == ["id4"]  # id5 has a NaN reference, id6 none
    assert len(test.utterances) == 3 and (test.ref_index == 0).all()
    assert test.train_ids.tolist() == ["id0", "id1", "id2", "id3"]
    assert np.array_equal(test.reference_shape, _tables()[3][[4]])
    assert test.utterances.gender.tolist() == ["male"] * 3


def test_build_test_set_without_usable_test_identities_fails_clearly() -> None:
    index, identities, references, shape = _tables()
    with pytest.raises(ValueError, match="no test utterance"):
        protocol.build_test_set(index, identities, references.iloc[:4], shape[:4], 3)


def test_gender_classifier_separates_separable_voices() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    gender = np.where(x[:, 2] + 0.1 * x[:, 0] > 0, "male", "female")
    clf = GenderClassifier(l2=0.1).fit(x, gender)
    x_new = rng.normal(size=(100, 5))
    truth = np.where(x_new[:, 2] + 0.1 * x_new[:, 0] > 0, "male", "female")
    assert (clf.predict(x_new) == truth).mean() > 0.95
    with pytest.raises(ValueError, match="exactly two genders"):
        GenderClassifier().fit(x, np.full(200, "male"))


class FakeStore:
    """Utterances whose first log-mel bin says the speaker's gender (+1 male, -1 female)."""

    def __init__(self, index: pd.DataFrame, identities: pd.DataFrame) -> None:
        self.index = index
        sign = {
            i: 1.0 if g == "male" else -1.0
            for i, g in zip(identities.identity, identities.gender, strict=True)
        }
        self.frames = [np.full((20, 64), sign[i], np.float32) for i in index.identity]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frames[i]


def test_network_predictions_split_shape_and_expression() -> None:
    index, identities, references, shape = _tables()
    test = protocol.build_test_set(index, identities, references, shape, 2)
    net = lambda x: (x.mean(dim=2)[:, :8], torch.zeros(len(x), 2))  # noqa: E731
    store = FakeStore(index, identities)
    s, e = predict_batched(net, store, test.utterances.row)
    assert s.shape == (2, 8) and e.shape == (2, 2) and np.allclose(s, 1.0)


def test_score_is_zero_for_the_reference_and_grows_with_the_error(model) -> None:
    rng = np.random.default_rng(3)
    refs = rng.normal(size=(2, 8))
    exact = score(model, refs[[0, 1, 1]], None, refs, np.array([0, 1, 1]))
    assert list(exact.columns) == list(METRIC_COLUMNS)
    assert np.allclose(exact.to_numpy(), 0.0, atol=1e-6)
    off = score(model, refs[[0, 1]] + 1.0, np.zeros((2, 2)), refs, np.array([0, 1]))
    worse = score(model, refs[[0, 1]] + 2.0, np.zeros((2, 2)), refs, np.array([0, 1]))
    assert (off.NME > 0).all() and (worse.NME > off.NME).all() and (worse.RMSE > off.RMSE).all()
    with pytest.raises(ValueError, match="not finite"):
        score(model, np.full((1, 8), np.nan), None, refs, np.array([0]))


def test_predictions_round_trip(tmp_path) -> None:
    from voice2mesh.evaluation.store import read_predictions, write_predictions

    index, identities, references, shape = _tables()
    test = protocol.build_test_set(index, identities, references, shape, 2)
    rows = {"mean_face": (np.ones((2, 8)), None), "net": (np.zeros((2, 8)), np.ones((2, 2)))}
    seeds = {"mean_face": -1, "net": 3}
    write_predictions(tmp_path / "p.npz", test, rows, {"reference": test.reference_shape}, seeds)
    back = read_predictions(tmp_path / "p.npz")
    assert back.seeds == seeds
    assert list(back.rows) == ["mean_face", "net"] and back.rows["mean_face"][1].shape == (2, 0)
    assert np.array_equal(back.rows["net"][1], np.ones((2, 2)))
    assert np.array_equal(back.references["reference"], test.reference_shape)
    assert back.utterance_identity.tolist() == ["id4", "id4"]
