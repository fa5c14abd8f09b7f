"""The one training loop: seeding, progress, evaluation cadence, curves and resume.

A trainer defines a ``Task`` — its networks, optimizers, one ``step`` and an ``evaluate`` — and
``fit`` runs it:

    for step in range(start, iterations):          # a tqdm bar unless quiet
        torch RNG seeded from (seed, step)          # dropout, noise, CRD negatives
        terms = task.step(step)                     # one update; batches come from (seed, step)
        every eval_every steps and at the end:
            history += {step, mean of terms since the last evaluation, task.evaluate()}
            resume state -> state_path              # modules, optimizers, step, history

Everything a step draws depends only on ``(seed, step)``, so a run resumed from its state file
reproduces the uninterrupted run bit for bit. The state carries the task's ``fingerprint``
(its settings except ``iterations``, its architecture and its data); a state saved by another
configuration is ignored with a warning, and raising ``iterations`` continues a finished run.

Under ``torchrun`` (``train.distributed``) every rank runs this loop: ``step`` trains through
``Task.net`` (DistributedDataParallel) on its ``distributed.shard`` of the global batch, its
BatchNorm layers use the global batch's statistics (``sync_norm``), the torch seed is drawn per
rank, the step terms are averaged over the ranks, every rank evaluates the same networks, and
only rank 0 shows progress and writes the resume state. In a world of one none of this changes
a single number.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from voice2mesh.config import as_dict
from voice2mesh.train import distributed
from voice2mesh.train.precision import autocast, compile_modules
from voice2mesh.train.resume import restore, save

T = TypeVar("T")


class Task(ABC):
    """What a trainer defines; ``fit`` does the rest.

    Attributes:
        model: the network the run produces (what the stage saves as a model checkpoint).
        optims: its optimizers, by name.
        settings: what decides each step's computation (``settings(section)``: the params
            without ``RUN_KEYS``), part of the fingerprint.
        seed: the run's seed.
        shards: whether the task can run under several processes (``distribute``).
    """

    model: nn.Module
    optims: dict[str, torch.optim.Optimizer]
    settings: dict[str, Any]
    seed: int
    shards: bool = False  # step trains ``net`` on its ``distributed.shard`` of every batch

    def modules(self) -> dict[str, nn.Module]:
        """Every network whose state the run changes (saved in the resume state)."""
        return {"model": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by name."""
        return self.optims

    @abstractmethod
    def data(self) -> dict[str, Any]:
        """What the run trains on (identities, counts, a ``digest`` of the arrays): a resume
        must see the same."""

    def fingerprint(self) -> dict[str, Any]:
        """Settings, seed and data a resume state must have been saved with."""
        if not hasattr(self, "_data"):  # the data do not change during a run: digest once
            self._data = self.data()
        return {"config": self.settings, "seed": self.seed, "data": self._data}

    @abstractmethod
    def step(self, step: int) -> dict[str, float]:
        """One update; returns its loss terms (plain floats)."""

    @abstractmethod
    def evaluate(self) -> dict[str, float | None]:
        """Held-out measures of the current networks."""

    @abstractmethod
    def metrics(self, history: list[dict]) -> dict:
        """The run's final metrics (for ``metrics/<stage>.json``; ``fit`` adds ``iterations``)."""

    def meta(self) -> dict:
        """What the model checkpoint records besides its config (e.g. the identities)."""
        return {}

    @property
    def net(self) -> nn.Module:
        """What ``step`` calls to train ``model``: its DistributedDataParallel wrapper under
        several processes (``distribute``), else ``model`` itself."""
        wrapped = getattr(self, "_net", None)
        return self.model if wrapped is None else wrapped

    def distribute(self, wrap: Callable[[nn.Module], nn.Module] | None) -> None:
        """Make ``step`` train through ``wrap(model)`` (None: ``model`` itself again).

        Only a task whose ``step`` trains ``net`` on its ``distributed.shard`` of each batch
        (``shards = True``) runs under several processes; the others refuse, naming themselves.
        """
        if not self.shards:
            raise NotImplementedError(
                f"{type(self).__name__} runs in one process only (its step does not shard its "
                "batch): set distributed.nproc: 1"
            )
        self._net = None if wrap is None else wrap(self.model)

    def train_mode(self, mode: bool) -> None:
        """Put the networks in training (or eval) mode."""
        for module in self.modules().values():
            module.train(mode)


