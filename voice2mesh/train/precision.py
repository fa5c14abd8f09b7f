"""How a training run uses a GPU: bf16 mixed precision and ``torch.compile`` (the params'
``accelerator`` section; docs/distributed.md).

``precision: auto`` trains in bf16 autocast on a CUDA device that supports it and in float32
everywhere else, so a CPU run is the same with or without this section. bf16 keeps float32's
exponent range, so it needs no loss scaling; weights, optimizer states and checkpoints stay
float32. ``compile: true`` compiles every trained network in place (``nn.Module.compile``: the
state-dict keys, hence checkpoints and resume states, stay the same).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: str) -> str:
    """``"fp32"`` or ``"bf16"``: ``auto`` is bf16 on a CUDA device with bf16 support."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    cuda = torch.device(device).type == "cuda"
    return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"


def schedule_options(accelerator: Any, device: str) -> dict[str, Any]:
    """``Schedule.of``'s keyword arguments from the ``accelerator`` params on ``device``."""
    return {
        "precision": resolve_precision(accelerator.precision, device),
        "compile": accelerator.compile,
    }


def autocast(precision: str, device: str) -> AbstractContextManager:
    """The context a training step runs in: bf16 autocast, or nothing for fp32."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def compile_modules(modules: dict[str, torch.nn.Module]) -> None:
    """Compile each network in place (``torch.compile``; the first steps are slower), with
    the compiler as deterministic as the kernels (``determinism.make_deterministic`` leaves
    its flag to here, so that runs that do not compile need not import it)."""
    import torch._inductor.config as inductor_config  # here: 1-3 s, only when compiling

    inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
    for module in modules.values():
        module.compile()
