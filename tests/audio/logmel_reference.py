"""Per-frame loop reference of the log-mel front end (docs/audio.md, "Log-mel"; Sphinx style).

Written independently of ``voice2mesh.audio.logmel`` (no shared code): frames are cut and
pre-emphasised one at a time, carrying the Sphinx ``prior`` from frame to frame, and the
filterbank is built bin by bin as SphinxTrain's ``mfcc.py`` does. Used by
``tests/audio/test_logmel.py`` and ``benchmarks/bench_logmel.py``.
"""

from __future__ import annotations

import math

import numpy as np


def reference_filters(
    n_filters: int = 64,
    lower_hz: float = 20.0,
    upper_hz: float = 7200.0,
    sample_rate: int = 16000,
    n_fft: int = 1024,
) -> np.ndarray:
    """(n_fft // 2 + 1, n_filters) triangular filters, height 2 / full width in Hz."""
    filters = np.zeros((n_fft // 2 + 1, n_filters))
    dfreq = sample_rate / n_fft
    mel_lo = 2595.0 * math.log10(1.0 + lower_hz / 700.0)
    mel_hi = 2595.0 * math.log10(1.0 + upper_hz / 700.0)
    step = (mel_hi - mel_lo) / (n_filters + 1)
    edge_hz = [700.0 * (10.0 ** ((mel_lo + step * i) / 2595.0) - 1.0) for i in range(n_filters + 2)]
    for j in range(n_filters):
        left = round(edge_hz[j] / dfreq)  # Python's round: half to even, like Sphinx's
        centre = round(edge_hz[j + 1] / dfreq)
        right = round(edge_hz[j + 2] / dfreq)
        height = 2.0 / ((right - left) * dfreq)
        for k in range(left + 1, centre):
            filters[k, j] = (k - left) * height / (centre - left)
        filters[centre, j] = height
        for k in range(centre + 1, right):
            filters[k, j] = (right - k) * height / (right - centre)
    return filters


def reference_log_mel(signal: np.ndarray, filters: np.ndarray | None = None) -> np.ndarray:
    """(T, 64) float32 log-mel of int16-scaled 16 kHz samples, one frame at a time."""
    if filters is None:
        filters = reference_filters()
    wlen, hop, alpha = 400, 160, 0.97
    window = np.hamming(wlen)
    sig = np.asarray(signal, dtype=np.float64)
    n_frames = int(len(sig) / hop + 1)
    out = np.zeros((n_frames, filters.shape[1]))
    prior = 0.0
    for k in range(n_frames):
        start = k * hop
        frame = sig[start : min(len(sig), start + wlen)]
        if len(frame) < wlen:
            frame = np.resize(frame, wlen)  # cyclic repetition of the short frame (zeros if empty)
        shifted = np.concatenate([[prior], frame[:-1]])
        prior = frame[-1]
        spectrum = np.fft.rfft((frame - alpha * shifted) * window, 1024)
        power = np.abs(spectrum) ** 2
        out[k] = np.log(np.clip(power @ filters, 1e-5, None))
    return out.astype(np.float32)
