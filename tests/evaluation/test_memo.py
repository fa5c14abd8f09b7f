"""The encoder memo: networks sharing a frozen voice encoder embed a batch once, unchanged."""

from __future__ import annotations

import copy

import pandas as pd
import torch
from test_inference import Store  # tests/evaluation is on sys.path under pytest
from torch import nn

from voice2mesh.evaluation import memo as memo_module
from voice2mesh.evaluation.inference import predict_batched
from voice2mesh.evaluation.memo import EncoderMemo
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig


class Head(nn.Module):
    """A frozen voice encoder (eval mode) and a linear head of its own: like a row's network."""

    def __init__(self, encoder: VoiceEncoder, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = encoder.eval()
        self.head = nn.Linear(encoder.config.embedding_dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def predict_raw(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


def encoder(seed: int) -> VoiceEncoder:
    torch.manual_seed(seed)
    net = VoiceEncoder(VoiceEncoderConfig(channels=(8, 8), embedding_dim=4))
    with torch.no_grad():  # batch norm statistics that matter
        for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm1d)):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    return net.eval()


def store() -> Store:
    lengths = [300, 1000, 1200, 80, 999, 500]
    return Store(pd.DataFrame({"identity": ["a"] * len(lengths)}), lengths, {"a": 0.0})


def test_shared_encoders_run_once_and_give_the_same_predictions() -> None:
    features, rows = store(), [5, 0, 2, 1, 4, 3]
    shared, other = encoder(0), encoder(1)
    nets = [Head(shared, 1), Head(copy.deepcopy(shared), 2), Head(other, 3)]
    expected = [predict_batched(n, features, rows, batch_size=2)[0] for n in nets]
    memo = EncoderMemo()
    got = []
    for net in nets:
        memo.attach(net.predict_raw)  # a bound method, as rows load their predictors
        got.append(predict_batched(net.predict_raw, features, rows, batch_size=2)[0])
    for g, e in zip(got, expected, strict=True):
        assert (g == e).all()  # bit for bit
    batches = 4  # five utterances of 1000 frames after repetition (3 batches), one of 1200
    assert memo.hits == batches  # the copy of the first encoder reuses its batches only


def test_the_memo_steps_aside_when_training_or_with_gradients() -> None:
    net = Head(encoder(0), 1)
    memo = EncoderMemo()
    memo.attach(net)
    x = torch.randn(2, 64, 40)
    with torch.no_grad():
        first = net(x)
        assert torch.equal(net(x), first) and memo.hits == 1
    net(x).sum().backward()  # gradients: computed, not looked up
    net.encoder.train()
    with torch.no_grad():
        net(x)
    assert memo.hits == 1


def test_a_predictor_without_a_module_is_left_alone() -> None:
    def predictor(x: torch.Tensor) -> torch.Tensor:
        return x

    memo = EncoderMemo()
    memo.attach(predictor)
    memo.attach(None)
    x = torch.randn(1, 64, 4)
    assert torch.equal(predictor(x), x) and memo.hits == 0


def test_batches_sharing_the_cheap_key_are_told_apart_bit_for_bit(monkeypatch) -> None:
    monkeypatch.setattr(memo_module, "SAMPLES", 1)  # the key reads the first word only
    net = Head(encoder(0), 1)
    x = torch.randn(2, 64, 40)
    y, z = x.clone(), x.clone()  # z: bit for bit x, another tensor
    y[1, 5, 7] += 1.0  # another batch under the same key
    with torch.no_grad():
        expected = [net(b) for b in (x, y)]
        memo = EncoderMemo()
        memo.attach(net)
        got = [net(b) for b in (x, y, z)]
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert torch.equal(got[2], expected[0]) and memo.hits == 1  # z is x: its only hit
