"""The accelerator params: bf16 autocast around each step (CUDA by default, CPU on request),
resume states bound to their precision, the config's check. torch.compile: tests/gpu."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from test_loop import Regression  # tests/train is on sys.path under pytest

from voice2mesh.config import AcceleratorParams, ConfigError, params_from_dict
from voice2mesh.train.loop import Schedule, fit
from voice2mesh.train.precision import resolve_precision, schedule_options


def test_auto_is_fp32_on_a_cpu_and_explicit_choices_pass_through() -> None:
    assert resolve_precision("auto", "cpu") == "fp32"
    assert (
        resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("fp32", "cuda") == "fp32"
    )
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu")
    assert schedule_options(AcceleratorParams(), "cpu") == {"precision": "fp32", "compile": False}


def test_the_config_names_a_bad_precision() -> None:
    with pytest.raises(ConfigError, match=r"accelerator\.precision"):
        params_from_dict({"accelerator": {"precision": "fp16"}}, "x.yaml")
    assert params_from_dict({}).accelerator == AcceleratorParams(precision="auto", compile=False)


def test_bf16_autocast_runs_each_step_in_bf16_and_keeps_float32_weights() -> None:
    seen: list[torch.dtype] = []

    class Spy(Regression):
        def step(self, step: int) -> dict[str, float]:
            seen.append(self.model[1](torch.ones(1, 3)).dtype)  # what the step computes in
            return super().step(step)

    fp32 = fit(Regression(), Schedule(12, 4, seed=0))
    bf16 = fit(Spy(), Schedule(12, 4, seed=0, precision="bf16"))
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert np.isfinite([h["loss"] for h in bf16.history]).all()
    weights = list(zip(fp32.model.parameters(), bf16.model.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in weights)  # autocast changed the arithmetic
    assert all(torch.allclose(a, b, atol=0.05) for a, b in weights)  # but not what is learnt


def test_a_state_saved_at_another_precision_is_not_resumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.pt"
    fit(Regression(), Schedule(6, 3, seed=1, state_path=state))
    task = Regression()
    with caplog.at_level(logging.WARNING):
        fit(task, Schedule(6, 3, seed=1, state_path=state, resume=True, precision="bf16"))
    assert "another configuration" in caplog.text and "precision" in caplog.text
    assert task.steps == list(range(6))
    again = Regression()
    fit(again, Schedule(8, 4, seed=1, state_path=state, resume=True, precision="bf16"))
    assert again.steps == [6, 7]  # a bf16 state resumes at bf16
