"""Portable elementary functions: accuracy against numpy/libm, special values, normal draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from voice2mesh import portable as pm

RNG = np.random.default_rng(7)
WIDE = RNG.uniform(-30.0, 30.0, 200_000)
POSITIVE = np.exp(RNG.uniform(-700.0, 700.0, 200_000))
UNIT = RNG.uniform(-1.0, 1.0, 200_000)

# name: (portable, reference, argument(s), max error in ulp of the reference)
CASES = {
    "exp": (pm.exp, np.exp, (WIDE * 20,), 1),
    "exp2": (pm.exp2, np.exp2, (WIDE * 30,), 1),
    "log": (pm.log, np.log, (POSITIVE,), 1),
    "log2": (pm.log2, np.log2, (POSITIVE,), 1),
    "sin": (pm.sin, np.sin, (WIDE * 1000,), 2),
    "cos": (pm.cos, np.cos, (WIDE * 1000,), 2),
    "arcsin": (pm.arcsin, np.arcsin, (UNIT,), 6),
    "arctan2": (pm.arctan2, np.arctan2, (WIDE, np.roll(WIDE, 1)), 6),
    "tanh": (pm.tanh, np.tanh, (WIDE / 5,), 4),
    "expit": (pm.expit, expit, (WIDE,), 3),
    "expm1": (pm.expm1, np.expm1, (WIDE / 10,), 2),
    "cbrt": (pm.cbrt, np.cbrt, (WIDE * 1e5,), 1),
    "power": (pm.power, np.power, (np.abs(WIDE), UNIT * 3), 16),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_numpy_within_a_few_ulp(name):
    portable, reference, args, max_ulp = CASES[name]
    got, want = portable(*args), reference(*args)
    assert got.dtype == np.float64 and got.shape == want.shape
    finite = np.isfinite(want) & (want != 0)
    ulp = np.abs(got[finite] - want[finite]) / np.spacing(np.abs(want[finite]))
    assert ulp.max() <= max_ulp, f"{name}: {ulp.max()} ulp"
    np.testing.assert_array_equal(got[~finite], want[~finite])


@pytest.mark.parametrize(
    "function, argument, expected",
    [
        (pm.exp, [np.nan, np.inf, -np.inf, 710.0, -746.0, 0.0], [np.nan, np.inf, 0, np.inf, 0, 1]),
        (pm.log, [np.nan, -1.0, 0.0, np.inf, 5e-324], [np.nan, np.nan, -np.inf, np.inf, None]),
        (pm.log2, [8.0, 0.5, 2.0**-1074, 2.0**1023], [3.0, -1.0, -1074.0, 1023.0]),
        (pm.exp2, [3.0, -1074.0, 1024.0, np.nan], [8.0, 5e-324, np.inf, np.nan]),
        (pm.sin, [0.0, np.inf, np.nan], [0.0, np.nan, np.nan]),
        (pm.arcsin, [1.0, -1.0, 1.5], [np.pi / 2, -np.pi / 2, np.nan]),
        (pm.tanh, [30.0, -30.0, 0.0, np.nan], [1.0, -1.0, 0.0, np.nan]),
        (pm.cbrt, [-27.0, 0.0, np.inf], [-3.0, 0.0, np.inf]),
    ],
)
def test_special_values(function, argument, expected):
    with np.errstate(over="ignore"):  # exp(710) overflows, as numpy's does
        got = function(np.array(argument))
    for g, e, a in zip(got, expected, argument, strict=True):
        if e is None:  # the smallest subnormal: as libm, to rounding
            assert math.isclose(g, math.log(a), rel_tol=1e-15)
        else:
            assert (np.isnan(g) and np.isnan(e)) or g == e, (a, g, e)


def test_arctan2_quadrants_and_power_edges():
    y, x = np.array([0.0, 0.0, 1.0, -1.0, 1.0, -1.0]), np.array([1.0, -1.0, 0.0, 0.0, -1.0, -1.0])
    np.testing.assert_allclose(pm.arctan2(y, x), np.arctan2(y, x), rtol=0, atol=1e-15)
    got = pm.power(np.array([0.0, 0.0, 2.0, -2.0, 1.0]), np.array([2.0, -1.0, 0.0, 0.5, np.nan]))
    np.testing.assert_array_equal(got, [0.0, np.inf, 1.0, np.nan, 1.0])


def test_scalars_broadcasting_and_integer_input():
    assert pm.exp(0) == 1.0 and isinstance(pm.exp(1.0), np.floating)
    assert pm.power(np.arange(1, 4)[:, None], np.array([1.0, 2.0])).shape == (3, 2)
    assert pm.log(np.float32(2.0)) == pm.log(2.0)  # computed in float64 whatever comes in


def test_standard_normal_is_seeded_and_normal():
    a = pm.standard_normal(np.random.default_rng(3), (500, 401))
    b = pm.standard_normal(np.random.default_rng(3), (500, 401))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 401)
    z = a.ravel()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs(np.mean(z**4) - 3.0) < 0.05  # Gaussian kurtosis
    assert abs(np.mean(np.abs(z) > 3.0) - 0.0027) < 0.0006  # and tails
    assert isinstance(pm.standard_normal(np.random.default_rng(0)), float)
    assert pm.standard_normal(np.random.default_rng(0), 0).shape == (0,)


def test_standard_normal_draws_do_not_depend_on_how_they_are_split():
    """An odd count uses a whole pair; the generator advances the same whatever the shape."""
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a = pm.standard_normal(rng_a, 7)
    b = pm.standard_normal(rng_b, (2, 4)).ravel()
    np.testing.assert_array_equal(a, b[:7])
    assert rng_a.random() == rng_b.random()
