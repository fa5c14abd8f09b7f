"""read_wav: int16 at 16 kHz mono from any file, conversions reported, bad files named, headers
bounded before anything is allocated, truncation and clipping reported."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice2mesh.audio import AudioError, read_wav
from voice2mesh.audio.io import CLIP_WARN_FRACTION


def _noise_wav(path: Path, seconds: float = 4.0, rate: int = 16000) -> Path:
    samples = np.random.default_rng(0).standard_normal(int(seconds * rate)) * 3000
    sf.write(path, samples.astype(np.int16), rate, subtype="PCM_16")
    return path


def _patch_header(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))


def _no_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("samples were read although the header alone rules the file out")

    monkeypatch.setattr(sf, "read", refuse)


def test_pcm16_is_read_bit_exactly(assets_dir: Path) -> None:
    path = assets_dir / "voxceleb1" / "Eoin_Macken.wav"
    samples, info = read_wav(path)
    expected, rate = sf.read(path, dtype="int16")
    assert samples.dtype == np.int16 and rate == 16000
    np.testing.assert_array_equal(samples, expected)
    assert info["mixed_down"] is False and info["resampled_from"] is None
    assert info["duration_s"] == pytest.approx(len(expected) / 16000)


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stereo = rng.integers(-20000, 20000, (8000, 2)).astype(np.int16)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 16000, subtype="PCM_16")
    samples, info = read_wav(path)
    expected = np.rint(stereo.astype(np.float64).mean(axis=1)).astype(np.int16)
    np.testing.assert_array_equal(samples, expected)
    assert info["mixed_down"] is True and info["channels"] == 2


def test_44k1_is_resampled_to_16k(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    tone = (10000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path = tmp_path / "tone44k.wav"
    sf.write(path, tone, 44100, subtype="PCM_16")
    samples, info = read_wav(path)
    assert info["resampled_from"] == 44100 and info["sample_rate"] == 16000
    assert len(samples) == 16000
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    assert np.argmax(spectrum) == 440  # 1 s at 16 kHz: bin k is k Hz
    assert 9000 < np.abs(samples[1000:-1000]).max() <= 10100  # amplitude kept


@pytest.mark.parametrize(("subtype", "atol"), [("FLOAT", 1), ("PCM_24", 1), ("PCM_U8", 256)])
def test_other_subtypes_are_scaled_to_int16(tmp_path: Path, subtype: str, atol: int) -> None:
    values = np.linspace(-0.9, 0.9, 1600)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, values, 16000, subtype=subtype)
    samples, info = read_wav(path)
    assert samples.dtype == np.int16 and info["subtype"] == subtype
    np.testing.assert_allclose(samples, values * 32768, atol=atol)


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(range(200)))
    with pytest.raises(AudioError, match=r"broken\.wav") as caught:
        read_wav(path)
    assert caught.value.code == "unreadable" and caught.value.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file") as caught:
        read_wav(tmp_path / "absent.wav")
    assert caught.value.code == "unreadable"


def test_silent_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(16000, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"silent\.wav: .*silent") as caught:
        read_wav(path)
    assert caught.value.code == "silent"


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"empty\.wav") as caught:
        read_wav(path)
    assert caught.value.code == "empty"


@pytest.mark.parametrize("rate", [1, 1000, 400_000])
def test_absurd_header_rate_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate: int
) -> None:
    """A header claiming 1 Hz made the 16 kHz resampler allocate 16,000 samples per sample."""
    path = _noise_wav(tmp_path / "rate.wav")
    _patch_header(path, 24, rate)  # fmt chunk: sample rate
    _patch_header(path, 28, 2 * rate)  # byte rate, kept consistent
    _no_reading(monkeypatch)
    with pytest.raises(
        AudioError, match=rf"rate\.wav: .* {rate} Hz, outside 4000-192000"
    ) as caught:
        read_wav(path)
    assert caught.value.code == "bad_rate"


def test_too_long_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _noise_wav(tmp_path / "long.wav", seconds=4.0)
    assert read_wav(path, max_seconds=4.0)[1]["duration_s"] == 4.0
    _no_reading(monkeypatch)
    with pytest.raises(AudioError, match=r"long\.wav: 4 s long .* over the 3 s limit") as caught:
        read_wav(path, max_seconds=3.0)
    assert caught.value.code == "too_long"


def test_truncated_wav_is_reported_not_refused(tmp_path: Path, caplog) -> None:
    """libsndfile decodes the part that is there and says nothing; read_wav says it."""
    full = _noise_wav(tmp_path / "full.wav", seconds=4.0)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 2 * 32000])  # header + 2 s of 4 s of data
    assert sf.info(cut).frames == 32000  # libsndfile counts what is present
    with caplog.at_level(logging.WARNING, logger="voice2mesh.audio.io"):
        samples, info = read_wav(cut)
    assert len(samples) == 32000 and info["truncated"] is True
    assert info["declared_duration_s"] == pytest.approx(4.0) and info["duration_s"] == 2.0
    assert "cut.wav: truncated" in caplog.text and "4.00 s" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="voice2mesh.audio.io"):
        _, info = read_wav(full)
    assert info["truncated"] is False and info["declared_duration_s"] == 4.0
    assert caplog.text == ""


def test_streaming_placeholder_size_is_not_truncation(tmp_path: Path) -> None:
    """Writers to a pipe leave the data size at 0xFFFFFFFF; the file is complete."""
    path = _noise_wav(tmp_path / "stream.wav", seconds=1.0)
    _patch_header(path, 40, 0xFFFFFFFF)
    samples, info = read_wav(path)
    assert len(samples) == 16000 and info["truncated"] is False


def test_overdriven_float_is_reported_as_clipped(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    path = tmp_path / "over.wav"
    sf.write(path, 2.5 * np.sin(2 * np.pi * 200 * t), 16000, subtype="FLOAT")
    samples, info = read_wav(path)
    expected = np.mean(np.abs(2.5 * np.sin(2 * np.pi * 200 * t)) >= 1.0)
    assert info["clipped_fraction"] == pytest.approx(expected, abs=1e-3) and expected > 0.5
    assert info["peak"] == pytest.approx(2.5, rel=1e-6)
    assert samples.max() == 32767 and samples.min() == -32768


def test_saturated_int16_is_reported_as_clipped(tmp_path: Path) -> None:
    samples = (np.random.default_rng(0).standard_normal(16000) * 20000).clip(-32768, 32767)
    path = tmp_path / "hot.wav"
    sf.write(path, samples.astype(np.int16), 16000, subtype="PCM_16")
    _, info = read_wav(path)
    expected = np.mean((samples >= 32767) | (samples <= -32768))
    assert info["clipped_fraction"] == pytest.approx(expected) and expected > CLIP_WARN_FRACTION


def test_real_speech_is_neither_clipped_nor_truncated(assets_dir: Path) -> None:
    for path in sorted((assets_dir / "voxceleb1").glob("*.wav")):
        _, info = read_wav(path)
        assert info["truncated"] is False, path.name
        assert info["clipped_fraction"] <= CLIP_WARN_FRACTION, path.name
