"""Wen et al.'s VAD: their collector semantics, speech kept, silence dropped, input checks."""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import webrtcvad

from voice2mesh.audio import vad, voiced_segments


def collector(x: np.ndarray, query_once: bool, rate: int = 16000) -> np.ndarray:
    """A plain transcription of the py-webrtcvad example collector Wen et al. used.

    ``query_once=False`` is their version (every ring frame re-queried at every step);
    ``True`` is the later py-webrtcvad one (each frame queried once, verdict kept in the ring).
    """
    pcm, step = x.tobytes(), 2 * rate * 20 // 1000
    frames = [pcm[o : o + step] for o in range(0, len(pcm), step) if o + step < len(pcm)]
    detector, ring = webrtcvad.Vad(2), deque(maxlen=2)
    triggered, voiced, kept = False, [], []
    for frame in frames:
        verdict = detector.is_speech(frame, rate) if query_once else None
        ring.append((frame, verdict))

        def speech(item: tuple[bytes, bool | None]) -> bool:
            return item[1] if query_once else detector.is_speech(item[0], rate)

        if not triggered:
            if sum(speech(item) for item in ring) > 0.9 * ring.maxlen:
                triggered = True
                voiced = [f for f, _ in ring]
                ring.clear()
        else:
            voiced.append(frame)
            if sum(not speech(item) for item in ring) > 0.9 * ring.maxlen:
                triggered = False
                kept.extend(voiced)
                voiced = []
                ring.clear()
    kept.extend(voiced)
    return np.frombuffer(b"".join(kept), np.int16)


@pytest.fixture(scope="module")
def utterances(assets_dir: Path) -> dict[str, np.ndarray]:
    return {
        p.stem: sf.read(p, dtype="int16")[0]
        for p in sorted((assets_dir / "voxceleb1").glob("*.wav"))
    }


def test_matches_wen_collector_on_real_speech(utterances: dict[str, np.ndarray]) -> None:
    assert len(utterances) >= 5
    differs_from_query_once = 0
    for name, x in utterances.items():
        ours = vad(x)
        np.testing.assert_array_equal(ours, collector(x, query_once=False), err_msg=name)
        differs_from_query_once += not np.array_equal(ours, collector(x, query_once=True))
    assert differs_from_query_once > 0  # the re-query semantics matter on real speech


def test_keeps_speech_and_drops_inserted_silence(utterances: dict[str, np.ndarray]) -> None:
    x = utterances["Alan_Tudyk"]
    kept = vad(x)
    assert kept.dtype == np.int16
    assert 0.8 * len(x) <= len(kept) <= len(x)  # VoxCeleb clips are mostly speech
    cut = 320 * (len(x) // 640)  # frame-aligned middle
    gap = np.random.default_rng(0).integers(-3, 4, 16000).astype(np.int16)  # 1 s near-silence
    gapped = np.concatenate([x[:cut], gap, x[cut:]])
    spans = voiced_segments(gapped)
    in_gap = sum(max(0, min(b, cut + len(gap)) - max(a, cut)) for a, b in spans)
    assert in_gap <= 0.25 * len(gap)  # the VAD hangover and ring padding, not the whole gap
    assert len(vad(gapped)) >= 0.8 * len(x)


def test_segments_are_ordered_frame_aligned_spans(utterances: dict[str, np.ndarray]) -> None:
    x = utterances["Moon_Bloodgood"]
    spans = voiced_segments(x)
    assert len(spans) > 1
    ends = [0] + [e for span in spans for e in span]
    assert all(a <= b for a, b in pairwise(ends))
    assert all(a % 320 == 0 and b % 320 == 0 and b <= len(x) for a, b in spans)
    np.testing.assert_array_equal(vad(x), np.concatenate([x[a:b] for a, b in spans]))


@pytest.mark.parametrize(
    "signal",
    [np.zeros(32000, np.int16), np.random.default_rng(1).integers(-2, 3, 32000).astype(np.int16)],
)
def test_silence_gives_nothing(signal: np.ndarray) -> None:
    out = vad(signal)
    assert out.dtype == np.int16 and out.size == 0


def test_too_short_for_one_frame_gives_nothing() -> None:
    assert vad(np.ones(320, np.int16) * 1000).size == 0  # one frame must end before the signal
    assert vad(np.zeros(0, np.int16)).size == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 22050}, "sample rates"),
        ({"frame_ms": 25}, "frame_ms"),
        ({"mode": 4}, "mode"),
        ({"padding_ms": 10}, "padding_ms"),
    ],
)
def test_rejects_unsupported_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vad(np.zeros(16000, np.int16), **kwargs)


def test_rejects_float_samples() -> None:
    with pytest.raises(ValueError, match="int16"):
        vad(np.zeros(16000, np.float32))
