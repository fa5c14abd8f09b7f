"""Recording channel: a random gentle EQ, background noise at a random SNR, level and int16.

The EQ is a microphone-like 2nd-order high-pass (40–120 Hz), a low shelf and a high shelf (shelf
slope 1) and, for one recording in three, a 4th-order low-pass between 3.8 and 7.5 kHz
(band-limited uploads); all are RBJ "Audio EQ Cookbook" biquads, Butterworth where it applies.
Noise is white, pink (Kellet's three-pole filter, ±0.05 dB from 1/f above 10 Hz) or babble-like
(speech-shaped noise with a few talkers' syllabic envelopes). The SNR is measured against the
speech's power over its active (non-pause) samples, after the EQ.

Transcendental functions and normal draws come from ``voice2mesh.portable``: the same bits on
every CPU, so the recording is too.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.signal import lfilter, sosfilt

from voice2mesh import portable as pm
from voice2mesh.synth.prosody import upsample_blocks

NOISE_TYPES = ("white", "pink", "babble")
_PINK_B = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
_PINK_A = [1.0, -2.494956002, 2.017265875, -0.522189400]
_BUTTER4_Q = (0.541196100146197, 1.3065629648763766)  # 1 / (2 cos(kπ/8)), k = 1, 3


def biquad(
    kind: str, freq: float, sample_rate: int, gain_db: float = 0.0, q: float = 1 / np.sqrt(2.0)
) -> np.ndarray:
    """One RBJ "Audio EQ Cookbook" biquad as a second-order section.

    Args:
        kind: "lowpass", "highpass", "lowshelf" or "highshelf".
        freq: corner frequency (mid-gain point for shelves), Hz.
        sample_rate: Hz.
        gain_db: shelf gain (shelves only).
        q: quality factor (pass filters; 1/√2 is a 2nd-order Butterworth); shelves use slope 1.

    Returns:
        (6,) ``[b0, b1, b2, 1, a1, a2]``.
    """
    w0 = 2.0 * np.pi * freq / sample_rate
    cw, sw = float(pm.cos(w0)), float(pm.sin(w0))
    if kind in ("lowpass", "highpass"):
        alpha = sw / (2.0 * q)
        b = (
            np.array([1 - cw, 2 * (1 - cw), 1 - cw]) / 2
            if kind == "lowpass"
            else np.array([1 + cw, -2 * (1 + cw), 1 + cw]) / 2
        )
        a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    elif kind in ("lowshelf", "highshelf"):
        amp, alpha = float(pm.power(10.0, gain_db / 40.0)), sw / 2.0 * np.sqrt(2.0)
        s = 1.0 if kind == "lowshelf" else -1.0  # the high shelf flips the cos terms' signs
        sa = 2.0 * np.sqrt(amp) * alpha
        b = amp * np.array(
            [
                (amp + 1) - s * (amp - 1) * cw + sa,
                2 * s * ((amp - 1) - s * (amp + 1) * cw),
                (amp + 1) - s * (amp - 1) * cw - sa,
            ]
        )
        a = np.array(
            [
                (amp + 1) + s * (amp - 1) * cw + sa,
                -2 * s * ((amp - 1) + s * (amp + 1) * cw),
                (amp + 1) + s * (amp - 1) * cw - sa,
            ]
        )
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.concatenate([b / a[0], a / a[0]])


def random_eq(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
    """A random channel EQ.

    Args:
        rng: the channel generator.
        sample_rate: Hz.

    Returns:
        sos (S, 6) second-order sections and their parameters (lowpass_hz 0 = none).
    """
    p = {
        "highpass_hz": float(rng.uniform(40.0, 120.0)),
        "low_shelf_hz": float(rng.uniform(150.0, 400.0)),
        "low_shelf_db": float(rng.uniform(-6.0, 6.0)),
        "high_shelf_hz": float(rng.uniform(2000.0, 5000.0)),
        "high_shelf_db": float(rng.uniform(-8.0, 4.0)),
        "lowpass_hz": float(rng.uniform(3800.0, 7500.0)) if rng.random() < 1 / 3 else 0.0,
    }
    # Corners above the Nyquist frequency make the biquads unstable at low sample rates; keep
    # them below 0.47 · rate (no change at 16 kHz, where every range above already is).
    top = 0.47 * sample_rate
    for key in ("highpass_hz", "low_shelf_hz", "high_shelf_hz", "lowpass_hz"):
        p[key] = min(p[key], top)
    sos = [
        biquad("highpass", p["highpass_hz"], sample_rate),
        biquad("lowshelf", p["low_shelf_hz"], sample_rate, p["low_shelf_db"]),
        biquad("highshelf", p["high_shelf_hz"], sample_rate, p["high_shelf_db"]),
    ]
    if p["lowpass_hz"] > 0:  # 4th-order Butterworth: two biquads with Q = 0.541 and 1.307
        sos += [biquad("lowpass", p["lowpass_hz"], sample_rate, q=q) for q in _BUTTER4_Q]
    return np.stack(sos), p


def background_noise(
    kind: str, n: int, rng: np.random.Generator, sample_rate: int, block: int = 160
) -> np.ndarray:
    """Unit-power background noise.

    Args:
        kind: one of ``NOISE_TYPES``.
        n: samples.
        rng: the channel generator.
        sample_rate: Hz.
        block: samples per step of the babble envelope.

    Returns:
        (n,) noise with mean power 1.
    """
    white = pm.standard_normal(rng, n)
    if kind == "white":
        noise = white
    elif kind == "pink":
        noise = lfilter(_PINK_B, _PINK_A, white)
    elif kind == "babble":
        noise = sosfilt(
            np.stack(
                [biquad("highpass", 150.0, sample_rate), biquad("lowpass", 1200.0, sample_rate)]
            ),
            white,
        )
        n_blocks = -(-n // block)
        talkers = lfilter([0.1], [1.0, -0.9], pm.standard_normal(rng, (4, n_blocks)), axis=1)
        envelope = np.maximum(talkers, 0.0).sum(axis=0) + 0.05  # (NB,) ~4 Hz syllabic bursts
        noise *= upsample_blocks(envelope, block, n)
    else:
        raise ValueError(f"noise type must be one of {NOISE_TYPES}, got {kind!r}")
    noise /= np.sqrt(np.mean(noise**2) + 1e-30)
    return noise


def record(
    speech: np.ndarray,
    active: np.ndarray,
    rng: np.random.Generator,
    sample_rate: int,
    snr_db_range: tuple[float, float],
    peak_dbfs_range: tuple[float, float],
) -> tuple[np.ndarray, dict[str, float]]:
    """Pass clean speech through a random channel and write it as int16.

    Args:
        speech: (n,) clean speech, any scale.
        active: (n,) bool, samples that belong to speech (not pauses) for the SNR.
        rng: the channel generator.
        sample_rate: Hz.
        snr_db_range: uniform range of the SNR; ``(inf, inf)`` records without noise.
        peak_dbfs_range: uniform range of the output peak level, dB re full scale (< 0).

    Returns:
        (n,) int16 samples and the channel parameters (plain floats; ``noise_type`` indexes
        ``NOISE_TYPES``).
    """
    sos, params = random_eq(rng, sample_rate)
    x = sosfilt(sos, speech)
    u = rng.random()  # drawn even without noise: a clean twin shares every other parameter
    lo, hi = snr_db_range
    snr = float(lo + u * (hi - lo)) if np.isfinite(lo) else np.inf
    kind = int(rng.integers(len(NOISE_TYPES)))
    peak_dbfs = float(rng.uniform(*peak_dbfs_range))
    if np.isfinite(snr):
        p_speech = _mean_square(x, active if active.any() else np.ones(len(x), np.bool_))
        x += np.sqrt(p_speech / pm.power(10.0, snr / 10.0)) * background_noise(
            NOISE_TYPES[kind], len(x), rng, sample_rate
        )
    samples, top = _to_int16(x, float(pm.power(10.0, peak_dbfs / 20.0)))
    if not np.isfinite(top):
        raise ValueError(
            f"the recording at {sample_rate} Hz is not finite: a filter diverged (EQ {params})"
        )
    params.update(snr_db=snr, noise_type=float(kind), peak_dbfs=peak_dbfs)
    return samples, params


@njit(cache=True)
def _mean_square(x: np.ndarray, where: np.ndarray) -> float:
    """Mean of x² over the samples where ``where`` (n,) bool is true (at least one)."""
    total, count = 0.0, 0
    for i in range(len(x)):
        if where[i]:
            total += x[i] * x[i]
            count += 1
    return total / count


@njit(cache=True)
def _to_int16(x: np.ndarray, peak: float) -> tuple[np.ndarray, float]:
    """(n,) ``x`` scaled to ``peak`` (fraction of full scale), rounded, as int16; and max |x|
    (NaN if any sample is: the result is then garbage)."""
    top = 0.0
    for v in x:
        if abs(v) > top or v != v:  # a NaN sticks: nothing compares greater than it
            top = abs(v)
    gain = peak / (top + 1e-30) * 32767.0
    out = np.empty(len(x), np.int16)
    for i in range(len(x)):
        out[i] = min(max(np.rint(x[i] * gain), -32767.0), 32767.0)
    return out, top
