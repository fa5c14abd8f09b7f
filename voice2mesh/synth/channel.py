"""Recording channel: a random gentle EQ, background noise at a random SNR, level and int16.

The EQ is a microphone-like 2nd-order high-pass (40–120 Hz), a low shelf and a high shelf (shelf
slope 1) and, for one recording in three, a 4th-order low-pass between 3.8 and 7.5 kHz
(band-limited uploads); all are RBJ "Audio EQ Cookbook" biquads, Butterworth where it applies.
Noise is white, pink (Kellet's three-pole filter, ±0.05 dB from 1/f above 10 Hz) or babble-like
(speech-shaped noise with a few talkers' syllabic envelopes). The SNR is measured against the
speech's power over its active (non-pause) samples, after the EQ.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.signal import lfilter, sosfilt

from voice2mesh.synth.prosody import upsample_blocks

NOISE_TYPES = ("white", "pink", "babble")
_PINK_B = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
_PINK_A = [1.0, -2.494956002, 2.017265875, -0.522189400]
_BUTTER4_Q = (1 / (2 * np.cos(np.pi / 8)), 1 / (2 * np.cos(3 * np.pi / 8)))
_ZIG_R = 3.6541528853610088  # where the normal ziggurat's tail starts
_ZIG_INV_R = 0.27366123732975828


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
    cw, sw = np.cos(w0), np.sin(w0)
    if kind in ("lowpass", "highpass"):
        alpha = sw / (2.0 * q)
        b = (
            np.array([1 - cw, 2 * (1 - cw), 1 - cw]) / 2
            if kind == "lowpass"
            else np.array([1 + cw, -2 * (1 + cw), 1 + cw]) / 2
        )
        a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    elif kind in ("lowshelf", "highshelf"):
        amp, alpha = 10.0 ** (gain_db / 40.0), sw / 2.0 * np.sqrt(2.0)
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


def gaussian_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """``rng.standard_normal(n)``, about twice as fast.

    numpy's own ziggurat (Marsaglia & Tsang 2000, "The ziggurat method for generating random
    variables"; 256 strips, 52-bit mantissas) compiled over a block of raw 64-bit draws with a
    branch-free sign. The values equal numpy's to ~1e-15 (the strip tables are recomputed), and
    where the bit generator can ``advance`` (PCG64, numpy's default) it is left exactly where
    ``standard_normal`` would leave it, so later draws are unchanged too.

    Args:
        rng: the generator to draw from.
        n: number of samples.

    Returns:
        (n,) float64 standard-normal samples.
    """
    bits = rng.bit_generator
    out = np.empty(n)
    done = 0
    while done < n:
        start = bits.state
        raw = bits.random_raw(n - done + (n - done) // 32 + 16).view(np.int64)  # ~1.2% retries
        done, used = _ziggurat(raw, out, done, *_ZIGGURAT)
        if hasattr(bits, "advance"):  # give back the draws the ziggurat did not use
            bits.state = start
            bits.advance(used)
            if start.get("has_uint32"):  # advance() drops a buffered 32-bit half; keep it
                bits.state = {**bits.state, "has_uint32": 1, "uinteger": start["uinteger"]}
    return out


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's layout: strip 0 is the base plus the tail beyond r; x_1 < ... < x_255 = r.

    Returns:
        ki (256,) int64 acceptance thresholds, wi (256,) widths / 2^52, fi (256,) f(x_i).
    """
    x = np.zeros(256)
    x[255] = _ZIG_R
    area = _ZIG_R * math.exp(-0.5 * _ZIG_R**2) + math.sqrt(math.pi / 2) * math.erfc(
        _ZIG_R / math.sqrt(2)
    )  # of every strip: the base's rectangle plus the tail
    for i in range(255, 1, -1):
        x[i - 1] = math.sqrt(-2.0 * math.log(area / x[i] + math.exp(-0.5 * x[i] ** 2)))
    base = area / math.exp(-0.5 * _ZIG_R**2)
    ki = np.floor(2.0**52 * np.append(_ZIG_R / base, x[:-1] / x[1:])).astype(np.int64)
    wi = np.append(base, x[1:]) / 2.0**52
    return ki, wi, np.exp(-0.5 * x**2)


_ZIGGURAT = _ziggurat_tables()


@njit(cache=True)
def _ziggurat(
    raw: np.ndarray, out: np.ndarray, done: int, ki: np.ndarray, wi: np.ndarray, fi: np.ndarray
) -> tuple[int, int]:
    """Kernel of ``gaussian_noise``: fill ``out[done:]`` from (R,) int64 raw draws.

    Returns the new ``done`` and the draws the finished samples used; a sample whose draws run
    out is left for the next block.
    """
    p, used, u53 = 0, 0, 1.0 / 9007199254740992.0
    while done < len(out) and p < len(raw):
        r = raw[p]
        p += 1
        idx = r & 0xFF
        rabs = (r >> 9) & 0x000FFFFFFFFFFFFF
        x = rabs * wi[idx] * (1.0 - 2.0 * ((r >> 8) & 1))  # a sign branch would mispredict
        if rabs >= ki[idx]:  # outside the strip's rectangle: 1% of draws
            if idx == 0:  # the tail beyond r (Marsaglia 1964)
                x = np.nan
                while np.isnan(x) and p + 1 < len(raw):
                    xx = -_ZIG_INV_R * np.log1p(-((raw[p] >> 11) & 0x1FFFFFFFFFFFFF) * u53)
                    yy = -np.log1p(-((raw[p + 1] >> 11) & 0x1FFFFFFFFFFFFF) * u53)
                    p += 2
                    if yy + yy > xx * xx:
                        x = -(_ZIG_R + xx) if (rabs >> 8) & 1 else _ZIG_R + xx
                if np.isnan(x):
                    break  # out of draws mid-sample
                out[done] = x
                done += 1
                used = p
            elif p < len(raw):  # the wedge between the rectangle and the density
                u = ((raw[p] >> 11) & 0x1FFFFFFFFFFFFF) * u53
                p += 1
                if (fi[idx - 1] - fi[idx]) * u + fi[idx] < np.exp(-0.5 * x * x):
                    out[done] = x
                    done += 1
                    used = p
        else:
            out[done] = x
            done += 1
            used = p
    return done, used


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
    white = gaussian_noise(rng, n)
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
        talkers = lfilter([0.1], [1.0, -0.9], rng.standard_normal((4, n_blocks)), axis=1)
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
        x += np.sqrt(p_speech / 10.0 ** (snr / 10.0)) * background_noise(
            NOISE_TYPES[kind], len(x), rng, sample_rate
        )
    samples, top = _to_int16(x, 10.0 ** (peak_dbfs / 20.0))
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
