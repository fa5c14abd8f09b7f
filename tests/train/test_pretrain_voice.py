"""Speaker-ID pretraining on a tiny synthetic feature store (separable fake speakers)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_store  # tests/train is on sys.path under pytest

from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import read_model, save_model
from voice2mesh.config import PretrainVoiceParams, as_dict
from voice2mesh.train.loop import Schedule
from voice2mesh.train.pretrain_voice import load_voice_encoder, pretrain_voice
from voice2mesh.train.voice_data import CropBatches, split_speakers

N_TRAIN, N_TEST, PER_SPEAKER = 6, 2, 4
TINY = PretrainVoiceParams(
    iterations=30, batch_size=8, lr=3e-3, crop_frames=(30, 60), eval_every=10, channels=(16, 16)
)


def schedule(cfg: PretrainVoiceParams, seed: int = 1, **kwargs) -> Schedule:
    return Schedule(cfg.iterations, cfg.eval_every, seed, **kwargs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeatureStore, pd.DataFrame]:
    """Speakers differ by a fixed spectral profile (+-1 per mel bin) under unit noise."""
    rng = np.random.default_rng(0)
    utterances, voices = [], []
    for s in range(N_TRAIN + N_TEST):
        identity = f"id{s:05d}"
        profile = rng.choice([-1.0, 1.0], 64)  # (64,)
        for _ in range(PER_SPEAKER):
            frames = profile + rng.normal(size=(int(rng.integers(80, 200)), 64))  # (T, 64)
            utterances.append((identity, frames.astype(np.float32)))
            voices.append({"identity": identity, "split": "train" if s < N_TRAIN else "test"})
    store = write_store(tmp_path_factory.mktemp("features") / "features", utterances)
    return store, pd.DataFrame(voices)


def test_held_out_rule() -> None:
    index = pd.DataFrame({"identity": ["a", "b", "a", "c", "a", "b", "d"]})
    split = split_speakers(index, {"a", "b", "c"})
    assert split.speakers == ("a", "b", "c")
    assert split.val.tolist() == [4, 5]  # the last of a and of b; c has one utterance only
    assert split.train.tolist() == [0, 1, 2, 3]
    assert split.train_labels.tolist() == [0, 1, 0, 2]
    assert split.val_labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="at least 2"):
        split_speakers(index, {"a", "zz"})


def test_crop_batches_are_equal_length_and_reproducible() -> None:
    utterances = [np.arange(n * 64, dtype=np.float32).reshape(n, 64) for n in (50, 1200)]
    batches = CropBatches(
        utterances, np.array([0, 1]), batch_size=5, crop_frames=(300, 800), n_batches=4, seed=3
    )
    lengths = set()
    for step in range(len(batches)):
        x, y = batches[step]
        assert x.shape[:2] == (5, 64) and 300 <= x.shape[2] <= 800 and y.shape == (5,)
        lengths.add(x.shape[2])
    assert len(lengths) > 1  # one random length per batch
    again = CropBatches(
        utterances, np.array([0, 1]), batch_size=5, crop_frames=(300, 800), n_batches=4, seed=3
    )
    torch.testing.assert_close(batches[2], again[2], rtol=0, atol=0)
    x, y = batches[0]
    short = x[y == 0]  # crops of the 50-frame utterance, repeated to 1000 first
    assert short.shape[0] == 0 or torch.equal(short[:, :, 0], short[:, :, 50])
    with pytest.raises(IndexError):
        batches[4]


def test_loss_decreases_and_held_out_accuracy_beats_chance(world) -> None:
    store, voices = world
    trained = pretrain_voice(TINY, store, voices, schedule(TINY))
    history, metrics = trained.history, trained.metrics
    assert [h["step"] for h in history] == [10, 20, 30]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_speakers"] == N_TRAIN
    assert metrics["n_val_utterances"] == N_TRAIN
    assert metrics["n_train_utterances"] == N_TRAIN * (PER_SPEAKER - 1)
    assert metrics["chance_accuracy"] == pytest.approx(1 / N_TRAIN)
    assert metrics["val_accuracy"] >= 0.5
    assert not trained.model.training
    assert trained.meta["identities"] == [f"id{s:05d}" for s in range(N_TRAIN)]


def test_same_seed_same_run_other_seed_other_run(world) -> None:
    store, voices = world
    cfg = replace(TINY, iterations=10)
    first = pretrain_voice(cfg, store, voices, schedule(cfg)).history
    second = pretrain_voice(cfg, store, voices, schedule(cfg)).history
    other = pretrain_voice(cfg, store, voices, schedule(cfg, seed=2)).history
    assert first == second
    assert first != other


def test_resume_continues_from_the_saved_step(world, tmp_path: Path) -> None:
    store, voices = world
    full = pretrain_voice(TINY, store, voices, schedule(TINY)).history
    state = tmp_path / "state.pt"
    part = replace(TINY, iterations=20)
    pretrain_voice(part, store, voices, schedule(part, state_path=state))
    resumed = pretrain_voice(TINY, store, voices, schedule(TINY, state_path=state, resume=True))
    assert resumed.history == full  # same batches, weights, optimizer and BN state
    assert resumed.metrics["val_accuracy"] == full[-1]["val_accuracy"]


def test_the_model_round_trips_through_its_checkpoint(world, tmp_path: Path) -> None:
    store, voices = world
    cfg = replace(TINY, iterations=5, eval_every=0)
    trained = pretrain_voice(cfg, store, voices, schedule(cfg))
    path = tmp_path / "enc.pt"
    save_model(path, "voice_encoder", trained.model, as_dict(cfg), {"seed": 1}, trained.meta)
    checkpoint = read_model(path)
    assert checkpoint.kind == "voice_encoder" and checkpoint.config["iterations"] == 5
    assert checkpoint.meta["identities"] == trained.meta["identities"]
    encoder = load_voice_encoder(path)
    assert not encoder.training and encoder.config.channels == cfg.channels
    x = torch.from_numpy(np.array(store[0]).T.copy())[None]  # (1, 64, T)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), trained.model.encoder(x), rtol=0, atol=0)


def test_a_state_saved_on_other_data_is_not_continued(world, tmp_path: Path, caplog) -> None:
    """Same identities and counts, other features: the digest tells the runs apart."""
    store, voices = world
    state = tmp_path / "state.pt"
    part = replace(TINY, iterations=20)
    pretrain_voice(part, store, voices, schedule(part, state_path=state))
    other = write_store(
        tmp_path / "other",
        [(store.index.identity[i], np.array(store[i]) + 0.5) for i in range(len(store))],
    )
    with caplog.at_level("WARNING"):
        resumed = pretrain_voice(TINY, other, voices, schedule(TINY, state_path=state, resume=True))
    assert "data.digest" in caplog.text
    assert resumed.history == pretrain_voice(TINY, other, voices, schedule(TINY)).history
