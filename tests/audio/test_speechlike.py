"""not_speech_reasons: real VoxCeleb1 speech passes; tones, sweeps, noises and notes are named.

These are also the calibration of ``speechlike.THRESHOLDS``: the numbers in their comments are
``speech_measures`` of the signals below and of the shared real clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import chirp, sawtooth

from voice2mesh.audio.speechlike import THRESHOLDS, not_speech_reasons, speech_measures

RATE = 16000
T = np.arange(5 * RATE) / RATE  # 5 s
AM4 = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * T)  # 4 Hz loudness changes, like syllables


def _pink(rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(len(T)))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # power ∝ 1/f
    pink = np.fft.irfft(spectrum, len(T))
    return 3000 * pink / pink.std()


def _notes(rng: np.random.Generator) -> np.ndarray:
    """Four plucked harmonic notes a second from a C major scale (a music-like signal)."""
    out = np.zeros_like(T)
    for i in range(20):
        part = slice(i * RATE // 4, (i + 1) * RATE // 4)
        f0, t = rng.choice([220, 247, 262, 294, 330, 349, 392, 440]), T[part] - T[part][0]
        harmonics = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        out[part] = 6000 * harmonics * np.exp(-8 * t)
    return out


SIGNALS = {  # name -> (signal, reason codes it must get)
    "tone 440 Hz": (lambda r: 8000 * np.sin(2 * np.pi * 440 * T), {"tonal", "no_rhythm"}),
    "tone 1 kHz, 4 Hz AM": (lambda r: 8000 * np.sin(2 * np.pi * 1000 * T) * AM4, {"tonal"}),
    "50 Hz hum": (lambda r: 3000 * np.sin(2 * np.pi * 50 * T), {"tonal", "no_rhythm"}),
    "sweep 200-4000 Hz": (lambda r: 8000 * chirp(T, 200, 5, 4000), {"tonal", "no_rhythm"}),
    "log sweep": (lambda r: 8000 * chirp(T, 100, 5, 6000, method="log"), {"tonal"}),
    "white noise": (lambda r: 3000 * r.standard_normal(len(T)), {"noise", "no_rhythm"}),
    "white noise, 4 Hz AM": (lambda r: 3000 * r.standard_normal(len(T)) * AM4, {"noise"}),
    "pink noise": (_pink, {"noise", "no_rhythm"}),
    "120 Hz buzz": (lambda r: 4000 * sawtooth(2 * np.pi * 120 * T), {"steady_pitch", "no_rhythm"}),
    "buzz, 4 Hz AM": (lambda r: 4000 * sawtooth(2 * np.pi * 120 * T) * AM4, {"steady_pitch"}),
    "plucked notes": (_notes, {"steady_pitch"}),
}


def _clips(assets_dir: Path) -> list[Path]:
    clips = sorted((assets_dir / "voxceleb1").glob("*.wav"))
    assert len(clips) == 10, "expected the 10 shared VoxCeleb1 clips"
    return clips


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_synthetic_signals_are_named(name: str) -> None:
    make, expected = SIGNALS[name]
    rng = np.random.default_rng(0)
    signal = make(rng) + 3 * rng.standard_normal(len(T))  # a little dither, like any recording
    reasons = not_speech_reasons(signal, RATE)
    assert expected <= set(reasons), (name, reasons)
    for code in expected:
        assert "speech:" in reasons[code]  # every message says what speech measures


def test_real_speech_gets_no_warning(assets_dir: Path) -> None:
    for clip in _clips(assets_dir):
        samples, rate = sf.read(clip, dtype="int16")
        assert not_speech_reasons(samples, rate) == {}, clip.name


def test_real_speech_clears_every_threshold_with_margin(assets_dir: Path) -> None:
    """Each measure stays at least 1.5x (a factor, on the safe side) away from its limit."""
    for clip in _clips(assets_dir):
        samples, rate = sf.read(clip, dtype="int16")
        measures = speech_measures(samples, rate)
        for name, rule in THRESHOLDS.items():
            value = getattr(measures, name)
            margin = rule.limit / value if rule.above else value / rule.limit
            assert margin > 1.5, (clip.name, name, value)


def test_speech_in_moderate_noise_is_still_speech(assets_dir: Path) -> None:
    samples, _ = sf.read(assets_dir / "voxceleb1" / "Damian_Lewis.wav", dtype="float64")
    noise = np.random.default_rng(0).standard_normal(len(samples))
    noisy = samples + noise * samples.std() / 10 ** (15 / 20)  # white noise at 15 dB SNR
    assert not_speech_reasons(noisy * 32768, RATE) == {}
    drowned = samples + noise * samples.std() / 10 ** (0 / 20)  # 0 dB: as much noise as speech
    assert "noise" in not_speech_reasons(drowned * 32768, RATE)


def test_too_short_to_judge_gives_no_reason() -> None:
    assert not_speech_reasons(np.zeros(100), RATE) == {}
    measures = speech_measures(8000 * np.sin(2 * np.pi * 440 * T[:8000]), RATE)  # 0.5 s
    assert np.isnan(measures.modulation_db) and measures.peak_fraction > 0.9
