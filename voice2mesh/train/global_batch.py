"""The GAN and the joint KD training under ``torchrun``: losses of the global batch.

``train_gan`` and ``kd_ablation`` train several networks with their own optimizers (critics,
then generator + student + KD connectors) and batch-relational losses (RKD, PKT, SP, CRD, the
authors' correlation of adjacent rows). Under N processes (``train.distributed``) each rank
draws the same global batch of B rows and keeps its contiguous shard (``distributed.shard``);
BatchNorm layers use the global batch's statistics (``sync_norm``); then

- per-sample terms (the GAN's BCE and CE, the parameter MSE, the triplet margin of each
  anchor with its own positive and negative) are means over the shard's rows, as under DDP;
- every batch-relational term is computed on ``gather``: the ranks' shards concatenated in
  rank order, i.e. the global batch in its one-process order, with gradient. Every rank
  computes the same value; the backward of ``gather`` sums the ranks' gradients of each
  shard's slice, so the gradient reaching a shard is N times its one-process gradient;
- ``update`` averages each optimizer's gradients over the ranks (what DDP does to a wrapped
  network's) before stepping: per-sample terms become the global batch's mean, and the N of a
  gathered term cancels. Every rank steps on the same gradients, so the networks stay equal.

Networks are not wrapped in DistributedDataParallel (its reducer expects one forward through
the wrapper per backward, and the critics' ``requires_grad`` flips during a step); rank 0's
parameters and buffers are broadcast once instead (``SelfAveragingTask.distribute``). In a
world of one every function here is the identity, so one process computes what it always did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from voice2mesh.train.distributed import joined
from voice2mesh.train.loop import Task


class _GatherRows(torch.autograd.Function):
    """Every rank's (k, ...) rows concatenated into (N·k, ...) in rank order; the backward sums
    the ranks' gradients of the whole and returns this rank's slice (as
    ``torch.distributed.nn.functional.all_gather``, deprecated since torch 2.x, does)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rows = len(x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        start = dist.get_rank() * ctx.rows
        return total[start : start + ctx.rows]


def gather(x: torch.Tensor) -> torch.Tensor:
    """(k, ...) shard rows -> (N·k, ...) global batch rows in rank order (``x`` itself in a
    world of one); with gradient when ``x`` requires one (module doc: N times the one-process
    gradient reaches ``x``, and ``update`` divides it by N)."""
    if not joined():
        return x
    if x.requires_grad:
        return _GatherRows.apply(x)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def update(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()`` on its parameters' gradients averaged over the ranks (one
    all-reduce); a plain step in a world of one."""
    if joined():
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= dist.get_world_size()
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
    optimizer.step()


@contextlib.contextmanager
def same_randomness() -> Iterator[None]:
    """Every rank draws the one-process random numbers inside (a loss of the gathered batch,
    e.g. CRD's negatives, must be the same on every rank); nothing changes in a world of one.

    The loop seeds rank r's step with ``base · N + r`` (``World.step_seed``); inside, the torch
    generators are seeded with ``base``, the one-process seed of the step, and restored after.
    """
    if not joined():
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(torch.initial_seed() // dist.get_world_size())
        yield


class SelfAveragingTask(Task):
    """A task whose ``step`` trains on its ``distributed.shard`` of every batch, gathers its
    batch-relational terms and steps through ``update`` (module doc)."""

    shards = True

    def distribute(self, wrap: Callable[[nn.Module], nn.Module] | None) -> None:
        """No wrapper: the networks start from rank 0's parameters and buffers (as
        DistributedDataParallel would); ``update`` averages the gradients."""
        if wrap is None:
            return
        for module in self.modules().values():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, 0)
