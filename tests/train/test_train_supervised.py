"""Supervised voice -> coefficient training on a tiny synthetic world.

Fake speakers' log-mel frames carry a fixed linear image of their reference shape coefficients
(plus noise), so the voice does predict the face and the loss has something to learn.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_store  # tests/train is on sys.path under pytest

from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import load_model, read_model, read_state, save_model
from voice2mesh.config import FaceModelParams, SupervisedParams, as_dict
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.supervised import (
    SupervisedTask,
    referenced_identities,
    regression_loss,
    train_supervised,
)

N_TRAIN, N_VAL, PER_SPEAKER, N_SHAPE = 6, 2, 3, 4
ENCODER = VoiceEncoderConfig(channels=(16, 16))
FACE = FaceModelParams(n_shape=N_SHAPE, n_expression=2)
TINY = SupervisedParams(
    iterations=20,
    batch_size=8,
    lr=3e-3,
    crop_frames=(30, 60),
    dropout=0.1,
    freeze_encoder=False,
    eval_every=10,
)


class World:
    """Feature store, manifest, references and a pretrained-encoder model file."""

    def __init__(self, root: Path) -> None:
        rng = np.random.default_rng(0)
        mixing = rng.normal(size=(64, N_SHAPE))  # coefficients -> spectral profile
        utterances, voices, ids = [], [], []
        shapes = 3.0 * rng.normal(size=(N_TRAIN + N_VAL + 1, N_SHAPE + 1))  # (I, Ks + 1)
        for s in range(N_TRAIN + N_VAL):
            identity = f"id{s:05d}"
            ids.append(identity)
            for _ in range(PER_SPEAKER):
                n = int(rng.integers(50, 120))
                frames = mixing @ shapes[s, :N_SHAPE] / 3 + rng.normal(size=(n, 64))  # (T, 64)
                utterances.append((identity, frames.astype(np.float32)))
                voices.append({"identity": identity, "split": "train" if s < N_TRAIN else "val"})
        ids.append("id99999")  # a reference without a voice: ignored
        self.store: FeatureStore = write_store(root / "features", utterances)
        self.voices = pd.DataFrame(voices)
        self.references = pd.DataFrame({"identity": ids})
        self.shape = shapes  # one more column than used: only the first N_SHAPE are targets
        self.encoder = root / "voice_encoder.pt"
        torch.manual_seed(0)
        speaker = SpeakerClassifier(N_TRAIN, ENCODER)
        speakers = {"speakers": ids[:N_TRAIN]}
        save_model(self.encoder, "voice_encoder", speaker, {}, {}, speakers)
        self.encoder_state = speaker.encoder.state_dict()

    def train(
        self,
        cfg: SupervisedParams = TINY,
        face: FaceModelParams = FACE,
        seed: int = 1,
        **schedule,
    ) -> Trained:
        data = (self.store, self.voices, self.references, self.shape)
        plan = Schedule(cfg.iterations, cfg.eval_every, seed, **schedule)
        return train_supervised(cfg, face, data, self.encoder, plan)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("supervised"))


@pytest.fixture
def steps_run(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The steps the trainer runs, recorded as they start."""
    steps: list[int] = []
    step = SupervisedTask.step

    def spy(task: SupervisedTask, n: int) -> dict[str, float]:
        steps.append(n)
        return step(task, n)

    monkeypatch.setattr(SupervisedTask, "step", spy)
    return steps


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name


def test_loss_decreases_and_metrics_count_the_training_pairs(world: World) -> None:
    trained = world.train(replace(TINY, iterations=40, eval_every=20))
    model, history, metrics = trained.model, trained.history, trained.metrics
    assert [h["step"] for h in history] == [20, 40]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["n_train_identities"] == N_TRAIN
    assert metrics["n_train_utterances"] == N_TRAIN * PER_SPEAKER  # validation: other people
    assert metrics["n_val_utterances"] == N_VAL * PER_SPEAKER
    assert metrics["n_val_identities"] == N_VAL
    assert metrics["iterations"] == 40 and metrics["freeze_encoder"] is False
    assert metrics["val_mse"] == history[-1]["val_mse"] and metrics["val_mse"] >= 0
    val = world.shape[N_TRAIN : N_TRAIN + N_VAL, :N_SHAPE] - world.shape[:N_TRAIN, :N_SHAPE].mean(0)
    val = val / world.shape[:N_TRAIN, :N_SHAPE].std(0)  # the val people in training's z-units
    assert metrics["val_mse_mean_baseline"] == pytest.approx(np.mean(val**2), rel=1e-4)
    assert trained.meta["identities"] == [f"id{s:05d}" for s in range(N_TRAIN)]
    assert not model.training
    assert (model.n_shape, model.n_expression) == (N_SHAPE, 2)  # the heads follow face_model
    train = world.shape[:N_TRAIN, :N_SHAPE]
    torch.testing.assert_close(model.target_mean[:N_SHAPE].double(), torch.tensor(train.mean(0)))
    torch.testing.assert_close(model.target_std[:N_SHAPE].double(), torch.tensor(train.std(0)))
    assert model.target_mean[N_SHAPE:].tolist() == [0.0, 0.0]  # neutral expression targets
    assert model.target_std[N_SHAPE:].tolist() == [1.0, 1.0]


def test_frozen_encoder_does_not_change(world: World) -> None:
    trained = world.train(replace(TINY, freeze_encoder=True))
    for name, value in trained.model.encoder.state_dict().items():
        assert torch.equal(value, world.encoder_state[name]), name  # weights and BN statistics
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]  # the heads still learn
    assert trained.metrics["freeze_encoder"] is True
    unfrozen = world.train(replace(TINY, iterations=2))
    moved = unfrozen.model.encoder.state_dict()["net.0.weight"]
    assert not torch.equal(moved, world.encoder_state["net.0.weight"])


