"""Synthetic voiced sounds for the GE2E tests: deterministic, and speech to webrtcvad.

A harmonic source (``f0`` with a slow intonation glide and a little seeded jitter, harmonics
falling as 1/k) through three formant resonators, switched on and off at a syllable rate of
4 Hz, plus faint noise; int16 at about -20 dBFS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

RATE = 16000


def _resonator(x: np.ndarray, hz: float, bandwidth: float, rate: int) -> np.ndarray:
    """Two-pole resonance at ``hz`` (Klatt 1980's formant filter)."""
    r = np.exp(-np.pi * bandwidth / rate)
    a = [1.0, -2.0 * r * np.cos(2 * np.pi * hz / rate), r * r]
    return lfilter([sum(a)], a, x)


def voice(
    seconds: float,
    f0: float = 120.0,
    formants: tuple[float, ...] = (700.0, 1200.0, 2600.0),
    seed: int = 0,
    rate: int = RATE,
) -> np.ndarray:
    """(round(seconds * rate),) int16 samples of a buzzing, syllable-modulated vowel."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.5 * t)) * (1 + 0.01 * rng.standard_normal(n))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    source = sum(np.sin(k * phase) / k for k in range(1, 30) if k * f0 < rate / 2.2)
    x = source
    for hz, bandwidth in zip(formants, (80.0, 100.0, 150.0), strict=False):
        x = _resonator(x, hz, bandwidth, rate)
    syllables = np.clip(1.5 * np.sin(2 * np.pi * 4.0 * t) + 0.5, 0.0, 1.0)
    x = x * syllables + 0.01 * np.std(x) * rng.standard_normal(n)
    x = x / np.sqrt(np.mean(x**2)) * 0.1 * 32768
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def write_voice(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write int16 ``samples`` as a 16-bit PCM wav; returns ``path``."""
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def with_pauses(seed: int = 5) -> np.ndarray:
    """Voice, pauses long (0.4 s: trimmed) and short (0.12 s: bridged), a faint passage and
    low noise: a clip on which the silence trimming's settings change what is kept."""
    rng = np.random.default_rng(seed)
    faint = (voice(0.8, 170.0, seed=seed + 1) * 0.03).astype(np.int16)
    noise = np.round(rng.standard_normal(8000) * 60).astype(np.int16)
    parts = [
        voice(1.5, 140.0, seed=seed),
        np.zeros(6400, np.int16),
        faint,
        np.zeros(1920, np.int16),
        voice(1.5, 150.0, seed=seed + 2),
        noise,
        np.zeros(4000, np.int16),
        voice(0.6, 160.0, seed=seed + 3),
    ]
    return np.concatenate(parts)


REFERENCE_CLIPS = {  # the clips of ge2e_reference.json
    "low": lambda: voice(3.0, 120.0, seed=0),
    "high": lambda: voice(4.5, 215.0, formants=(850.0, 1600.0, 2900.0), seed=3),
    "pauses": with_pauses,
}
