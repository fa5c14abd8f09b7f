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

_TILT_REF_HZ = np.float32(500.0)
_TILT_FLOOR_HZ = np.float32(100.0)  # the tilt shelf is flat below this frequency


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
    periods *= 1.0 + jitter * rng.standard_normal(len(periods))
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
    amp = np.exp(shimmer * rng.standard_normal(len(epochs)))  # (K + 1,)
    return _pulse_train(n, np.ascontiguousarray(epochs, dtype=np.float64), amp, tp, tn)


@njit(cache=True)
def _pulse_train(n: int, epochs: np.ndarray, amp: np.ndarray, tp: float, tn: float) -> np.ndarray:
    """Kernel of ``rosenberg_flow``: cycle k fills samples ⌈epochs[k]⌉ … ⌈epochs[k+1]⌉ − 1.

    Cycle k has amplitude amp[k]; the output is (n,). Within each part of a cycle the cosine's
    argument grows by a fixed step per sample, so it advances by a rotation (4 multiplies)
    instead of a ``cos`` call per sample; the closed phase is left at zero.
    """
    flow = np.zeros(n)
    for k in range(len(epochs) - 1):
        start, period, a = epochs[k], epochs[k + 1] - epochs[k], amp[k]
        t, stop = min(int(np.ceil(start)), n), min(int(np.ceil(epochs[k + 1])), n)
        opened, closed = start + tp * period, start + (tp + tn) * period  # τ = tp, tp + tn
        if t < stop:  # opening: ½ (1 − cos(π τ / tp))
            c, s, dc, ds = _rotation(np.pi * ((t - start) / period) / tp, np.pi / (tp * period))
            while t < stop and t < opened:
                flow[t] = a * 0.5 * (1.0 - c)
                c, s = c * dc - s * ds, s * dc + c * ds
                t += 1
        if t < stop:  # closing: cos(π (τ − tp) / (2 tn))
            angle = np.pi * ((t - start) / period - tp) / (2.0 * tn)
            c, s, dc, ds = _rotation(angle, np.pi / (2.0 * tn * period))
            while t < stop and t < closed:
                flow[t] = a * c
                c, s = c * dc - s * ds, s * dc + c * ds
                t += 1
    return flow


@njit(cache=True)
def _rotation(angle: float, step: float) -> tuple[float, float, float, float]:
    """cos and sin of a start angle and of the per-sample step."""
    return np.cos(angle), np.sin(angle), np.cos(step), np.sin(step)


def apply_tilt(x: np.ndarray, tilt_db_per_octave: float, sample_rate: int) -> np.ndarray:
    """Zero-phase spectral shelf that moves a −12 dB/octave flow to the given slope.

    Args:
        x: (n,) signal.
        tilt_db_per_octave: the target slope (−12 leaves ``x`` unchanged).
        sample_rate: Hz.

    Returns:
        (n,) filtered signal.
    """
    exponent = (tilt_db_per_octave + 12.0) / (20.0 * np.log10(2.0))
    if exponent == 0.0:
        return x.copy()
    # In float32 (relative error ~1e-7, far below the int16 output's): the transforms' working
    # set halves and fits the cache, and the gain's exp/log vectorise; about twice as fast.
    n_fft = fft.next_fast_len(len(x) + 1024, real=True)
    padded = np.zeros(n_fft, np.float32)
    padded[: len(x)] = x
    f = np.arange(n_fft // 2 + 1, dtype=np.float32) * np.float32(sample_rate / n_fft)
    gain = np.exp(np.float32(exponent) * np.log(np.maximum(f, _TILT_FLOOR_HZ) / _TILT_REF_HZ))
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
    level = 10.0 ** ((-42.0 + 30.0 * breathiness) / 20.0)  # aspiration re pulse RMS
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
