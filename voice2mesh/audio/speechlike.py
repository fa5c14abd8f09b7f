"""Does a recording look like speech? Four cheap measures, each with a documented threshold.

``predict`` maps any sound to a face; a pure tone or white noise would still give one, with
exit code 0. ``not_speech_reasons`` names why a signal does not look like speech, so the caller
can warn. The measures (on 25 ms Hann frames, 10 ms hop, of the frames within 30 dB of the
loudest ones) and what separates speech from the signals that fool a face predictor:

``flatness``
    Median spectral flatness (geometric / arithmetic mean of the power spectrum, 125 Hz to
    7 kHz; Gray & Markel 1974; Johnston 1988). White noise has ~0.56 (``exp(-γ)`` for a
    periodogram), pink noise ~0.35; speech is harmonic or formant-shaped and stays near 0.01
    (0.22 with white noise at 10 dB SNR, 0.37 at 5 dB).
``peak_fraction``
    Median share of a frame's power within ±1 FFT bin (±31 Hz) of its strongest bin. A pure tone
    or a sine sweep puts ~0.97 there; the strongest harmonic of speech takes under about half.
``modulation_db``
    Standard deviation (dB) of the log-energy envelope band-passed to 2–8 Hz, the syllable rate
    of speech (its envelope spectrum peaks near 4 Hz; Houtgast & Steeneken 1985).
    Stationary sounds (hum, a held note, steady noise) stay under ~0.5 dB; speech swings by
    3–8 dB as syllables come and go. Needs 1 s of signal.
``pitch_step``
    Median change of the fundamental frequency between consecutive voiced 40 ms frames
    (autocorrelation pitch, 60–400 Hz), in semitones per 10 ms. The human voice cannot hold
    its pitch that still: jitter and intonation give 0.1–0.2 semitone; a synthetic note or buzz
    stays under 0.03. Needs 0.5 s of voiced frames.

Thresholds were set between ten real VoxCeleb1 utterances (the tests' optional reference clips)
and synthetic tones, sweeps, noises and note sequences (``tests/audio/test_speechlike.py``;
numbers in each ``Threshold``'s comment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANALYSED_S = 60.0  # only the first minute is measured: enough to judge, bounded work
ACTIVE_DB = 30.0  # frames within this many dB of the loud (95th percentile) frames are measured


@dataclass(frozen=True)
class Threshold:
    """One measure's limit: a signal past it does not look like speech.

    Attributes:
        code: the reason's short name (``noise``, ``tonal``, ``no_rhythm``, ``steady_pitch``).
        above: True: values above ``limit`` are not speech-like; False: values below.
        limit: the threshold.
        speech: the range measured on real speech, for the message.
        why: what a value past the limit means.
    """

    code: str
    above: bool
    limit: float
    speech: str
    why: str


# Real clips vs synthetic signals (tests/audio/test_speechlike.py):
THRESHOLDS = {
    # speech 0.002-0.033 (with white noise at 10 dB SNR 0.22, at 5 dB 0.37); pink 0.35, white 0.56
    "flatness": Threshold("noise", True, 0.25, "0.002-0.03", "noise-like flat spectrum"),
    # speech 0.37-0.52; 50 Hz hum 0.93, sine sweeps 0.96, pure tones 0.98
    "peak_fraction": Threshold(
        "tonal", True, 0.8, "0.37-0.52", "one pure frequency dominates (a tone or a sweep)"
    ),
    # speech 3.0-7.7 dB; hum/buzz/tone/sweep 0.0, white noise 0.1, pink 0.4
    "modulation_db": Threshold(
        "no_rhythm", False, 1.0, "3-8 dB", "no syllable-rate (2-8 Hz) loudness changes"
    ),
    # speech 0.10-0.20 semitone; buzz 0.017-0.029, piano-like notes 0.011, tone 0.008
    "pitch_step": Threshold(
        "steady_pitch", False, 0.05, "0.10-0.20", "pitch held steadier than a human voice can"
    ),
}


@dataclass(frozen=True)
class SpeechMeasures:
    """The four measures of one signal (module docstring); NaN when there is too little signal.

    Attributes:
        flatness: median spectral flatness of the active frames.
        peak_fraction: median share of frame power within ±1 bin of the strongest bin.
        modulation_db: std of the 2–8 Hz band of the log-energy envelope, dB.
        pitch_step: median pitch change between consecutive voiced frames, semitones.
    """

    flatness: float
    peak_fraction: float
    modulation_db: float
    pitch_step: float


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    """(T, n) overlapping frames of ``x`` (a strided view)."""
    count = 1 + (len(x) - n) // hop
    return np.lib.stride_tricks.as_strided(x, (count, n), (x.strides[0] * hop, x.strides[0]))


def _spectral(x: np.ndarray, rate: int) -> tuple[float, float, float]:
    """``flatness``, ``peak_fraction`` and ``modulation_db`` of a float64 signal."""
    n, hop = int(0.025 * rate), int(0.010 * rate)
    n_fft = 1 << (n - 1).bit_length()
    frames = _frames(x, n, hop)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(n)  # (T, n)
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 + 1e-12  # (T, F)
    energy_db = 10 * np.log10(power.sum(axis=1))  # (T,)
    active = energy_db > np.percentile(energy_db, 95) - ACTIVE_DB
    lo, hi = round(125 * n_fft / rate), round(min(7000, 0.45 * rate) * n_fft / rate)
    band = power[active, lo:hi]
    flatness = np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)
    peak = np.argmax(power[active], axis=1)
    rows = np.arange(len(peak))[:, None]
    columns = np.clip(peak[:, None] + np.arange(-1, 2), 0, power.shape[1] - 1)
    near_peak = power[active][rows, columns].sum(axis=1) / power[active].sum(axis=1)
    modulation = np.nan
    if len(energy_db) >= 100:  # 1 s of envelope resolves the 2 Hz edge of the band
        envelope = np.maximum(energy_db, energy_db.max() - 60.0)  # digital silence: -60 dB
        spectrum = np.fft.rfft(envelope - envelope.mean())
        rates = np.fft.rfftfreq(len(envelope), hop / rate)
        spectrum[(rates < 2.0) | (rates > 8.0)] = 0
        modulation = float(np.fft.irfft(spectrum, len(envelope)).std())
    return float(np.median(flatness)), float(np.median(near_peak)), modulation


def _pitch_step(x: np.ndarray, rate: int, min_pairs: int = 50) -> float:
    """Median |Δ log2 f0| × 12 between consecutive voiced frames (NaN under ``min_pairs``)."""
    n, hop = int(0.040 * rate), int(0.010 * rate)
    frames = _frames(x, n, hop)
    frames = frames - frames.mean(axis=1, keepdims=True)  # (T, n)
    acf = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * n)) ** 2)[:, :n]  # (T, n) autocorrelation
    acf = acf / (acf[:, :1] + 1e-9) / ((n - np.arange(n)) / n)  # normalised, unbiased
    lo, hi = rate // 400, rate // 60  # lags of 400 Hz .. 60 Hz
    rows = np.arange(len(acf))
    lag = np.argmax(acf[:, lo:hi], axis=1) + lo
    a, b, c = acf[rows, lag - 1], acf[rows, lag], acf[rows, lag + 1]
    # parabolic interpolation: the integer lag alone quantises 200 Hz to 0.2 semitone steps
    fine = lag + np.clip(0.5 * (a - c) / (a - 2 * b + c - 1e-12), -1, 1)
    energy_db = 10 * np.log10((frames**2).sum(axis=1) + 1e-9)
    voiced = (b > 0.6) & (energy_db > np.percentile(energy_db, 95) - ACTIVE_DB)
    pairs = voiced[1:] & voiced[:-1]
    if pairs.sum() < min_pairs:
        return np.nan
    return float(np.median(12 * np.abs(np.diff(np.log2(rate / fine)))[pairs]))


def speech_measures(samples: np.ndarray, sample_rate: int = 16000) -> SpeechMeasures:
    """The four measures (module docstring) of the first ``ANALYSED_S`` seconds.

    Args:
        samples: (L,) mono samples, any scale (int16 or float).
        sample_rate: Hz; the thresholds were calibrated at 16 kHz.

    Returns:
        The measures; all NaN for a signal shorter than 40 ms.
    """
    x = np.ascontiguousarray(samples[: int(ANALYSED_S * sample_rate)], np.float64)
    if len(x) < int(0.040 * sample_rate) + 1:
        return SpeechMeasures(np.nan, np.nan, np.nan, np.nan)
    flatness, peak_fraction, modulation_db = _spectral(x, sample_rate)
    return SpeechMeasures(flatness, peak_fraction, modulation_db, _pitch_step(x, sample_rate))


def not_speech_reasons(samples: np.ndarray, sample_rate: int = 16000) -> dict[str, str]:
    """Why ``samples`` do not look like speech: ``{code: message}``, empty when they do.

    Codes: ``noise``, ``tonal``, ``no_rhythm``, ``steady_pitch`` (``THRESHOLDS``). A measure
    that could not be taken (too short, no voiced frames) gives no reason.

    Args:
        samples: (L,) mono samples, any scale.
        sample_rate: Hz.
    """
    measures = speech_measures(samples, sample_rate)
    reasons = {}
    for name, rule in THRESHOLDS.items():
        value = getattr(measures, name)
        if np.isfinite(value) and (value > rule.limit if rule.above else value < rule.limit):
            side = "over" if rule.above else "under"
            reasons[rule.code] = (
                f"{rule.why}: {name} {value:.3g}, {side} {rule.limit:g} (speech: {rule.speech})"
            )
    return reasons
