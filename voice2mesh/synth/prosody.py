"""Control tracks of an utterance: per-block and per-sample parameters, and the F0 contour.

Segments are piecewise constant; smoothing turns them into the gradual movements of speech
(formant transitions over ~60 ms, amplitude ramps over ~10 ms). The F0 contour follows the
classic superposition picture (Fujisaki 1983; 't Hart, Collier & Cohen 1990): a declining phrase
line, a Gaussian accent on every stressed vowel, a final fall (or, for one phrase in four, a
rise) and a slow random wander, all in semitones around the speaker's median F0.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.signal import lfilter

from voice2mesh import portable as pm
from voice2mesh.synth.phones import VOWEL, SegmentPlan


def block_segments(plan: SegmentPlan, block: int) -> np.ndarray:
    """Index of the segment under the centre of every block.

    Args:
        plan: the utterance's segments.
        block: samples per block.

    Returns:
        (NB,) int64, NB = ceil(n_samples / block).
    """
    n_blocks = -(-plan.n_samples // block)
    centres = (np.arange(n_blocks) + 0.5) * block
    return np.searchsorted(plan.start, centres, side="right") - 1


def upsample_blocks(values: np.ndarray, block: int, n: int) -> np.ndarray:
    """Per-block values linearly interpolated between block centres to every sample.

    Equals ``np.interp(np.arange(n), (np.arange(NB) + 0.5) * block, values)`` (held constant
    before the first and after the last centre) in one pass without a search per sample.

    Args:
        values: (NB,) one value per block.
        block: samples per block.
        n: output length in samples.

    Returns:
        (n,) float64 track.
    """
    return _upsample(np.ascontiguousarray(values, dtype=np.float64), float(block), n)


@njit(cache=True)
def _upsample(values: np.ndarray, block: float, n: int) -> np.ndarray:
    """Kernel of ``upsample_blocks``: np.interp's formula, one slope per pair of centres."""
    out = np.empty(n)
    last = len(values) - 1
    i = 0
    while i < n and i <= 0.5 * block:  # up to the first centre
        out[i] = values[0]
        i += 1
    for k in range(last):
        lo, hi = (k + 0.5) * block, (k + 1.5) * block
        slope = (values[k + 1] - values[k]) / (hi - lo)
        while i < n and i < hi:
            out[i] = slope * (i - lo) + values[k]
            i += 1
    out[i:] = values[last]  # from the last centre on
    return out


def smooth_blocks(x: np.ndarray, width: int) -> np.ndarray:
    """Triangular moving average along axis 0 with edge padding.

    Args:
        x: (NB, ...) per-block values.
        width: half-width of the triangle in blocks (kernel length 2·width − 1).

    Returns:
        (NB, ...) smoothed values.
    """
    kernel = np.concatenate([np.arange(1, width + 1), np.arange(width - 1, 0, -1)]).astype(float)
    kernel /= kernel.sum()
    pad = width - 1
    xp = np.concatenate([np.repeat(x[:1], pad, 0), x, np.repeat(x[-1:], pad, 0)])
    out = np.zeros_like(x, dtype=np.float64)
    for i, k in enumerate(kernel):  # a few shifted adds: cheaper than a convolution per column
        out += k * xp[i : i + len(x)]
    return out


def sample_envelope(plan: SegmentPlan, values: np.ndarray, ramp: int) -> np.ndarray:
    """Piecewise-constant per-segment values as a per-sample envelope with smooth steps.

    Two box filters of ``ramp`` samples (running sums, O(n)) give triangular ramps of about
    ``2 · ramp`` samples between segments. Stretches of zeros further than ``2 · ramp`` from
    any non-zero segment are left at exactly zero and skipped.

    Args:
        plan: the utterance's segments.
        values: (S,) one value per segment.
        ramp: box length in samples.

    Returns:
        (n_samples,) float64 envelope.
    """
    x = np.repeat(values.astype(np.float64), plan.length)
    return _smooth_nonzero(x, plan.start, plan.length, values != 0, ramp)


