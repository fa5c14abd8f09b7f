"""Run-to-run determinism for training (same params, same machine -> same metrics)."""

from __future__ import annotations

import os

import torch

from voice2mesh.config import resolve_device
from voice2mesh.train import distributed


def make_deterministic() -> None:
    """Deterministic torch kernels; cuBLAS needs a fixed workspace for deterministic matmuls
    (https://docs.nvidia.com/cuda/cublas/index.html#results-reproducibility).

    ``torch.use_deterministic_algorithms`` would also set ``torch._inductor.config``'s
    ``deterministic``, importing the compiler (inductor and dynamo) to do so: 1.2-3 s of every
    stage's start, for a flag only ``torch.compile`` reads. So this sets the kernels' switch
    alone (what that function sets besides the flag), and ``precision.compile_modules`` sets
    the compiler's when a run compiles."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def training_device(device: str) -> str:
    """Deterministic kernels, and ``device`` (the params' ``device``) resolved (``auto`` ->
    CUDA when present, else CPU): how every training and evaluation stage starts. Under
    ``torchrun`` it also joins the process group and returns this rank's device
    (``distributed.init``); in one process the device is the resolved one."""
    make_deterministic()
    return distributed.init(resolve_device(device))
