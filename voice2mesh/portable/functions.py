"""Numpy-style portable functions: float64 in and out, broadcasting like numpy's ufuncs.

The elementary ones run a numba ufunc of ``kernels``; the others are compositions of those
with numpy's correctly rounded ``+ - * /`` and ``sqrt``, so they are portable too. Scalars give
numpy float64 scalars.
"""

from __future__ import annotations

import numpy as np

from voice2mesh.portable import kernels

_INV_3 = 1.0 / 3.0


def _float64(x) -> np.ndarray:
    return np.asarray(x, np.float64)  # the ufuncs are compiled for float64 only


def _scalar_if_0d(x: np.ndarray):
    return x[()] if x.ndim == 0 else x


def exp(x):
    """e^x."""
    return kernels.exp_ufunc(_float64(x))


def expm1(x):
    """e^x − 1, accurate near 0."""
    return kernels.expm1_ufunc(_float64(x))


def exp2(x):
    """2^x (exact at integers)."""
    return kernels.exp2_ufunc(_float64(x))


def log(x):
    """Natural logarithm (NaN below 0, −inf at 0)."""
    return kernels.log_ufunc(_float64(x))


def log2(x):
    """Base-2 logarithm (exact at powers of two)."""
    return kernels.log2_ufunc(_float64(x))


def sin(x):
    """Sine of radians."""
    return kernels.sin_ufunc(_float64(x))


def cos(x):
    """Cosine of radians."""
    return kernels.cos_ufunc(_float64(x))


def arctan2(y, x):
    """Angle of the point (x, y) in [−π, π] (signed zeros are not distinguished)."""
    return kernels.arctan2_ufunc(_float64(y), _float64(x))


def arcsin(x):
    """arcsin in [−π/2, π/2] (NaN outside [−1, 1])."""
    x = _float64(x)
    with np.errstate(invalid="ignore"):
        return arctan2(x, np.sqrt((1.0 - x) * (1.0 + x)))


def tanh(x):
    """Hyperbolic tangent: (e^2|x| − 1) / (e^2|x| + 1), signed."""
    x = _float64(x)
    e = expm1(2.0 * np.minimum(np.abs(x), 22.0))  # tanh(22) is 1 in double precision
    return np.copysign(e / (e + 2.0), x)


def expit(x):
    """The logistic function 1 / (1 + e^−x) (``scipy.special.expit``)."""
    return 1.0 / (1.0 + exp(-_float64(x)))


def power(x, y):
    """x^y = e^(y ln x) for x ≥ 0 (NaN for negative x); x^0 = 1^y = 1.

    Error grows with |y ln x| (about that many ulp); integer powers are better as products.
    """
    x, y = _float64(x), _float64(y)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = exp(y * log(x))
    return _scalar_if_0d(np.where((y == 0.0) | (x == 1.0), 1.0, out))


def cbrt(x):
    """Real cube root: e^(ln|x| / 3) and one Newton step, signed."""
    x = _float64(x)
    a = np.abs(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        c = exp(log(a) * _INV_3)
        c = c - (c - a / (c * c)) * _INV_3
    return _scalar_if_0d(np.where((a == 0.0) | np.isinf(a), x, np.copysign(c, x)))
