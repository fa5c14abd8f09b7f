"""log_mel_batch: many utterances at once, bitwise equal to one at a time and to the loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from logmel_reference import reference_filters, reference_log_mel

from voice2mesh.audio import log_mel, log_mel_batch, logmel
from voice2mesh.audio.features import speech_features
from voice2mesh.audio.framing import FrameBatch
from voice2mesh.audio.logmel import BLOCK_FRAMES
from voice2mesh.audio.utterances import process_group

# Frame counts around the block size and the short-tail cases (L = 160 k + 0 / 1 / 239 / 240 /
# 241 / 399: empty, one-sample, short and full last frames), mixed so blocks span utterances.
LENGTHS = [1, 16037, 159, 160, 161, 239, 240, 241, 399, 400, 401, 560, 160 * BLOCK_FRAMES, 48001]


def signals(seed: int = 0) -> list[np.ndarray]:
    """Noise at gains from 1 to 2^14 (quiet frames reach the 1e-5 floor), one per length."""
    rng = np.random.default_rng(seed)
    gains = 2.0 ** rng.uniform(0, 14, len(LENGTHS))
    return [
        np.clip(np.round(rng.standard_normal(n) * g), -32768, 32767).astype(np.int16)
        for n, g in zip(LENGTHS, gains, strict=True)
    ]


def test_batch_is_bitwise_the_loop_reference() -> None:
    xs = signals()
    batch = log_mel_batch(xs)
    filters = reference_filters()
    assert len(batch) == len(xs)
    for x, ours in zip(xs, batch, strict=True):
        assert ours.dtype == np.float32 and ours.shape == (int(len(x) / 160 + 1), 64)
        np.testing.assert_array_equal(ours, reference_log_mel(x, filters))
        np.testing.assert_array_equal(ours, log_mel(x))


def test_batch_of_real_speech_is_bitwise_the_loop_reference(assets_dir: Path) -> None:
    wavs = sorted((assets_dir / "voxceleb1").glob("*.wav"))[:4]
    xs = [sf.read(wav, dtype="int16")[0] for wav in wavs]
    for x, ours in zip(xs, log_mel_batch(xs), strict=True):
        np.testing.assert_array_equal(ours, reference_log_mel(x))


def loop_frames(x: np.ndarray) -> np.ndarray:
    """Windowed frames one at a time, as the loop reference cuts them: (T, 400) float64."""
    x = x.astype(np.float64)
    prior, frames = 0.0, []
    for k in range(int(len(x) / 160 + 1)):
        frame = np.resize(x[k * 160 : min(len(x), k * 160 + 400)], 400)
        frames.append((frame - 0.97 * np.concatenate([[prior], frame[:-1]])) * np.hamming(400))
        prior = frame[-1]
    return np.array(frames)


def test_frames_are_bitwise_the_loop_frames_across_utterances() -> None:
    xs = signals(2)
    batch = FrameBatch(xs, 400, 160, 0.97)
    expected = np.concatenate([loop_frames(x) for x in xs])
    assert batch.n_frames == len(expected) and list(batch.counts) == [
        int(len(x) / 160 + 1) for x in xs
    ]
    for lo in range(0, batch.n_frames, 50):  # blocks that straddle utterances
        hi = min(lo + 50, batch.n_frames)
        assert batch.block(lo, hi).tobytes() == expected[lo:hi].tobytes()


def test_order_grouping_and_chunks_do_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    xs = signals(1)
    forward = log_mel_batch(xs)
    backward = log_mel_batch(xs[::-1])[::-1]
    halves = log_mel_batch(xs[:5]) + log_mel_batch(xs[5:])
    monkeypatch.setattr(logmel, "CHUNK_SAMPLES", 500)  # a FrameBatch per utterance or two
    chunked = log_mel_batch(xs)
    for a, b, c, d in zip(forward, backward, halves, chunked, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes() == d.tobytes()


def test_bad_signal_is_named_by_position() -> None:
    good = signals()[1]
    with pytest.raises(ValueError, match=r"signal 1\).*empty"):
        log_mel_batch([good, np.zeros(0, np.int16), good])
    with pytest.raises(ValueError, match=r"signal 0\).*int16"):
        log_mel_batch([good / 32768.0, good])
    with pytest.raises(ValueError, match="multiple of 100"):
        log_mel_batch([good], sample_rate=16050)
    assert log_mel_batch([]) == []


def test_a_signal_the_front_end_refuses_rejects_only_its_utterance(
    assets_dir: Path, tmp_path: Path
) -> None:
    # With min_speech_s = 0, a file whose VAD keeps nothing reaches the log-mel empty: the
    # batched call fails, each utterance is redone alone, and only that one is rejected.
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, np.tile(np.array([3, -3], np.int16), 8000), 16000, subtype="PCM_16")
    speech = assets_dir / "voxceleb1" / "Alan_Tudyk.wav"
    rows = process_group([("a", "a.wav", speech), ("b", "hiss.wav", hiss)], min_speech_s=0.0)
    assert [row["path"] for row in rows] == ["a.wav", "hiss.wav"]
    assert rows[1]["reason_code"] == "error" and "empty" in rows[1]["reason"]
    assert "features" not in rows[1] and "speech" not in rows[0]
    expected, speech_s = speech_features(sf.read(speech, dtype="int16")[0], speech, 0.0)
    np.testing.assert_array_equal(rows[0]["features"], expected)
    assert rows[0]["speech_s"] == round(speech_s, 4)
