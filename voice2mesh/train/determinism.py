"""Run-to-run determinism for training (same params, same machine -> same metrics)."""

from __future__ import annotations

import os

import torch

from voice2mesh.config import resolve_device


def make_deterministic() -> None:
    """Deterministic torch kernels; cuBLAS needs a fixed workspace for deterministic matmuls
    (https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def training_device(device: str) -> str:
    """Deterministic kernels, and ``device`` (the params' ``device``) resolved (``auto`` ->
    CUDA when present, else CPU): how every training and evaluation stage starts."""
    make_deterministic()
    return resolve_device(device)
