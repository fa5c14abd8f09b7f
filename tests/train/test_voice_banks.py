"""train_gan writes each seed's voice bank; the kd stages read it only when it is theirs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_gan import TINY, World  # tests/train is on sys.path under pytest

import voice2mesh.train.gan_data as gan_data
from voice2mesh.train.gan import gan_data as prepare
from voice2mesh.train.pretrain_voice import load_voice_encoder
from voice2mesh.train.voice_banks import VoiceBanks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("banks"))


def _data(world: World, banks: VoiceBanks | None, seed: int = 1, encoder=None):
    encoder = encoder or load_voice_encoder(world.encoder)
    inputs = (*world.inputs(), banks) if banks is not None else world.inputs()
    return prepare(TINY, seed, inputs, encoder, "cpu")


def _no_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the voice bank was embedded again")

    monkeypatch.setattr(gan_data, "embed_voice_bank", refuse)


def test_a_written_bank_is_read_back_without_embedding(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _data(world, None)
    written = _data(world, VoiceBanks(tmp_path, write=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed_1.npz"]
    first = (tmp_path / "seed_1.npz").read_bytes()
    _data(world, VoiceBanks(tmp_path, write=True))  # deterministic bytes: dvc.lock stays put
    assert (tmp_path / "seed_1.npz").read_bytes() == first
    _no_embedding(monkeypatch)
    read = _data(world, VoiceBanks(tmp_path))
    for got in (written, read):
        assert torch.equal(got.bank, fresh.bank) and torch.equal(got.val, fresh.val)
        assert torch.equal(got.bank_labels, fresh.bank_labels)


def test_a_bank_of_other_inputs_is_not_used(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _data(world, VoiceBanks(tmp_path, write=True), seed=1)
    (tmp_path / "seed_1.npz").rename(tmp_path / "seed_2.npz")  # seed 1's crops under seed 2
    reader = VoiceBanks(tmp_path)
    with caplog.at_level(logging.WARNING):
        other_seed = _data(world, reader, seed=2)
    assert "embedded from other inputs" in caplog.text and "seed_2.npz" in caplog.text
    assert torch.equal(other_seed.bank, _data(world, None, seed=2).bank)

    encoder = load_voice_encoder(world.encoder)
    with torch.no_grad():
        next(encoder.parameters()).add_(1e-3)  # another encoder, same crops
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        retrained = _data(world, reader, seed=2, encoder=encoder)
    assert "embedded from other inputs" in caplog.text
    assert not torch.equal(retrained.bank, other_seed.bank)


def test_a_missing_bank_is_embedded_with_a_warning(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        data = _data(world, VoiceBanks(tmp_path / "none"))
    assert "seed_1.npz is missing" in caplog.text
    assert not (tmp_path / "none").exists()  # a reader writes nothing
    assert np.isfinite(data.bank.numpy()).all()
