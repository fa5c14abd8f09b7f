"""Wen et al.'s voice activity detection: WebRTC VAD + the py-webrtcvad example's collector.

Wen et al. (NeurIPS 2019, ``reconstructing_faces_from_voices``: ``vad.py`` and ``rm_sil`` in
``utils.py``) remove silence with ``webrtcvad.Vad(2)``, 20 ms frames and 50 ms of padding, using
the ``vad_collector`` of an early py-webrtcvad ``example.py``, and keep the concatenation of the
voiced segments. Semantics reproduced here (docs/audio.md, "Voice activity detection"):

* Frames: consecutive, non-overlapping ``frame_ms`` frames; a frame is produced while
  ``offset + n < L`` (strictly), so a last frame that would end exactly at the end of the signal
  is dropped, as is a shorter remainder.
* Ring buffer of ``int(padding_ms / frame_ms)`` frames (2 for 50/20 ms). Every frame is appended
  to it. Untriggered: when more than 90 % of ``maxlen`` frames in the ring are voiced, trigger;
  the ring's frames open a segment and the ring is emptied. Triggered: every frame joins the
  segment; when more than 90 % of ``maxlen`` ring frames are unvoiced, the segment closes (with
  this frame in it) and the ring is emptied. A segment still open at the end is kept.
* Re-querying: that example stores bare frames in the ring and calls ``vad.is_speech`` on
  *every ring frame at every step* (oldest first), not once per frame. WebRTC's VAD is stateful
  (its noise/speech models adapt with each call), so a frame can be judged differently on its
  second query, and the call sequence changes later decisions. Wen et al.'s features were made
  that way, so we query the same way and in the same order (later py-webrtcvad versions store
  ``(frame, is_speech)`` and query once; that gives slightly different segments).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import webrtcvad

RATES = (8000, 16000, 32000, 48000)  # what WebRTC's VAD accepts
FRAME_MS = (10, 20, 30)
TRIGGER_FRACTION = 0.9


def _check(signal: np.ndarray, sample_rate: int, mode: int, frame_ms: int, padding_ms: int):
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"vad: expected a mono signal of shape (n,), got shape {x.shape}")
    if x.dtype != np.int16:
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(
                f"vad: expected int16 samples, got dtype {x.dtype}; read the file with "
                "voice2mesh.audio.read_wav, which returns int16"
            )
        if x.size and (x.min() < -32768 or x.max() > 32767):
            raise ValueError("vad: integer samples outside the int16 range; pass int16 samples")
    if sample_rate not in RATES:
        raise ValueError(
            f"vad: WebRTC's VAD only accepts sample rates {RATES}, got {sample_rate} Hz; "
            "resample (read_wav resamples to 16 kHz)"
        )
    if frame_ms not in FRAME_MS:
        raise ValueError(f"vad: frame_ms must be one of {FRAME_MS} ms, got {frame_ms}")
    if mode not in (0, 1, 2, 3):
        raise ValueError(f"vad: mode (aggressiveness) must be 0, 1, 2 or 3, got {mode}")
    if padding_ms < frame_ms:
        raise ValueError(
            f"vad: padding_ms ({padding_ms}) must be at least frame_ms ({frame_ms}): the ring "
            "buffer holds int(padding_ms / frame_ms) frames"
        )
    return x.astype("<i2", copy=False)


def voiced_segments(
    signal: np.ndarray,
    sample_rate: int = 16000,
    mode: int = 2,
    frame_ms: int = 20,
    padding_ms: int = 50,
) -> list[tuple[int, int]]:
    """Voiced segments found by Wen et al.'s collector (semantics in the module docstring).

    Args:
        signal: (L,) int16 samples.
        sample_rate: 8000, 16000, 32000 or 48000 Hz.
        mode: WebRTC aggressiveness 0 (least) to 3 (most); Wen et al. use 2.
        frame_ms: 10, 20 or 30 ms.
        padding_ms: ring buffer duration; ``int(padding_ms / frame_ms)`` frames.

    Returns:
        Sample spans ``[(start, stop), ...]`` in increasing order, not overlapping.

    Raises:
        ValueError: non-int16 samples, an unsupported rate or frame length, bad mode/padding.
    """
    x = _check(signal, sample_rate, mode, frame_ms, padding_ms)
    frame_len = sample_rate * frame_ms // 1000  # samples per frame
    n_frames = (len(x) - 1) // frame_len if len(x) else 0  # frames with offset + n < L
    pcm = x.tobytes()
    detector = webrtcvad.Vad(mode)  # fresh state per utterance, as in rm_sil

    def is_speech(k: int) -> bool:
        return detector.is_speech(pcm[2 * k * frame_len : 2 * (k + 1) * frame_len], sample_rate)

    ring: deque[int] = deque(maxlen=int(padding_ms / frame_ms))
    threshold = TRIGGER_FRACTION * ring.maxlen
    segments: list[tuple[int, int]] = []
    opened = -1  # first frame of the open segment; -1 while untriggered
    for k in range(n_frames):
        ring.append(k)
        if opened < 0:
            if sum(is_speech(f) for f in ring) > threshold:  # every ring frame re-queried
                opened = ring[0]
                ring.clear()
        elif sum(not is_speech(f) for f in ring) > threshold:
            segments.append((opened * frame_len, (k + 1) * frame_len))
            opened = -1
            ring.clear()
    if opened >= 0:
        segments.append((opened * frame_len, n_frames * frame_len))
    return segments


def vad(
    signal: np.ndarray,
    sample_rate: int = 16000,
    mode: int = 2,
    frame_ms: int = 20,
    padding_ms: int = 50,
) -> np.ndarray:
    """The voiced samples of an utterance: its voiced segments concatenated (Wen et al.).

    Args: as ``voiced_segments``.

    Returns:
        (M,) int16, M <= L; empty when no speech was found.
    """
    x = np.asarray(signal)
    spans = voiced_segments(x, sample_rate, mode, frame_ms, padding_ms)
    if not spans:
        return np.zeros(0, np.int16)
    return np.concatenate([x[a:b] for a, b in spans]).astype(np.int16, copy=False)
