"""Rows on GE2E embeddings: looked up by path, the mean face for a rejected utterance."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import stages.evaluate as stage
from voice2mesh.config import Params
from voice2mesh.encoders.store import write_embeddings
from voice2mesh.evaluation.embedded import EmbeddingLookup, predict_embedded
from voice2mesh.evaluation.rows import Row

PATHS = ["a/1.wav", "b/1.wav", "c/1.wav"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Embeddings of a/1 and c/1 (b/1 was rejected): row k is k + 1 everywhere."""
    index = pd.DataFrame({"identity": ["a", "c"], "path": [PATHS[0], PATHS[2]], "speech_s": 2.0})
    vectors = np.stack([np.full(256, 1.0), np.full(256, 3.0)]).astype(np.float32)
    rejects = pd.DataFrame(
        [("b", PATHS[1], "too_little_speech", "short")],
        columns=["identity", "path", "reason_code", "reason"],
    )
    write_embeddings(tmp_path / "ge2e", index, vectors, rejects, "key/frontend")
    return tmp_path / "ge2e"


def _net(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:, :2] * 10, x[:, :1] * 100  # (b, 2) shape, (b, 1) expression


def test_a_rejected_utterance_gets_the_fallback_and_is_listed(folder: Path) -> None:
    embeddings = EmbeddingLookup(folder, PATHS)
    assert embeddings.missing() == []  # nothing read yet
    shape, expression = predict_embedded(_net, embeddings.inputs(), np.array([-1.0, -2.0]))
    np.testing.assert_array_equal(shape, [[10, 10], [-1, -2], [30, 30]])
    np.testing.assert_array_equal(expression, [[100], [0], [300]])
    assert embeddings.missing() == ["b/1.wav"]
    with pytest.raises(ValueError, match="no test utterance has an embedding"):
        predict_embedded(_net, EmbeddingLookup(folder, ["x.wav"]).inputs(), np.zeros(2))


def test_evaluate_feeds_embeddings_to_a_ge2e_row(folder: Path, monkeypatch) -> None:
    def rows(params):
        ge2e = Row("g", "g", load=lambda files, models: _net, voice="ge2e")
        logmel = Row("l", "l", load=lambda files, models: lambda x: (x[:, 0, :2], x[:, 0, :1]))
        return [(ge2e, 0, (Path("g.pt"),)), (logmel, 0, (Path("l.pt"),))]

    monkeypatch.setattr(stage, "predicting_rows", rows)
    means = {"mean_face": (np.full((3, 2), 7.0), None)}
    monkeypatch.setattr(stage, "mean_face_rows", lambda *a: (means, {}))
    models = SimpleNamespace(get=lambda *a: SimpleNamespace(encoder=None))
    test = SimpleNamespace(utterances=pd.DataFrame({"row": [0, 1, 2], "path": PATHS}))
    store = [np.full((50, 64), float(k), np.float32) for k in range(3)]
    params = replace(Params(), seed=0, n_seeds=1, ge2e=replace(Params().ge2e, out=str(folder)))
    predictions, _, _ = stage.predict(params, models, store, test, {}, "cpu", lambda it, _: it)
    np.testing.assert_array_equal(predictions["g", 0][0], [[10, 10], [7, 7], [30, 30]])
    np.testing.assert_array_equal(predictions["l", 0][0][:, 0], [0, 1, 2])  # log-mel rows
