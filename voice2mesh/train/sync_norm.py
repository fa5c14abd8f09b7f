"""BatchNorm over the global batch when several processes each hold a shard of it.

torch's ``nn.SyncBatchNorm`` refuses CPU tensors (torch 2.13: "SyncBatchNorm expected input
tensor to be on GPU"), so the gloo path could not match one process. ``GlobalBatchNorm`` does
the same on any device with one autograd-aware all-reduce per layer: per channel, the sums of
``x`` and ``x**2`` and the row count (float64) are summed over the ranks, giving the global
batch's mean and biased variance; the backward all-reduce of their gradients carries each
rank's share of the loss to every other rank's inputs, as ``nn.SyncBatchNorm`` does. Running
statistics follow ``nn.BatchNorm`` (momentum, unbiased variance), so every rank keeps the ones
one process would.

``synced(module)`` swaps every BatchNorm of a module for a ``GlobalBatchNorm`` that shares its
parameters and buffers (optimizers, state dicts and checkpoints see the same tensors under the
same names) and swaps them back afterwards. Outside training mode, in a world of one, or
inside ``local()`` (an evaluation every rank runs on the same whole data in training mode, as
the GAN's does), the layer is plain BatchNorm.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

_LOCAL = [False]  # inside ``local()``: every GlobalBatchNorm normalises this rank's rows only


class _SumOverRanks(torch.autograd.Function):
    """``x`` summed over the ranks; its gradient summed over the ranks as well (every rank's
    loss depends on every rank's ``x``). ``torch.distributed.nn.functional.all_reduce`` is this,
    deprecated since torch 2.x."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm{1,2,3}d whose training statistics are those of every rank's rows together."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, *) -> (B, C, *)
        if _LOCAL[0] or not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        wide = x.double()
        count = torch.full((1,), x.numel() // channels, dtype=torch.float64, device=x.device)
        stats = _SumOverRanks.apply(torch.cat([wide.sum(dims), (wide * wide).sum(dims), count]))
        n = stats[-1]
        mean = stats[:channels] / n  # (C,)
        var = (stats[channels : 2 * channels] / n - mean * mean).clamp_min(0)  # biased
        if self.track_running_stats and self.running_mean is not None:
            self._track(mean.detach(), var.detach() * n / (n - 1).clamp_min(1))
        shape = [1, channels] + [1] * (x.dim() - 2)
        scale = torch.rsqrt(var + self.eps).to(x.dtype)
        y = (x - mean.to(x.dtype).view(shape)) * scale.view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased: torch.Tensor) -> None:
        """Update the running statistics in place, as ``nn.BatchNorm`` does."""
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


def _global(norm: _BatchNorm) -> GlobalBatchNorm:
    """A ``GlobalBatchNorm`` holding ``norm``'s very parameters and buffers."""
    out = GlobalBatchNorm(
        norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats
    )
    for name, tensor in [*norm.named_parameters(recurse=False), *norm.named_buffers(recurse=False)]:
        setattr(out, name, tensor)
    out.train(norm.training)
    return out


@contextmanager
def local() -> Iterator[None]:
    """GlobalBatchNorm layers behave as plain BatchNorm inside: for computations every rank
    runs on the same rows (an evaluation of the whole held-out set), with no collective."""
    before, _LOCAL[0] = _LOCAL[0], True
    try:
        yield
    finally:
        _LOCAL[0] = before


@contextmanager
def synced(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` with its BatchNorm layers normalising over the global batch (module doc);
    the original layers are put back on exit."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm) and not isinstance(child, GlobalBatchNorm):
                swapped.append((parent, name, child))
                setattr(parent, name, _global(child))
    try:
        yield module
    finally:
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)
