"""Batched whole-utterance inference and the mean-face rows (fitted on the train split only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.inference import mean_face_rows, predict_batched
from voice2mesh.evaluation.voices import apply_to_utterances


class Store:
    """Utterances of given lengths; the first log-mel bin says the speaker's gender."""

    def __init__(self, index: pd.DataFrame, lengths: list[int], sign: dict[str, float]) -> None:
        self.index = index
        rng = np.random.default_rng(0)
        self.frames = [
            (rng.normal(size=(n, 64)) + sign[i]).astype(np.float32)
            for n, i in zip(lengths, index.identity, strict=True)
        ]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frames[i]


class Net(nn.Module):
    """A conv net with batch norm (eval mode) and two outputs, like a predictor."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Sequential(nn.Conv1d(64, 8, 5, stride=2), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.head(self.conv(x).mean(dim=2))
        return y[:, :3], y[:, 3:]


def test_batched_inference_matches_one_utterance_at_a_time() -> None:
    lengths = [300, 1000, 1200, 80, 1200, 999, 2000, 500, 1200]  # 1000 after repetition, or longer
    index = pd.DataFrame({"identity": ["a"] * len(lengths)})
    store = Store(index, lengths, {"a": 0.0})
    rows = [8, 0, 2, 6, 1, 4, 3]
    net = Net()
    expected = apply_to_utterances(net, store, rows)
    got = predict_batched(net, store, rows, batch_size=2)
    assert [g.shape for g in got] == [(7, 3), (7, 2)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    encoder = lambda x: x.mean(dim=2)[:, :4]  # noqa: E731  a single-tensor output
    (embedding,) = predict_batched(encoder, store, rows)
    np.testing.assert_allclose(embedding, apply_to_utterances(encoder, store, rows)[0], atol=1e-6)
    with pytest.raises(ValueError, match="no utterance"):
        predict_batched(net, store, [])


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """4 train, 2 validation, 2 test identities, 3 utterances each; all with a reference."""
    ids = [f"id{i}" for i in range(8)]
    identities = pd.DataFrame(
        {
            "identity": ids,
            "gender": ["m", "f"] * 4,
            "split": ["train"] * 4 + ["val"] * 2 + ["test"] * 2,
        }
    )
    index = pd.DataFrame({"identity": np.repeat(ids, 3), "path": [f"u{k}" for k in range(24)]})
    shape = np.arange(8 * 4, dtype=float).reshape(8, 4)
    shape[4:6] += 100.0  # validation faces far away: they must not move the mean faces
    return index, identities, pd.DataFrame({"identity": ids}), shape


def test_mean_faces_use_training_identities_only_and_match_the_protocol() -> None:
    index, identities, references, shape = _world()
    test = protocol.build_test_set(index, identities, references, shape, 2)
    assert test.train_ids.tolist() == ["id0", "id1", "id2", "id3"]
    genders = dict(zip(identities.identity, identities.gender, strict=True))
    sign = {i: 1.0 if g == "m" else -1.0 for i, g in genders.items()}
    store = Store(index, [400] * len(index), sign)
    encoder = lambda x: x.mean(dim=2)[:, :3]  # noqa: E731
    rows, metrics = mean_face_rows(
        test, lambda r: predict_batched(encoder, store, r)[0], store, genders
    )
    assert metrics["n_train_utterances"] == 12 and metrics["accuracy"] == 1.0
    np.testing.assert_allclose(rows[protocol.MEAN_FACE][0], np.tile(shape[:4].mean(axis=0), (4, 1)))
    gender_face = rows[protocol.GENDER_MEAN_FACE][0]
    np.testing.assert_allclose(gender_face[:2], np.tile(shape[[0, 2]].mean(axis=0), (2, 1)))
    np.testing.assert_allclose(gender_face[2:], np.tile(shape[[1, 3]].mean(axis=0), (2, 1)))
