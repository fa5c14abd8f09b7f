"""Speaker-ID pretraining on a tiny synthetic feature store (separable fake speakers)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from voice2mesh.audio.features import INDEX_COLUMNS, FeatureStore
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.train.pretrain_voice import (
    PretrainVoiceConfig,
    load_checkpoint,
    load_voice_encoder,
    pretrain_voice,
    save_checkpoint,
)
from voice2mesh.train.voice_data import CropBatches, split_speakers

N_TRAIN, N_TEST, PER_SPEAKER = 6, 2, 4
TINY = PretrainVoiceConfig(
    iterations=30,
    batch_size=8,
    lr=3e-3,
    crop_frames=(30, 60),
    eval_every=10,
    seed=1,
    encoder=VoiceEncoderConfig(channels=(16, 16)),
)


def _write_store(folder: Path, utterances: list[tuple[str, np.ndarray]]) -> FeatureStore:
    """One shard in the ``extract_features`` layout; each utterance (T, 64) float32."""
    folder.mkdir(parents=True)
    lengths = [len(f) for _, f in utterances]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    np.savez(
        folder / "shard_00000.npz",
        features=np.concatenate([f for _, f in utterances]),
        offsets=offsets,
    )
    rows = [
        {
            "identity": i,
            "path": f"{i}/{k}.wav",
            "shard": 0,
            "start": int(offsets[k]),
            "n_frames": n,
            "duration_s": n / 100,
            "speech_s": n / 100,
            "resampled": False,
            "mixed_down": False,
        }
        for k, ((i, _), n) in enumerate(zip(utterances, lengths, strict=True))
    ]
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(folder / "index.csv", index=False)
    return FeatureStore(folder)


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
    store = _write_store(tmp_path_factory.mktemp("features") / "features", utterances)
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
    model, history, metrics = pretrain_voice(TINY, store, voices)
    assert [h["step"] for h in history] == [10, 20, 30]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_speakers"] == N_TRAIN
    assert metrics["n_val_utterances"] == N_TRAIN
    assert metrics["n_train_utterances"] == N_TRAIN * (PER_SPEAKER - 1)
    assert metrics["chance_accuracy"] == pytest.approx(1 / N_TRAIN)
    assert metrics["val_accuracy"] >= 0.5
    assert not model.training


def test_same_seed_same_run_other_seed_other_run(world) -> None:
    store, voices = world
    cfg = replace(TINY, iterations=10)
    _, first, _ = pretrain_voice(cfg, store, voices)
    _, second, _ = pretrain_voice(cfg, store, voices)
    _, other, _ = pretrain_voice(replace(cfg, seed=2), store, voices)
    assert first == second
    assert first != other


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = SpeakerClassifier(3, VoiceEncoderConfig(channels=(8,)))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 64, 20)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "m.pt", model, optimizer, 7, {"lr": 0.1}, {"speakers": ["a"]})
    state = load_checkpoint(tmp_path / "m.pt")
    assert state["step"] == 7 and state["config"] == {"lr": 0.1}
    assert state["extra"] == {"speakers": ["a"]}
    copy = SpeakerClassifier(3, VoiceEncoderConfig(channels=(8,)))
    copy.load_state_dict(state["model"])
    for a, b in zip(model.state_dict().values(), copy.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.optim.Adam(copy.parameters()).load_state_dict(state["optimizer"])
    assert not list(tmp_path.glob(".m.pt*"))  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_continues_from_the_saved_step(world, tmp_path: Path) -> None:
    store, voices = world
    _, full, _ = pretrain_voice(TINY, store, voices)
    checkpoint = tmp_path / "voice_encoder.pt"
    _, part, _ = pretrain_voice(replace(TINY, iterations=20), store, voices, checkpoint=checkpoint)
    assert load_checkpoint(checkpoint)["step"] == 20
    steps_run: list[int] = []

    def spy(steps):
        steps_run.extend(steps)
        return steps_run

    _, resumed, metrics = pretrain_voice(
        TINY, store, voices, progress=spy, checkpoint=checkpoint, resume=True
    )
    assert steps_run == list(range(20, 30))
    assert part == full[:2]
    assert resumed == full  # same batches, weights, optimizer and BN state as one long run
    assert metrics["val_accuracy"] == full[-1]["val_accuracy"]
    state = load_checkpoint(checkpoint)
    assert state["step"] == 30 and state["config"]["n_speakers"] == N_TRAIN
    assert state["extra"]["speakers"] == [f"id{s:05d}" for s in range(N_TRAIN)]


def test_resume_refuses_a_checkpoint_of_another_architecture(world, tmp_path: Path) -> None:
    store, voices = world
    cfg = replace(TINY, iterations=2, eval_every=0)
    pretrain_voice(cfg, store, voices, checkpoint=tmp_path / "enc.pt")
    wider = replace(cfg, encoder=VoiceEncoderConfig(channels=(16, 32)))
    with pytest.raises(ValueError, match="set resume to false"):
        pretrain_voice(wider, store, voices, checkpoint=tmp_path / "enc.pt", resume=True)


def test_load_voice_encoder_gives_the_trained_embedding(world, tmp_path: Path) -> None:
    store, voices = world
    cfg = replace(TINY, iterations=5, eval_every=0)
    model, _, _ = pretrain_voice(cfg, store, voices, checkpoint=tmp_path / "enc.pt")
    encoder = load_voice_encoder(tmp_path / "enc.pt")
    assert not encoder.training and encoder.config == cfg.encoder
    x = torch.from_numpy(np.array(store[0]).T.copy())[None]  # (1, 64, T)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), model.encoder(x), rtol=0, atol=0)


def test_checkpoint_bytes_do_not_depend_on_when_or_where_they_were_written(tmp_path):
    from voice2mesh.train.pretrain_voice import save_checkpoint

    model = torch.nn.Linear(3, 2)
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "other_name.pt"
    save_checkpoint(a, model, None, 5, {"x": 1})
    save_checkpoint(b, model, None, 5, {"x": 1})
    assert a.read_bytes() == b.read_bytes()  # dvc.lock hashes these bytes
