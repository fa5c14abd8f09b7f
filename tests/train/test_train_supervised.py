"""Supervised voice -> coefficient training on a tiny synthetic world.

Fake speakers' log-mel frames carry a fixed linear image of their reference shape coefficients
(plus noise), so the voice does predict the face and the loss has something to learn.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_pretrain_voice import _write_store  # tests/train is on sys.path under pytest

from voice2mesh.audio.features import FeatureStore
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.train.pretrain_voice import load_checkpoint, save_checkpoint
from voice2mesh.train.supervised import SupervisedConfig, load_supervised, train_supervised

N_TRAIN, N_TEST, PER_SPEAKER, N_SHAPE = 6, 2, 3, 4
ENCODER = VoiceEncoderConfig(channels=(16, 16))
TINY = SupervisedConfig(
    iterations=20,
    batch_size=8,
    lr=3e-3,
    crop_frames=(30, 60),
    dropout=0.1,
    freeze_encoder=False,
    eval_every=10,
    n_shape=N_SHAPE,
    n_expression=2,
    seed=1,
)


class World:
    """Feature store, manifest, references and a pretrained-encoder checkpoint."""

    def __init__(self, root: Path) -> None:
        rng = np.random.default_rng(0)
        mixing = rng.normal(size=(64, N_SHAPE))  # coefficients -> spectral profile
        utterances, voices, ids = [], [], []
        shapes = 3.0 * rng.normal(size=(N_TRAIN + N_TEST + 1, N_SHAPE + 1))  # (I, Ks + 1)
        for s in range(N_TRAIN + N_TEST):
            identity = f"id{s:05d}"
            ids.append(identity)
            for _ in range(PER_SPEAKER):
                n = int(rng.integers(50, 120))
                frames = mixing @ shapes[s, :N_SHAPE] / 3 + rng.normal(size=(n, 64))  # (T, 64)
                utterances.append((identity, frames.astype(np.float32)))
                voices.append({"identity": identity, "split": "train" if s < N_TRAIN else "test"})
        ids.append("id99999")  # a reference without a voice: ignored
        self.store: FeatureStore = _write_store(root / "features", utterances)
        self.voices = pd.DataFrame(voices)
        self.references = pd.DataFrame({"identity": ids})
        self.shape = shapes  # one more column than used: only the first N_SHAPE are targets
        self.encoder = root / "voice_encoder.pt"
        torch.manual_seed(0)
        speaker = SpeakerClassifier(N_TRAIN, ENCODER)
        config = {"encoder": {"in_channels": 64, "channels": [16, 16], "embedding_dim": 64}}
        save_checkpoint(self.encoder, speaker, None, 0, config | {"n_speakers": N_TRAIN})
        self.encoder_state = speaker.encoder.state_dict()

    def train(self, cfg: SupervisedConfig = TINY, **kwargs):
        return train_supervised(
            cfg, self.store, self.voices, self.references, self.shape, self.encoder, **kwargs
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("supervised"))


def test_loss_decreases_and_metrics_count_the_training_pairs(world: World) -> None:
    model, history, metrics = world.train(replace(TINY, iterations=40, eval_every=20))
    assert [h["step"] for h in history] == [20, 40]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_train_identities"] == N_TRAIN
    assert metrics["n_train_utterances"] == N_TRAIN * (PER_SPEAKER - 1)
    assert metrics["n_val_utterances"] == N_TRAIN
    assert metrics["val_mse"] == history[-1]["val_mse"] and metrics["val_mse"] >= 0
    assert metrics["val_mse_mean_baseline"] == pytest.approx(1.0, abs=1e-5)  # z-scored targets
    assert not model.training
    train = world.shape[:N_TRAIN, :N_SHAPE]
    torch.testing.assert_close(model.target_mean[:N_SHAPE].double(), torch.tensor(train.mean(0)))
    torch.testing.assert_close(model.target_std[:N_SHAPE].double(), torch.tensor(train.std(0)))
    assert model.target_mean[N_SHAPE:].tolist() == [0.0, 0.0]  # neutral expression targets
    assert model.target_std[N_SHAPE:].tolist() == [1.0, 1.0]


def test_frozen_encoder_does_not_change(world: World) -> None:
    model, history, _ = world.train(replace(TINY, freeze_encoder=True))
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, world.encoder_state[name]), name  # weights and BN statistics
    assert history[-1]["loss"] < history[0]["loss"]  # the heads still learn
    unfrozen, _, _ = world.train(replace(TINY, iterations=2))
    moved = unfrozen.encoder.state_dict()["net.0.weight"]
    assert not torch.equal(moved, world.encoder_state["net.0.weight"])


def test_same_seed_same_run_other_seed_other_run(world: World) -> None:
    cfg = replace(TINY, iterations=10)
    _, first, _ = world.train(cfg)
    _, second, _ = world.train(cfg)
    _, other, _ = world.train(replace(cfg, seed=2))
    assert first == second
    assert first != other


def test_resume_continues_from_the_saved_step(world: World, tmp_path: Path) -> None:
    _, full, _ = world.train()
    checkpoint = tmp_path / "supervised.pt"
    _, part, _ = world.train(replace(TINY, iterations=10), checkpoint=checkpoint)
    assert load_checkpoint(checkpoint)["step"] == 10
    steps_run: list[int] = []

    def spy(steps):
        steps_run.extend(steps)
        return steps_run

    model, resumed, _ = world.train(checkpoint=checkpoint, resume=True, progress=spy)
    assert steps_run == list(range(10, 20))
    assert part == full[:1]
    assert resumed == full  # same batches, dropout masks, weights and optimizer state
    state = load_checkpoint(checkpoint)
    assert state["step"] == 20 and state["config"]["n_shape"] == N_SHAPE
    assert state["extra"]["identities"] == [f"id{s:05d}" for s in range(N_TRAIN)]
    loaded = load_supervised(checkpoint)
    x = torch.from_numpy(np.array(world.store[0]).T.copy())[None]  # (1, 64, T)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_raw(x), model.predict_raw(x), rtol=0, atol=0)


def test_resume_refuses_another_configuration(world: World, tmp_path: Path) -> None:
    cfg = replace(TINY, iterations=2, eval_every=0)
    world.train(cfg, checkpoint=tmp_path / "sup.pt")
    with pytest.raises(ValueError, match="set resume to false"):
        world.train(replace(cfg, freeze_encoder=True), checkpoint=tmp_path / "sup.pt", resume=True)


def test_too_few_reference_coefficients_is_an_error(world: World) -> None:
    with pytest.raises(ValueError, match="n_shape"):
        world.train(replace(TINY, n_shape=N_SHAPE + 2))
