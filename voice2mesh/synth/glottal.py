"""Glottal source: a Rosenberg flow-pulse train with jitter, shimmer, tilt and aspiration.

Pulse shape (Rosenberg 1971, "Effect of glottal pulse shape on the quality of natural vowels",
his pulse C): with the open phase split into an opening part ``Tp`` and a closing part ``Tn``
(fractions of the period), the flow over one cycle at phase ``τ`` ∈ [0, 1) is

    g(τ) = ½ (1 − cos(π τ / Tp))              0 ≤ τ < Tp
    g(τ) = cos(π (τ − Tp) / (2 Tn))           Tp ≤ τ < Tp + Tn
    g(τ) = 0                                  closed phase.

The abrupt closure gives a −12 dB/octave flow spectrum; a zero-phase FFT-domain shelf
``(f / 500 Hz)^((tilt + 12) / 6.02)`` turns it into the speaker's ``spectral_tilt_db``. The open
quotient grows with breathiness (breathy voices close late and leak air; Hanson 1997).
Aspiration noise is white noise modulated by the flow (louder while the glottis is open;
Klatt & Klatt 1990) at a level set by breathiness.

Glottal epochs come from integrating F0 (one cycle per unit phase); jitter perturbs each
period and shimmer each cycle's amplitude by independent Gaussian factors.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import fft

from voice2mesh import portable as pm

_TILT_REF_HZ = 500.0
_TILT_FLOOR_HZ = 100.0  # the tilt shelf is flat below this frequency
_DB_PER_OCTAVE = 6.020599913279624  # 20 log10(2): one octave of a 1/f slope in dB


def glottal_epochs(
    f0: np.ndarray, jitter: float, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """Fractional sample times of glottal cycle starts.

    Args:
        f0: (n,) instantaneous F0 per sample, Hz.
        jitter: sd of the relative period perturbation per cycle.
        rng: the source generator.
        sample_rate: Hz.

    Returns:
        (K + 1,) increasing epoch times in samples covering [0, n): cycle k spans
        ``[epochs[k], epochs[k + 1])``.
    """
    nominal = _integer_phase_times(np.ascontiguousarray(f0, dtype=np.float64), sample_rate)
    periods = np.diff(nominal)
    periods = np.append(periods, sample_rate / f0[-1] + 1.0)  # one cycle past the end
    periods *= 1.0 + jitter * pm.standard_normal(rng, len(periods))
    periods = np.maximum(periods, 0.5 * sample_rate / 600.0)
    epochs = np.concatenate([[0.0], np.cumsum(periods)])
    while epochs[-1] < len(f0):  # jitter may have shortened the train: extend with the last period
        epochs = np.append(epochs, epochs[-1] + periods[-1])
    return epochs


@njit(cache=True)
def _integer_phase_times(f0: np.ndarray, sample_rate: int) -> np.ndarray:
    """Sample times at which the phase ``Σ f0 / fs`` (cycles) passes 0, 1, 2, ...

    Linear interpolation between samples, as ``np.interp(c, phase, np.arange(n + 1))`` does
    with ``phase = [0, cumsum(f0 / fs)]``, in one pass.

    Args:
        f0: (n,) instantaneous F0, Hz (> 0).
        sample_rate: Hz.

    Returns:
        (K,) increasing times; K − 1 is the whole number of cycles in the n samples.
    """
    n = len(f0)
    times = np.empty(int(n * f0.max() / sample_rate) + 2)
    times[0] = 0.0
    c, before = 1, 0.0  # the next integer phase; the phase at the start of sample j
    for j in range(n):
        after = before + f0[j] / sample_rate
        while c < after:
            times[c] = 1.0 / (after - before) * (c - before) + j
            c += 1
        before = after
    if c == before:  # the last integer falls exactly on the end
        times[c] = n
        c += 1
    return times[:c]


def rosenberg_flow(
    n: int, epochs: np.ndarray, open_quotient: float, shimmer: float, rng: np.random.Generator
) -> np.ndarray:
    """Rosenberg flow pulses on the given epochs, one amplitude per cycle.

    Args:
        n: output length in samples.
        epochs: (K + 1,) cycle start times in samples (``glottal_epochs``).
        open_quotient: open fraction of each period (0..1).
        shimmer: sd of the relative amplitude perturbation per cycle.
        rng: the source generator.

    Returns:
        (n,) glottal flow, peak about 1 per cycle, zero in the closed phase.
    """
    tp, tn = 0.75 * open_quotient, 0.25 * open_quotient  # Rosenberg: 0.4 T and 0.16 T
    amp = pm.exp(shimmer * pm.standard_normal(rng, len(epochs)))  # (K + 1,)
    epochs = np.ascontiguousarray(epochs, dtype=np.float64)
    start, period = epochs[:-1], np.diff(epochs)  # (K,)
    first = np.minimum(np.ceil(start), n)  # first sample of each cycle
    opened = start + tp * period
    closing = np.where(first < opened, np.ceil(opened), first)  # first sample after opening
    angles = np.stack(  # (K, 4): start angle and per-sample step of the opening and closing
        [
            np.pi * ((first - start) / period) / tp,
            np.pi / (tp * period),
            np.pi * ((closing - start) / period - tp) / (2.0 * tn),
            np.pi / (2.0 * tn * period),
        ],
        axis=1,
    )
    rotations = np.stack([pm.cos(angles), pm.sin(angles)], axis=2)  # (K, 4, cos | sin)
    return _pulse_train(n, epochs, amp, tp, tn, rotations)


@njit(cache=True)
def _pulse_train(
    n: int, epochs: np.ndarray, amp: np.ndarray, tp: float, tn: float, rotations: np.ndarray
) -> np.ndarray:
    """Kernel of ``rosenberg_flow``: cycle k fills samples ⌈epochs[k]⌉ … ⌈epochs[k+1]⌉ − 1.

    Cycle k has amplitude amp[k]; the output is (n,). Within each part of a cycle the cosine's
    argument grows by a fixed step per sample, so it advances by a rotation (4 multiplies)
    instead of a ``cos`` call per sample; ``rotations[k]`` (4, 2) holds cos and sin of each
    part's start angle and step (portable, computed outside). The closed phase stays zero.
    """
    flow = np.zeros(n)
    for k in range(len(epochs) - 1):
        start, period, a = epochs[k], epochs[k + 1] - epochs[k], amp[k]
        t, stop = min(int(np.ceil(start)), n), min(int(np.ceil(epochs[k + 1])), n)
        opened, closed = start + tp * period, start + (tp + tn) * period  # τ = tp, tp + tn
        if t < stop:  # opening: ½ (1 − cos(π τ / tp))
            r = rotations[k]
            c, s, dc, ds = r[0, 0], r[0, 1], r[1, 0], r[1, 1]
            while t < stop and t < opened:
                flow[t] = a * 0.5 * (1.0 - c)
                c, s = c * dc - s * ds, s * dc + c * ds
                t += 1
        if t < stop:  # closing: cos(π (τ − tp) / (2 tn))
            r = rotations[k]
            c, s, dc, ds = r[2, 0], r[2, 1], r[3, 0], r[3, 1]
            while t < stop and t < closed:
                flow[t] = a * c
                c, s = c * dc - s * ds, s * dc + c * ds
                t += 1
    return flow


def apply_tilt(x: np.ndarray, tilt_db_per_octave: float, sample_rate: int) -> np.ndarray:
    """Zero-phase spectral shelf that moves a −12 dB/octave flow to the given slope.

    Args:
        x: (n,) signal.
        tilt_db_per_octave: the target slope (−12 leaves ``x`` unchanged).
        sample_rate: Hz.

    Returns:
        (n,) filtered signal.
    """
    exponent = (tilt_db_per_octave + 12.0) / _DB_PER_OCTAVE
    if exponent == 0.0:
        return x.copy()
    # The transforms run in float32 (relative error ~1e-7, far below the int16 output's): the
    # working set halves and fits the cache; about twice as fast. pocketfft's twiddle factors
    # come from libm's cos/sin in double, whose FMA variant may differ in the last bit; rounded
    # to float32 such a difference almost never survives (measured: float64 transforms differ
    # between CPUs with and without FMA, float32 ones do not).
    n_fft = fft.next_fast_len(len(x) + 1024, real=True)
    padded = np.zeros(n_fft, np.float32)
    padded[: len(x)] = x
    f = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # (n_fft / 2 + 1,) Hz
    log_ratio = pm.log(np.maximum(f, _TILT_FLOOR_HZ) / _TILT_REF_HZ)
    gain = pm.exp(exponent * log_ratio).astype(np.float32)
    spectrum = fft.rfft(padded, overwrite_x=True)
    spectrum *= gain
    return fft.irfft(spectrum, n_fft, overwrite_x=True)[: len(x)].astype(np.float64)


def glottal_source(
    f0: np.ndarray,
    breathiness: float,
    tilt_db_per_octave: float,
    jitter: float,
    shimmer: float,
    noise: np.ndarray,
    rng: np.random.Generator,
    sample_rate: int,
) -> np.ndarray:
    """Voiced excitation: tilted Rosenberg pulses plus flow-modulated aspiration noise.

    Args:
        f0: (n,) instantaneous F0, Hz.
        breathiness: 0..1; raises the open quotient and the aspiration level.
        tilt_db_per_octave: glottal spectral slope (negative).
        jitter: sd of the relative period perturbation.
        shimmer: sd of the relative amplitude perturbation.
        noise: (n,) white noise (unit variance) for the aspiration.
        rng: the source generator.
        sample_rate: Hz.

    Returns:
        (n,) zero-mean excitation; the pulse part has unit RMS.
    """
    epochs = glottal_epochs(f0, jitter, rng, sample_rate)
    open_quotient = 0.5 + 0.3 * breathiness
    flow = rosenberg_flow(len(f0), epochs, open_quotient, shimmer, rng)
    pulses = apply_tilt(flow - flow.mean(), tilt_db_per_octave, sample_rate)
    level = float(pm.power(10.0, (-42.0 + 30.0 * breathiness) / 20.0))  # re pulse RMS
    return _mix(pulses, flow, noise, level)


@njit(cache=True)
def _mix(pulses: np.ndarray, flow: np.ndarray, noise: np.ndarray, level: float) -> np.ndarray:
    """Unit-RMS pulses plus aspiration ``level · noise · (0.3 + 0.7 flow / max flow)``; all (n,)."""
    power, top = 0.0, 0.0
    for i in range(len(pulses)):
        power += pulses[i] * pulses[i]
        top = max(top, flow[i])
    gain = 1.0 / (np.sqrt(power / len(pulses)) + 1e-12)
    out = np.empty(len(pulses))
    for i in range(len(pulses)):
        out[i] = pulses[i] * gain + level * noise[i] * (0.3 + 0.7 * flow[i] / (top + 1e-12))
    return out
