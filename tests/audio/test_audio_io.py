"""read_wav: int16 at 16 kHz mono from any file, conversions reported, bad files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice2mesh.audio import AudioError, read_wav


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
