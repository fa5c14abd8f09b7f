"""The one training loop: cadence, seeding, resume (also after a kill), fingerprints."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from feature_stores import speaker_store  # tests/ is on sys.path under pytest
from torch import nn

from voice2mesh.checkpoint import read_state, save_model
from voice2mesh.config import PretrainVoiceParams, as_dict
from voice2mesh.train.loop import Schedule, Task, fit, seeded
from voice2mesh.train.pretrain_voice import pretrain_voice

ROOT = Path(__file__).resolve().parents[2]


class Regression(Task):
    """A linear model on noisy data; dropout makes every step use the torch RNG."""

    def __init__(self, lr: float = 0.05, seed: int = 0) -> None:
        self.model = seeded(seed, lambda: nn.Sequential(nn.Dropout(0.2), nn.Linear(3, 1)))
        self.optims = {"adam": torch.optim.Adam(self.model.parameters(), lr=lr)}
        self.settings, self.seed = {"lr": lr}, seed
        self.steps: list[int] = []

    def data(self) -> dict:
        return {"n": 8}

    def step(self, step: int) -> dict[str, float]:
        self.steps.append(step)
        rng = np.random.default_rng([self.seed, step])
        x = torch.from_numpy(rng.normal(size=(8, 3)).astype(np.float32))
        y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
        loss = ((self.model(x) - y) ** 2).mean()
        self.optims["adam"].zero_grad()
        loss.backward()
        self.optims["adam"].step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, float | None]:
        return {"weight_norm": float(self.model[1].weight.detach().norm())}

    def metrics(self, history: list[dict]) -> dict:
        return {"final": history[-1]["loss"]}


def test_cadence_history_and_modes():
    task = Regression()
    trained = fit(task, Schedule(iterations=10, eval_every=4, seed=0))
    assert [h["step"] for h in trained.history] == [4, 8, 10]
    assert set(trained.history[0]) == {"step", "loss", "weight_norm"}
    assert trained.metrics == {"final": trained.history[-1]["loss"], "iterations": 10}
    assert not trained.model.training and task.steps == list(range(10))
    once = fit(Regression(), Schedule(iterations=10, eval_every=0, seed=0)).history
    assert [h["step"] for h in once] == [10]


def test_the_global_rng_is_left_as_it_was():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(Regression(), Schedule(iterations=3, eval_every=0, seed=0))
    assert torch.equal(torch.rand(3), expected)


def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path: Path):
    full = fit(Regression(), Schedule(12, 4, seed=1))
    state = tmp_path / "state.pt"
    fit(Regression(), Schedule(8, 4, seed=1, state_path=state))
    assert read_state(state)["step"] == 8
    task = Regression()
    resumed = fit(task, Schedule(12, 4, seed=1, state_path=state, resume=True))
    assert task.steps == [8, 9, 10, 11]
    assert resumed.history == full.history
    pairs = zip(full.model.state_dict().values(), resumed.model.state_dict().values(), strict=True)
    for a, b in pairs:
        assert torch.equal(a, b)


def test_a_state_of_another_configuration_is_ignored(tmp_path: Path, caplog):
    state = tmp_path / "state.pt"
    fit(Regression(lr=0.05), Schedule(6, 3, seed=1, state_path=state))
    task = Regression(lr=0.01)
    with caplog.at_level(logging.WARNING):
        other = fit(task, Schedule(6, 3, seed=1, state_path=state, resume=True))
    assert "another configuration" in caplog.text and "lr" in caplog.text
    assert task.steps == list(range(6))
    assert other.history == fit(Regression(lr=0.01), Schedule(6, 3, seed=1)).history


def test_without_resume_the_state_is_only_written(tmp_path: Path):
    state = tmp_path / "state.pt"
    fit(Regression(), Schedule(6, 3, seed=1, state_path=state))
    task = Regression()
    fit(task, Schedule(6, 3, seed=1, state_path=state))
    assert task.steps == list(range(6))


KILLED_RUN = """
import os, sys
import pandas as pd
from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import PretrainVoiceParams
from voice2mesh.train import pretrain_voice as trainer
from voice2mesh.train.loop import Schedule

import torch
store, voices, state = FeatureStore(sys.argv[1]), pd.read_csv(sys.argv[2]), sys.argv[3]
torch.set_num_threads(int(sys.argv[4]))  # the parent's: float sums depend on the split
original = trainer.PretrainVoice.step

def step(self, n):
    if n == 13:  # killed mid-way: no clean-up, no final model
        os._exit(9)
    return original(self, n)

trainer.PretrainVoice.step = step
cfg = PretrainVoiceParams(iterations=20, batch_size=4, crop_frames=(30, 60), eval_every=5,
                          channels=(8, 8))
trainer.pretrain_voice(cfg, store, voices, Schedule(20, 5, 0, state_path=state))
"""


def test_a_killed_training_run_resumes_to_the_same_model(tmp_path: Path):
    store, voices, _ = speaker_store(tmp_path / "features")
    voices.to_csv(tmp_path / "voices.csv", index=False)
    state = tmp_path / "state.pt"
    script = textwrap.dedent(KILLED_RUN)
    argv = [sys.executable, "-c", script, str(tmp_path / "features"), str(tmp_path / "voices.csv")]
    threads = str(torch.get_num_threads())
    done = subprocess.run([*argv, str(state), threads], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert read_state(state)["step"] == 10  # the last evaluation before the kill

    cfg = PretrainVoiceParams(
        iterations=20, batch_size=4, crop_frames=(30, 60), eval_every=5, channels=(8, 8)
    )
    resumed = pretrain_voice(cfg, store, voices, Schedule(20, 5, 0, state_path=state, resume=True))
    whole = pretrain_voice(cfg, store, voices, Schedule(20, 5, 0))
    assert resumed.history == whole.history
    for path, trained in ((tmp_path / "resumed.pt", resumed), (tmp_path / "whole.pt", whole)):
        save_model(path, "voice_encoder", trained.model, as_dict(cfg), {"seed": 0}, trained.meta)
    assert (tmp_path / "resumed.pt").read_bytes() == (tmp_path / "whole.pt").read_bytes()


@pytest.mark.parametrize("bad", [{"iterations": 0}, {"batch_size": -1}, {"lr": 0.0}])
def test_sections_refuse_bad_values_when_built_in_code(bad: dict):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PretrainVoiceParams(**bad)
