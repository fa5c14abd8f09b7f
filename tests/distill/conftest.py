"""Shared helpers for the distillation-loss tests: one factory for every registered loss."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from voice2mesh.distill import DistillLoss, build_loss

N_DATA = 10  # CRD memory-bank size used throughout the tests


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    """Tiny tensors: one thread is faster and kinder to the shared CPU."""
    torch.set_num_threads(1)


@pytest.fixture
def make_loss() -> Callable[..., DistillLoss]:
    """``make_loss(name, s_channels, t_channels, **options)`` with CRD's ``n_data`` filled in."""

    def make(name: str, s_channels: int, t_channels: int, **options: object) -> DistillLoss:
        if name == "crd":
            options = {"n_data": N_DATA, "nce_k": 5, **options}
        return build_loss(name, s_channels, t_channels, **options)

    return make
