"""Deterministic kernels without importing the compiler; the compiler's flag when compiling."""

from __future__ import annotations

import subprocess
import sys

import torch

from voice2mesh.train.determinism import make_deterministic
from voice2mesh.train.precision import compile_modules

CHECK = """
import sys, torch
from voice2mesh.train.determinism import make_deterministic
make_deterministic()
print(torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled(),
      torch.backends.cudnn.benchmark,
      "torch._inductor.config" in sys.modules)
"""


def test_kernels_turn_deterministic_without_importing_the_compiler() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["True", "True", "False", "False"]


def test_compiling_makes_the_compiler_as_deterministic_as_the_kernels() -> None:
    make_deterministic()
    net = torch.nn.Linear(2, 2)
    compile_modules({"net": net})
    import torch._inductor.config as inductor_config

    assert inductor_config.deterministic is True
