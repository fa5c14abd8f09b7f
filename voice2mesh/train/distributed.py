"""Several training processes on torch's own engine: DistributedDataParallel under ``torchrun``.

``torchrun --nproc-per-node N`` (``voice2mesh.train.launch`` runs it when
``distributed.nproc`` > 1) starts N copies of a stage with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; without them the process is a world of one and nothing here changes what
it computes. In a world of N:

- ``init`` joins the process group (``gloo`` on CPU, ``nccl`` on CUDA, one GPU per local
  rank); ``training_device`` calls it, so every training stage joins before it builds anything.
- The global batch of a step is still a pure function of ``(seed, step)``, drawn identically on
  every rank; ``shard`` hands each rank its contiguous ``B / N`` rows (the distributed sampler).
  DistributedDataParallel averages the gradients, so one update equals the one-process update
  on the whole batch (each rank's loss is the mean over its rows, and the rows split evenly).
- BatchNorm layers normalise with the statistics of the global batch (``sync_norm``).
- Dropout and noise are drawn per rank (``World.step_seed``): independent masks, as one
  process would draw for different rows, but not the same numbers.
- Only rank 0 writes (``is_main``): resume states, models, metrics, curves, progress bars.

The GAN and the joint KD training (several optimizers, batch-relational losses) do not use the
DDP wrapper: ``train.global_batch`` gathers their relational terms and averages gradients.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from voice2mesh.train.sync_norm import synced

Rows = TypeVar("Rows", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes.

    Attributes:
        rank: 0 .. size - 1; rank 0 writes.
        size: the number of processes (1 without ``torchrun``).
        local_rank: the rank on this machine (picks the GPU).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def current(cls) -> World:
        """The world ``torchrun`` described in the environment; one process when it did not."""
        values = {key: os.environ.get(key) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        if values["WORLD_SIZE"] is None:
            return cls()
        try:
            rank, size = int(values["RANK"] or 0), int(values["WORLD_SIZE"])
            local = int(values["LOCAL_RANK"] or 0)
        except ValueError as error:
            raise RuntimeError(
                f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got {values}: launch "
                "training with `python -m voice2mesh.train.launch --nproc N stages.<name>`"
            ) from error
        if not 0 <= rank < size:
            raise RuntimeError(f"RANK = {rank} is outside 0..WORLD_SIZE-1 = {size - 1}")
        return cls(rank, size, local)

    @property
    def is_main(self) -> bool:
        """Whether this process writes (rank 0)."""
        return self.rank == 0

    def step_seed(self, base: int) -> int:
        """The torch seed of this rank for a step whose one-process seed is ``base``
        (``base`` itself in a world of one)."""
        return base * self.size + self.rank


def is_main() -> bool:
    """Whether this process writes the stage's outputs (rank 0, or the only process)."""
    return World.current().is_main


def init(device: str) -> str:
    """Join the process group of a ``torchrun`` world (once); return this rank's device.

    Args:
        device: the resolved params ``device``: ``cpu`` (gloo) or ``cuda[:k]`` (nccl; each rank
            takes GPU ``LOCAL_RANK`` whatever ``k`` says).

    Returns:
        ``device`` in a world of one; else ``cpu`` or ``cuda:<LOCAL_RANK>``.
    """
    here = World.current()
    if here.size == 1:
        return device
    kind = torch.device(device).type
    if kind == "cuda":
        if here.local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK = {here.local_rank} but {torch.cuda.device_count()} GPUs are "
                "visible: lower distributed.nproc to the number of GPUs"
            )
        torch.cuda.set_device(here.local_rank)
        device, backend = f"cuda:{here.local_rank}", "nccl"
    elif kind == "cpu":
        backend = "gloo"
    else:
        raise RuntimeError(f"device {device!r}: several processes run on 'cpu' or 'cuda' only")
    if not dist.is_initialized():
        dist.init_process_group(backend)
        atexit.register(destroy)
    return device


def destroy() -> None:
    """Leave the process group (when one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def joined() -> bool:
    """Whether this process trains in a process group of more than one."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard(batch: Rows) -> Rows:
    """This rank's contiguous rows of a global batch (first axis): rows
    ``[rank * B/N, (rank + 1) * B/N)``; the whole batch in a world of one.

    Raises:
        ValueError: ``B`` is not a multiple of the number of processes.
    """
    here = World.current()
    if here.size == 1:
        return batch
    n = len(batch)
    if n % here.size:
        raise ValueError(
            f"a batch of {n} rows does not split evenly over {here.size} processes: set the "
            f"stage's batch_size to a multiple of distributed.nproc = {here.size}"
        )
    k = n // here.size
    return batch[here.rank * k : (here.rank + 1) * k]


def mean_terms(terms: Mapping[str, float], device: str) -> dict[str, float]:
    """Each loss term averaged over the ranks: the loss of the global batch, since every rank's
    term is the mean over as many rows."""
    if not joined():
        return dict(terms)
    keys = sorted(terms)
    values = torch.tensor([terms[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, values.tolist(), strict=True)}


def data_parallel(module: nn.Module, device: str) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel (parameters broadcast from rank 0, gradients
    averaged over the ranks in ``backward``)."""
    here = torch.device(device)
    ids = [here.index if here.index is not None else 0] if here.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


@contextlib.contextmanager
def running(task: Any, device: str) -> Iterator[World]:
    """The world a ``train.loop.fit`` runs in; in a world of several, the ``task``'s networks
    (``Task.modules``) synced (``sync_norm``) and trained through DistributedDataParallel
    (``Task.distribute``) until the ``with`` ends."""
    here = World.current()
    if here.size == 1:
        yield here
        return
    if not joined():
        raise RuntimeError(
            f"WORLD_SIZE = {here.size} but no process group was joined: call "
            "train.distributed.init(device) (training_device does) before fit"
        )
    with contextlib.ExitStack() as stack:
        for module in task.modules().values():
            stack.enter_context(synced(module))
        task.distribute(lambda module: data_parallel(module, device))
        stack.callback(task.distribute, None)
        yield here
