"""The vectorised log-mel front end against the per-frame loop reference and docs/audio.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from logmel_reference import reference_filters, reference_log_mel

from voice2mesh.audio import log_mel, mel_filterbank, normalize, repeat_to

HOP, WLEN = 160, 400


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("length", [1, 159, 160, 239, 240, 399, 400, 401, 560, 16000, 16037])
def test_matches_loop_reference_on_random_int16(length: int) -> None:
    x = np.random.default_rng(length).integers(-32768, 32768, length).astype(np.int16)
    ours, ref = log_mel(x), reference_log_mel(x)
    assert ours.shape == ref.shape == (int(length / HOP + 1), 64)
    assert ours.dtype == np.float32
    assert relative_error(ours, ref) <= 1e-4


def test_matches_loop_reference_on_real_speech(assets_dir: Path) -> None:
    x, rate = sf.read(assets_dir / "voxceleb1" / "Alan_Tudyk.wav", dtype="int16")
    assert rate == 16000
    ours, ref = log_mel(x), reference_log_mel(x)
    assert ours.shape == (int(len(x) / HOP + 1), 64)
    assert relative_error(ours, ref) <= 1e-4
    assert 0 < ours.min() < ours.max() < 30  # int16-scale speech energies, above the floor


def test_filterbank_matches_reference_and_shape_rules() -> None:
    filters = mel_filterbank()
    np.testing.assert_allclose(filters, reference_filters(), rtol=1e-12, atol=0)
    assert filters.shape == (513, 64)
    dfreq = 16000 / 1024
    assert np.flatnonzero(filters[:, 0])[0] == round(20 / dfreq) + 1  # left edge bin has weight 0
    assert np.flatnonzero(filters.any(axis=1))[-1] == round(7200 / dfreq) - 1
    for j in range(64):
        nonzero = np.flatnonzero(filters[:, j])
        left, right = nonzero[0] - 1, nonzero[-1] + 1
        assert filters[:, j].max() == pytest.approx(2.0 / ((right - left) * dfreq))


def test_frame_count_and_cyclic_tail() -> None:
    # L = 160 k + 300: frame k holds 300 samples and is filled by repeating them; frame k - 1
    # is full, so extending the signal with that repetition must give the same frame k.
    k = 20
    x = np.random.default_rng(1).integers(-20000, 20000, HOP * k + 300).astype(np.int16)
    fragment = x[HOP * k :]
    extended = np.concatenate([x, np.resize(fragment, WLEN)[len(fragment) :]])
    short, long = log_mel(x), log_mel(extended)
    assert len(short) == int(len(x) / HOP + 1) == k + 2
    np.testing.assert_allclose(short[k], long[k], rtol=0, atol=1e-5)
    zero_padded = np.concatenate([x, np.zeros(WLEN - len(fragment), np.int16)])
    assert np.abs(short[k] - log_mel(zero_padded)[k]).max() > 0.1  # not zero padding


def one_frame(frame: np.ndarray, prior: float) -> np.ndarray:
    """docs/audio.md's definition for a single full frame with the given pre-emphasis prior."""
    frame = frame.astype(np.float64)
    emphasised = frame - 0.97 * np.concatenate([[prior], frame[:-1]])
    power = np.abs(np.fft.rfft(emphasised * np.hamming(WLEN), 1024)) ** 2
    return np.log(np.maximum(power @ reference_filters(), 1e-5))


def test_prior_is_last_sample_of_previous_frame() -> None:
    x = np.random.default_rng(2).integers(-20000, 20000, 16000).astype(np.int16)
    k, s = 10, HOP * 10
    before = log_mel(x)
    np.testing.assert_allclose(before[0], one_frame(x[:WLEN], 0.0), rtol=1e-5)
    prior = x[s - HOP + WLEN - 1]  # last sample of frame k-1, not x[s - 1]
    np.testing.assert_allclose(before[k], one_frame(x[s : s + WLEN], prior), rtol=1e-5)
    assert np.abs(before[k] - one_frame(x[s : s + WLEN], x[s - 1])).max() > 1e-3
    y = x.copy()
    y[s - 1] += 5000  # the sample just before frame k lies in frames k-2 and k-1 only
    after = log_mel(y)
    np.testing.assert_array_equal(after[k], before[k])
    assert np.abs(after[k - 1] - before[k - 1]).max() > 1e-3


def test_clip_floor() -> None:
    silent = log_mel(np.zeros(1600, np.int16))
    np.testing.assert_allclose(silent, np.log(1e-5), rtol=1e-6)
    quiet = log_mel(np.random.default_rng(4).integers(-1, 2, 1600).astype(np.int16))
    assert quiet.min() == pytest.approx(np.log(1e-5))
    assert quiet.max() > np.log(1e-5)


def test_float_input_in_unit_range_is_rejected() -> None:
    x = np.random.default_rng(5).integers(-20000, 20000, 1600).astype(np.int16)
    with pytest.raises(ValueError, match="int16"):
        log_mel(x / 32768.0)
    np.testing.assert_array_equal(log_mel(x.astype(np.float64)), log_mel(x))


@pytest.mark.parametrize(
    "bad",
    [np.zeros(0, np.int16), np.zeros((100, 2), np.int16), np.array([40000, -5], np.int32)],
)
def test_bad_signals_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="log_mel"):
        log_mel(bad)


def test_normalize_per_bin() -> None:
    rng = np.random.default_rng(6)
    features = rng.normal(5.0, 3.0, (500, 64)).astype(np.float32)
    features[:, 7] = np.log(1e-5)  # a constant (floored) bin
    out = normalize(features)
    assert out.dtype == np.float32 and out.shape == (500, 64)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    keep = np.arange(64) != 7
    np.testing.assert_allclose(out.std(axis=0)[keep], 1.0, rtol=1e-4)
    np.testing.assert_array_equal(out[:, 7], 0.0)


def test_repeat_to_tiles_then_cuts() -> None:
    features = np.arange(300 * 2, dtype=np.float32).reshape(300, 2)
    out = repeat_to(features)
    assert out.shape == (1000, 2)
    np.testing.assert_array_equal(out[300:600], features)
    np.testing.assert_array_equal(out[999], features[99])
    long = np.zeros((1200, 2), np.float32)
    assert repeat_to(long) is long
    with pytest.raises(ValueError, match="no frames"):
        repeat_to(np.zeros((0, 2)))