@dataclass(frozen=True)
class Schedule:
    """How long and how a ``fit`` runs.

    Attributes:
        iterations: steps in total (also when resuming).
        eval_every: steps between evaluations; 0: only at the end.
        seed: the run's seed (the top-level ``seed``).
        device: a resolved torch device.
        state_path: resume state written at every evaluation; None: none.
        resume: continue from ``state_path`` when it matches the task.
        name: the progress bar's label.
        quiet: no progress bar.
        precision: ``fp32``, or ``bf16`` autocast around each step (``train.precision``); a
            resume state must have been saved at the same precision.
        compile: ``torch.compile`` the task's networks first.
    """

    iterations: int
    eval_every: int
    seed: int
    device: str = "cpu"
    state_path: Path | str | None = None
    resume: bool = False
    name: str = "train"
    quiet: bool = True
    precision: str = "fp32"
    compile: bool = False

    @classmethod
    def of(
        cls,
        section: Any,
        seed: int,
        device: str,
        name: str,
        quiet: bool = True,
        state_path: Path | str | None = None,
        **accelerator: Any,
    ) -> Schedule:
        """The schedule of a training params section (``iterations``, ``eval_every``,
        ``resume``, ``resume_state`` unless ``state_path`` is given); ``accelerator``:
        ``precision`` and ``compile`` (``precision.schedule_options``)."""
        state = state_path if state_path is not None else section.resume_state
        return cls(
            section.iterations,
            section.eval_every,
            seed,
            device,
            state,
            section.resume,
            name,
            quiet,
            **accelerator,
        )

    def fingerprint(self, task: Task) -> dict[str, Any]:
        """What a resume state must match: the task's fingerprint, and the precision unless
        fp32 (so that fp32 states saved before precision existed still resume)."""
        extra = {} if self.precision == "fp32" else {"precision": self.precision}
        return task.fingerprint() | extra


RUN_KEYS = ("iterations", "eval_every", "resume", "out", "resume_state", "samples", "banks")


def settings(section: Any) -> dict[str, Any]:
    """A params section as a dict without the keys that do not change what a step computes
    (``RUN_KEYS``): the part of a task's fingerprint that comes from its params."""
    return {k: v for k, v in as_dict(section).items() if k not in RUN_KEYS}


def _cuda_devices(device: str) -> list[int]:
    d = torch.device(device)
    return [d.index or 0] if d.type == "cuda" else []


@dataclass(frozen=True)
class Trained:
    """What a ``fit`` produced: the model, one history row per evaluation, final metrics, and
    the checkpoint's ``meta``."""

    model: nn.Module
    history: list[dict]
    metrics: dict
    meta: dict


def fit(task: Task, schedule: Schedule) -> Trained:
    """Run ``task`` to ``schedule.iterations`` (module docstring).

    Each history row is ``{"step": n, <mean of each step term since the previous row>,
    <task.evaluate()>}``. The networks are left in eval mode. The global torch RNG is restored
    afterwards.
    """
    start, history = restore(task, schedule)
    if schedule.compile:
        compile_modules(task.modules())
    window: list[dict[str, float]] = []
    steps = range(start, schedule.iterations)
    rng = torch.random.fork_rng(devices=_cuda_devices(schedule.device))
    with distributed.running(task, schedule.device) as world, rng:
        task.train_mode(True)
        quiet = schedule.quiet or not world.is_main
        bar = tqdm(steps, desc=schedule.name, disable=quiet, dynamic_ncols=True)
        for step in bar:
            torch.manual_seed(world.step_seed(schedule.seed * 1_000_003 + step))
            with autocast(schedule.precision, schedule.device):
                terms = task.step(step)
            window.append(distributed.mean_terms(terms, schedule.device))
            done = step + 1
            if done == schedule.iterations or (
                schedule.eval_every and done % schedule.eval_every == 0
            ):
                means = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                history.append({"step": done} | means | task.evaluate())
                task.train_mode(True)
                window = []
                bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in history[-1].items() if isinstance(v, float)}
                )
                if schedule.state_path is not None and world.is_main:
                    save(task, schedule, done, history)
    task.train_mode(False)
    metrics = task.metrics(history) | {"iterations": schedule.iterations}
    return Trained(task.model, history, metrics, task.meta())


def digest(*arrays: np.ndarray | torch.Tensor) -> str:
    """SHA-256 of the arrays' shapes, dtypes and bytes, in order: a resume state saved on other
    data (other features, faces or labels of the same identities) is not continued."""
    h = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array.detach().cpu().numpy() if torch.is_tensor(array) else array)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def final(history: list[dict], *keys: str) -> dict[str, Any]:
    """The last evaluation's ``keys`` (each None when nothing was evaluated)."""
    last = history[-1] if history else {}
    return {k: last.get(k) for k in keys}


def seeded(seed: int, build: Callable[[], T]) -> T:
    """``build()`` with the torch RNG seeded by ``seed``; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
