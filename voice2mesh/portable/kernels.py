"""The compiled core of ``voice2mesh.portable``: scalar kernels, their ufuncs, Box–Muller.

Each kernel is built from IEEE-754 double ``+ - * /`` and ``sqrt``, exact bit operations
(exponent extraction, scaling by 2^k) and polynomials in a fixed order; numba compiles them
without fast-math, so no FMA contraction or reassociation can change a result between CPUs.

Everything jitted lives in this one file on purpose: numba's cache is invalidated by the
source file of the cached function only, so a cached function calling a kernel from another
file would keep stale code after that file changed. Other modules call the ufuncs below from
Python (or, in their own kernels, take precomputed values) and never a kernel of this file.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import njit, types, vectorize
from numba.extending import intrinsic


def _series(terms: list[Fraction]) -> tuple[float, ...]:
    """Correctly rounded coefficients, highest power first (for ``_horner``)."""
    return tuple(float(t) for t in reversed(terms))


_LN2_HI = 6.93147180369123816490e-01  # ln 2 with 32 trailing zero bits: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_PIO2_1 = 1.57079632673412561417e00  # π/2 in three 33-bit parts (Cody & Waite)
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_TWO_OVER_PI = 6.36619772367581382433e-01
_PI = 3.141592653589793
_PIO2 = 1.5707963267948966
_EXP_MAX = 709.782712893384  # e^x overflows above, underflows to 0 below _EXP_MIN
_EXP_MIN = -745.1332191019412
_TINY = 2.2250738585072014e-308  # smallest normal double

_EXP_C = _series([Fraction(1, math.factorial(k)) for k in range(14)])  # e^r, |r| ≤ ln2/2
_EXPM1_C = _series([Fraction(1, math.factorial(k + 1)) for k in range(17)])  # (e^x − 1)/x
_LOG_C = _series([Fraction(2, 2 * k + 1) for k in range(1, 12)])  # see _log_split
_SIN_C = _series([Fraction((-1) ** k, math.factorial(2 * k + 1)) for k in range(1, 10)])
_COS_C = _series([Fraction((-1) ** k, math.factorial(2 * k)) for k in range(10)])
_ATAN_C = _series([Fraction((-1) ** k, 2 * k + 1) for k in range(1, 13)])


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose IEEE-754 bits are the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _as_bits(typingctx, x):
    """The IEEE-754 bits of the float64 ``x`` as an int64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@njit(cache=True)
def _scale(p: float, k: int) -> float:
    """p · 2^k for |k| ≤ 2044 (and 0.5 ≤ |p| < 2): two exact power-of-two factors, one
    rounding at most (into the subnormals), inf on overflow."""
    half = k >> 1
    return p * _as_float((half + 1023) << 52) * _as_float((k - half + 1023) << 52)


@njit(cache=True)
def _horner(coefficients: tuple[float, ...], x: float) -> float:
    p = 0.0
    for c in coefficients:
        p = p * x + c
    return p


@njit(cache=True)
def _exp(x: float) -> float:
    """e^x: x = k ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r^13, times 2^k."""
    if x != x:
        return x
    x = min(max(x, _EXP_MIN - 1.0), _EXP_MAX + 1.0)  # beyond: 0 or inf either way
    k = np.int64(math.floor(x * _INV_LN2 + 0.5))
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return _scale(_horner(_EXP_C, r), k)


@njit(cache=True)
def _expm1(x: float) -> float:
    """e^x − 1, accurate near 0 (Taylor series for |x| < 0.5)."""
    if abs(x) < 0.5:
        return x * _horner(_EXPM1_C, x)
    return _exp(x) - 1.0


@njit(cache=True)
def _log_split(x: float) -> tuple[int, float, float, float]:
    """Finite x > 0 = 2^e (1 + f), √½ < 1 + f ≤ √2 → (e, f, f²/2, s (f²/2 + R)) (fdlibm e_log.c).

    With s = f / (2 + f) and z = s², log(1 + f) = f − (f²/2 − s (f²/2 + R)) where
    R = Σ 2 z^k / (2k + 1) (k = 1..11; |s| ≤ 0.172, so the series is exact to 1e-18).
    """
    small = x < _TINY  # subnormal: make it normal first (exact); a select, not a branch, so
    x *= 18014398509481984.0 if small else 1.0  # vectorised code raises no spurious overflow
    shift = 54 if small else 0
    bits = _as_bits(x)
    e = ((bits >> 52) & 0x7FF) - 1023 - shift
    m = _as_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # 1 ≤ m < 2
    if m > _SQRT2:
        m *= 0.5
        e += 1
    f = m - 1.0
    s = f / (2.0 + f)
    hfsq = 0.5 * f * f
    return e, f, hfsq, s * (hfsq + s * s * _horner(_LOG_C, s * s))


@njit(cache=True)
def _log(x: float) -> float:
    """Natural logarithm (NaN below 0, −inf at 0)."""
    if not 0.0 < x < math.inf:
        return -math.inf if x == 0.0 else (x if x >= 0.0 else math.nan)
    e, f, hfsq, tail = _log_split(x)
    return e * _LN2_HI - ((hfsq - (tail + e * _LN2_LO)) - f)