@njit(cache=True)
def _smooth_nonzero(
    x: np.ndarray, start: np.ndarray, length: np.ndarray, nonzero: np.ndarray, ramp: int
) -> np.ndarray:
    """Kernel of ``sample_envelope``: both boxes over each span of non-zero segments.

    Spans are padded by 2 · ramp zeros, more than the boxes spread, so each filters as in the
    whole signal; x (n,), start, length and nonzero (S,).
    """
    n, margin = len(x), 2 * ramp
    out = np.zeros(n)
    s = 0
    while s < len(start):
        if not nonzero[s]:
            s += 1
            continue
        lo, hi = max(start[s] - margin, 0), min(start[s] + length[s] + margin, n)
        s += 1
        while s < len(start) and (not nonzero[s] or start[s] - margin <= hi):
            if nonzero[s]:  # close enough to join the span
                hi = min(start[s] + length[s] + margin, n)
            s += 1
        out[lo:hi] = _box(_box(x[lo:hi], ramp), ramp)
    return out


@njit(cache=True)
def _box(x: np.ndarray, ramp: int) -> np.ndarray:
    """Running mean of ``ramp`` samples, ends extended by edge values: (n,) → (n,).

    y[i] = mean(x[i − ramp//2 : i − ramp//2 + ramp]).
    """
    n, lead = len(x), ramp // 2
    y = np.empty(n)
    total = 0.0
    for j in range(-lead, ramp - lead):  # the first window
        total += x[min(max(j, 0), n - 1)]
    for i in range(n):
        y[i] = total / ramp
        total += x[min(i + ramp - lead, n - 1)] - x[max(i - lead, 0)]
    return y


def f0_contour(
    plan: SegmentPlan,
    f0_hz: float,
    f0_range: float,
    rng: np.random.Generator,
    sample_rate: int,
    block: int,
) -> np.ndarray:
    """Per-block F0 of an utterance whose voiced median is ``f0_hz`` up to a small offset.

    Args:
        plan: the utterance's segments.
        f0_hz: the speaker's median F0.
        f0_range: the speaker's pitch range in semitones.
        rng: the prosody generator.
        sample_rate: Hz.
        block: samples per block.

    Returns:
        (NB,) F0 in Hz per block; a per-utterance offset of sd 0.4 semitones is included.
    """
    seg = block_segments(plan, block)  # (NB,)
    t = (np.arange(len(seg)) + 0.5) * block / sample_rate  # block centres, s
    st = np.zeros(len(seg))  # semitones re f0_hz
    phrase = plan.phrase[seg]
    for p in np.unique(phrase[phrase >= 0]):
        sel = np.flatnonzero(phrase == p)
        t0, t1 = t[sel[0]], t[sel[-1]] + 1e-9
        x = (t[sel] - t0) / (t1 - t0)  # 0..1 along the phrase
        decl = rng.uniform(0.5, 1.0) * f0_range
        final = np.clip((t[sel] - (t1 - 0.25)) / 0.25, 0.0, 1.0)  # ramp over the last 0.25 s
        boundary = 0.4 * f0_range if rng.random() < 0.25 else -0.2 * f0_range
        st[sel] += decl * (0.5 - x) + boundary * final
    accents = np.flatnonzero((plan.kind == VOWEL) & (plan.stress > 0))
    if accents.size:
        centre = (plan.start[accents] + plan.length[accents] / 2) / sample_rate  # (A,)
        height = rng.uniform(0.4, 0.8, accents.size) * f0_range
        st += (height[:, None] * pm.exp(-0.5 * ((t[None] - centre[:, None]) / 0.06) ** 2)).sum(0)
    phi = 0.95  # AR(1) wander with stationary sd 0.6 semitones
    wander = lfilter([0.6 * np.sqrt(1 - phi * phi)], [1.0, -phi], pm.standard_normal(rng, len(seg)))
    st += wander
    voiced = plan.voicing[seg] > 0.3
    st -= np.median(st[voiced]) if voiced.any() else np.median(st)
    st += 0.4 * pm.standard_normal(rng)
    return np.clip(f0_hz * pm.exp2(st / 12.0), 50.0, 600.0)
