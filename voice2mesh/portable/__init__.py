"""Floating-point maths that gives the same bits on every x86-64 CPU.

Why: numpy runs ``exp``, ``log``, ``power`` (also ``x ** 3``), ``arctan2``, ``cbrt``, … in SIMD
loops chosen per CPU (AVX2/FMA3, AVX-512); the C library's libm picks an FMA variant of
``exp``, ``log``, ``sin``, ``cos``, ``pow``, ``log1p`` … on CPUs with FMA, and numba's
``np.exp``, Python's ``math`` and ``**``, scipy's ``expit`` and numpy's ``standard_normal``
(its ziggurat tail calls ``log1p``) all go there; OpenBLAS picks a kernel per CPU for ``@``,
``dot``, ``np.linalg.norm`` without ``axis``, ``corrcoef`` and LAPACK. Results differ in the
last bit between machines, and the synthetic world turns such differences into different files
(high-order IIR filters, int16 / uint8 rounding, argmin decisions).

Here everything is built from IEEE-754 double ``+ - * /`` and ``sqrt`` (correctly rounded on
every CPU), exact bit operations and polynomials evaluated in a fixed order, compiled by numba
without fast-math (no FMA contraction, no reassociation): results depend on the inputs only.
Numba kernels elsewhere must not call this package's kernels (numba's cache would not see them
change, see ``kernels``): compute the values with these functions and pass them in.
Accuracy is a few ulp over the ranges the project uses; ``sin``/``cos`` reduce the argument
with a three-part π/2 (Cody & Waite 1980, as fdlibm does) and lose accuracy, not determinism,
beyond |x| ≈ 1e6.

What stays numpy: ``+ - * /``, ``sqrt``, ``floor``/``rint``, comparisons, ``x ** 2``,
``x ** 0.5``, reductions (``sum``, ``mean``, ``cumsum``: a fixed pairwise order on every CPU),
``np.interp``, ``np.cross``, ``np.gradient``, scipy's ``lfilter``/``sosfilt``/``PchipInterpolator``
/``CubicSpline`` and the generator's uniform and integer draws: all measured identical across
the emulated CPUs (``tests/synth/test_cross_cpu.py``).
"""

from voice2mesh.portable.functions import (
    arcsin,
    arctan2,
    cbrt,
    cos,
    exp,
    exp2,
    expit,
    expm1,
    log,
    log2,
    power,
    sin,
    tanh,
)
from voice2mesh.portable.normal import standard_normal

__all__ = [
    "arcsin",
    "arctan2",
    "cbrt",
    "cos",
    "exp",
    "exp2",
    "expit",
    "expm1",
    "log",
    "log2",
    "power",
    "sin",
    "standard_normal",
    "tanh",
]