@njit(cache=True)
def _log2(x: float) -> float:
    """Base-2 logarithm, exact at powers of two."""
    if not 0.0 < x < math.inf:
        return _log(x)
    e, f, hfsq, tail = _log_split(x)
    return e + (f - (hfsq - tail)) * _INV_LN2


@njit(cache=True)
def _sincos(x: float, cosine: bool) -> float:
    """sin or cos: x = k π/2 + r (|r| ≲ π/4), Taylor series of sin r (to r^19), cos r (r^18)."""
    if not abs(x) < 1e15:
        return math.nan if not abs(x) < math.inf else 0.0  # no meaningful phase left
    k = np.int64(math.floor(x * _TWO_OVER_PI + 0.5))
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    quadrant = (k + (1 if cosine else 0)) & 3  # cos x = sin(x + π/2)
    z = r * r
    value = _horner(_COS_C, z) if quadrant & 1 else r + r * z * _horner(_SIN_C, z)
    return -value if quadrant & 2 else value


@njit(cache=True)
def _cos_sin_turn(t: float) -> tuple[float, float]:
    """cos and sin of 2π t for 0 ≤ t < 1: the quarter turn is split off exactly (4t − q)."""
    q = math.floor(4.0 * t + 0.5)
    r = (4.0 * t - q) * _PIO2  # |r| ≤ π/4
    z = r * r
    c, s = _horner(_COS_C, z), r + r * z * _horner(_SIN_C, z)
    k = np.int64(q)  # rotate (c, s) by k quarter turns; selects and exact sign flips only
    odd = k & 1
    cos_sign = 1.0 - 2.0 * (((k + 1) >> 1) & 1)
    sin_sign = 1.0 - 2.0 * ((k >> 1) & 1)
    return cos_sign * (s if odd else c), sin_sign * (c if odd else s)


@njit(cache=True)
def _sin(x: float) -> float:
    """Sine (radians)."""
    return _sincos(x, False)


@njit(cache=True)
def _cos(x: float) -> float:
    """Cosine (radians)."""
    return _sincos(x, True)


@njit(cache=True)
def _atan_unit(a: float) -> float:
    """arctan of 0 ≤ a ≤ 1: two half-angle steps to |u| ≤ tan(π/16), then the series to u^25."""
    u = a / (1.0 + math.sqrt(1.0 + a * a))
    u = u / (1.0 + math.sqrt(1.0 + u * u))
    z = u * u
    return 4.0 * (u + u * z * _horner(_ATAN_C, z))


@njit(cache=True)
def _arctan2(y: float, x: float) -> float:
    """Angle of (x, y) in [−π, π]; (0, 0) gives 0 and y = 0, x < 0 gives π (zeros unsigned)."""
    if x != x or y != y:
        return math.nan
    ax, ay = abs(x), abs(y)
    if ay == 0.0:
        a = 0.0
    elif ay <= ax:
        a = _atan_unit(ay / ax)
    else:
        a = _PIO2 - _atan_unit(ax / ay)
    if x < 0.0:
        a = _PI - a
    return -a if y < 0.0 else a


@njit(cache=True)
def _exp2(x: float) -> float:
    """2^x, exact at integers: x = k + r with |r| ≤ ½, e^(r ln2) by the series, times 2^k."""
    if x != x:
        return x
    x = min(max(x, -1100.0), 1100.0)  # beyond: 0 or inf either way
    k = np.int64(math.floor(x + 0.5))
    return _scale(_horner(_EXP_C, (x - k) * _LN2), k)


# numba ufuncs (float64 in, float64 out; see functions.py), compiled on first use.
@vectorize(cache=True)
def exp_ufunc(x):
    return _exp(x)


@vectorize(cache=True)
def expm1_ufunc(x):
    return _expm1(x)


@vectorize(cache=True)
def exp2_ufunc(x):
    return _exp2(x)


@vectorize(cache=True)
def log_ufunc(x):
    return _log(x)


@vectorize(cache=True)
def log2_ufunc(x):
    return _log2(x)


@vectorize(cache=True)
def sin_ufunc(x):
    return _sin(x)


@vectorize(cache=True)
def cos_ufunc(x):
    return _cos(x)


@vectorize(cache=True)
def arctan2_ufunc(y, x):
    return _arctan2(y, x)


@njit(cache=True)
def box_muller(uniform: np.ndarray) -> np.ndarray:
    """(P, 2) uniforms in [0, 1) → (2P,) normals: √(−2 ln(1 − u)) (cos 2πv, sin 2πv)."""
    out = np.empty(2 * uniform.shape[0])
    for i in range(uniform.shape[0]):
        radius = math.sqrt(-2.0 * _log(1.0 - uniform[i, 0]))  # 1 − u ∈ (0, 1], exact
        c, s = _cos_sin_turn(uniform[i, 1])
        out[2 * i] = radius * c
        out[2 * i + 1] = radius * s
    return out