def test_same_seed_same_run_other_seed_other_run(world: World) -> None:
    cfg = replace(TINY, iterations=10)
    first = world.train(cfg).history
    second = world.train(cfg).history
    other = world.train(cfg, seed=2).history
    assert first == second
    assert first != other


def test_a_killed_run_resumes_to_the_uninterrupted_result(
    world: World, tmp_path: Path, steps_run: list[int]
) -> None:
    full = world.train()
    state = tmp_path / "resume.pt"
    steps_run.clear()
    recorded = SupervisedTask.step

    def kill_at_15(task: SupervisedTask, n: int) -> dict[str, float]:
        if n == 15:
            raise KeyboardInterrupt  # killed between two evaluations
        return recorded(task, n)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SupervisedTask, "step", kill_at_15)
        with pytest.raises(KeyboardInterrupt):
            world.train(state_path=state)
    assert steps_run == list(range(15))
    saved = read_state(state)
    assert saved["step"] == 10 and [h["step"] for h in saved["history"]] == [10]

    steps_run.clear()
    torch.manual_seed(123)  # the global RNG's state must not matter
    resumed = world.train(state_path=state, resume=True)
    assert steps_run == list(range(10, 20))  # from the last saved evaluation on
    assert resumed.history == full.history  # same batches, dropout masks, weights, optimizer
    assert resumed.metrics == full.metrics
    _same_weights(resumed.model, full.model)
    assert read_state(state)["step"] == 20


def test_raising_iterations_continues_a_finished_run(
    world: World, tmp_path: Path, steps_run: list[int]
) -> None:
    full = world.train()
    state = tmp_path / "resume.pt"
    part = world.train(replace(TINY, iterations=10), state_path=state)
    assert part.history == full.history[:1]
    steps_run.clear()
    resumed = world.train(state_path=state, resume=True)
    assert steps_run == list(range(10, 20))
    assert resumed.history == full.history
    _same_weights(resumed.model, full.model)
    steps_run.clear()
    fresh = world.train(state_path=state)  # resume off: the state is not read
    assert steps_run == list(range(20)) and fresh.history == full.history


def test_a_state_of_another_configuration_is_ignored(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "resume.pt"
    cfg = replace(TINY, iterations=2, eval_every=0)
    world.train(cfg, state_path=state)
    other = replace(cfg, freeze_encoder=True)
    fresh = world.train(other)
    with caplog.at_level(logging.WARNING, logger="voice2mesh.train.loop"):
        ignored = world.train(other, state_path=state, resume=True)
    assert "another configuration" in caplog.text and str(state) in caplog.text
    assert ignored.history == fresh.history  # started at step 0, as a fresh run
    _same_weights(ignored.model, fresh.model)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="voice2mesh.train.loop"):
        world.train(other, seed=2, state_path=state, resume=True)  # the seed is checked too
    assert "another configuration" in caplog.text


def test_the_model_round_trips_through_its_checkpoint(world: World, tmp_path: Path) -> None:
    cfg = replace(TINY, iterations=5, eval_every=0)
    trained = world.train(cfg)
    path = tmp_path / "supervised.pt"
    params = {"seed": 1, "face_model": as_dict(FACE)}
    save_model(path, "supervised", trained.model, as_dict(cfg), params, trained.meta)
    checkpoint = read_model(path, ("supervised",))
    assert checkpoint.config["iterations"] == 5 and checkpoint.params == params
    assert checkpoint.meta["identities"] == trained.meta["identities"]
    loaded = load_model(path, kinds=("supervised", "unsupervised"), purpose="predict")
    assert not loaded.training
    _same_weights(loaded, trained.model)
    x = torch.from_numpy(np.array(world.store[0]).T.copy())[None]  # (1, 64, T)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.predict_raw(x), trained.model.predict_raw(x), rtol=0, atol=0
        )


def test_too_few_reference_coefficients_is_an_error(world: World) -> None:
    with pytest.raises(ValueError, match="n_shape"):
        world.train(face=replace(FACE, n_shape=N_SHAPE + 2))


def test_the_encoder_must_be_a_voice_encoder(world: World, tmp_path: Path) -> None:
    wrong = tmp_path / "supervised.pt"
    save_model(wrong, "supervised", world.train(replace(TINY, iterations=1)).model, {})
    with pytest.raises(ValueError, match="needs a voice encoder model"):
        train_supervised(
            TINY,
            FACE,
            (world.store, world.voices, world.references, world.shape),
            wrong,
            Schedule(TINY.iterations, TINY.eval_every, 1),
        )


def test_the_pairs_are_the_splits_identities_with_a_finite_reference() -> None:
    voices = pd.DataFrame({"identity": ["a", "b", "c", "d"], "split": ["train"] * 3 + ["val"]})
    references = pd.DataFrame({"identity": ["a", "b", "d", "e"]})
    shapes = np.array([[0.0], [np.nan], [1.0], [2.0]])  # b's fit failed
    assert referenced_identities(voices, references, shapes, "train") == {"a"}
    assert referenced_identities(voices, references, shapes, "val") == {"d"}


def test_the_loss_pulls_the_expression_head_to_neutral_when_it_has_one() -> None:
    shape, targets = torch.ones(4, 3), torch.zeros(4, 3)
    assert regression_loss(shape, torch.zeros(4, 0), targets).item() == 1.0
    assert regression_loss(shape, torch.full((4, 2), 2.0), targets).item() == 5.0
