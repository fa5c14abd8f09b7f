"""Standard-normal draws that are the same on every CPU (the Box–Muller transform)."""

from __future__ import annotations

import numpy as np

from voice2mesh.portable.kernels import box_muller


def standard_normal(rng: np.random.Generator, size: int | tuple[int, ...] | None = None):
    """Standard-normal draws from pairs of ``rng.random`` uniforms (Box & Muller 1958).

    ``rng.standard_normal`` would do, but its ziggurat tail calls libm's ``log1p``, whose FMA
    variant rounds differently: 3 of 3·10^8 draws differed between a CPU with FMA and one
    without. Uniforms are exact (53 random bits each) and the transform uses the portable
    ``log``, ``cos``/``sin`` and ``sqrt`` only, so a seed gives the same draws everywhere.

    Args:
        rng: the generator; it advances by 2 · ceil(n / 2) uniforms for n draws.
        size: output shape; None draws one float.

    Returns:
        float64 array of shape ``size`` (a float when ``size`` is None).
    """
    n = 1 if size is None else int(np.prod(size))
    out = box_muller(rng.random(((n + 1) // 2, 2)))[:n]
    return float(out[0]) if size is None else out.reshape(size)
