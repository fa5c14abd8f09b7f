"""Sphinx-style framing of many utterances at once: one strided view, no loop per frame.

The log-mel front end (``voice2mesh.audio.logmel``, definition in its docstring) cuts every
utterance into ``T = int(L / hop + 1)`` frames of ``wlen`` samples, pre-emphasises each frame on
its own (sample 0 uses the *last sample of the previous frame* as its prior) and applies a
symmetric Hamming window. ``FrameBatch`` holds a whole batch of utterances concatenated and
hands out the windowed frames block by block, so a caller can run the FFT on a cache-sized block
that may span utterance boundaries:

* Full frames: samples ``1 .. wlen-1`` of a frame's pre-emphasis are the pre-emphasis of the
  whole (concatenated) signal, so one ``sliding_window_view`` of it gives them all; only sample
  0, which uses the Sphinx prior, is replaced (``heads``). A frame never reaches into the next
  utterance, so the wrong pre-emphasis at an utterance boundary is never read.
* Short tail frames (at most ``wlen / hop`` per utterance) are filled by cyclic repetition of
  their own samples (``numpy.resize``) and computed up front (``tails``).

Every value is computed with the same float64 operations, in the same order, as the per-frame
definition, so the frames are bitwise those of a loop over frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class FrameBatch:
    """The pre-emphasised, windowed frames of a batch of utterances, cut on demand.

    Args:
        signals: N arrays of int16-scaled samples, shape (L_i,), L_i >= 1 (validated by the
            caller); they are concatenated as float64.
        wlen: frame length in samples; hop: frame shift in samples (hop <= wlen).
        alpha: pre-emphasis coefficient (0.97).

    Attributes:
        counts: (N,) frames per utterance, ``int(L_i / hop + 1)``.
        n_frames: total number of frames.
    """

    def __init__(self, signals: Sequence[np.ndarray], wlen: int, hop: int, alpha: float) -> None:
        lengths = np.array([len(s) for s in signals], dtype=np.int64)  # (N,)
        self.counts = (lengths / hop + 1).astype(np.int64)  # (N,) T_i = int(L_i / hop + 1)
        self.n_frames = int(self.counts.sum())
        self.window = np.hamming(wlen)  # (wlen,) symmetric
        x = np.concatenate(signals, dtype=np.float64)  # (ΣL,)
        first = np.repeat(np.cumsum(self.counts) - self.counts, self.counts)  # utterance start
        local = np.arange(self.n_frames) - first  # (ΣT,) frame number within its utterance
        utterance = np.repeat(np.arange(len(lengths)), self.counts)  # (ΣT,)
        offset = (np.cumsum(lengths) - lengths)[utterance]  # (ΣT,) utterance's first sample
        length = lengths[utterance]  # (ΣT,)
        starts = local * hop  # (ΣT,) within the utterance
        have = np.minimum(wlen, length - starts)  # (ΣT,) samples each frame has, 0..wlen
        # Last sample of every frame (cyclic for short ones, 0 for an empty one) = next prior.
        last_at = np.minimum(starts + (wlen - 1) % np.maximum(have, 1), length - 1)
        last = x[offset + last_at] * (have > 0)
        priors = np.concatenate([[0.0], last[:-1]])
        priors[local == 0] = 0.0  # (ΣT,) an utterance's first frame has prior 0
        self.starts = offset + starts  # (ΣT,) in the concatenation
        at = np.minimum(self.starts, len(x) - 1)  # an empty last frame starts past the end
        self.heads = (x[at] - alpha * priors) * self.window[0]  # (ΣT,) sample 0 (tails: unused)
        # x[n] - alpha * x[n-1] of the whole concatenation, then wlen zeros so that every start
        # has a view row (rows of short frames are replaced by ``tails``).
        emphasised = np.zeros(len(x) + wlen)
        emphasised[0] = x[0]
        inner = emphasised[1 : len(x)]
        np.multiply(x[:-1], alpha, out=inner)
        np.subtract(x[1:], inner, out=inner)
        self._view = sliding_window_view(emphasised, wlen)  # (ΣL + 1, wlen), no copy
        short = np.flatnonzero(have < wlen)  # (S,) the tail frames
        self.short = np.full(self.n_frames, -1, dtype=np.int64)
        self.short[short] = np.arange(len(short))
        self.tails = self._tails(x, short, have, priors, wlen, alpha)  # (S, wlen)

    def _tails(
        self,
        x: np.ndarray,
        short: np.ndarray,
        have: np.ndarray,
        priors: np.ndarray,
        wlen: int,
        alpha: float,
    ) -> np.ndarray:
        """Windowed short frames: ``numpy.resize`` of their samples, pre-emphasised. (S, wlen)"""
        n = np.maximum(have[short, None], 1)  # (S, 1)
        index = self.starts[short, None] + np.arange(wlen) % n  # (S, wlen)
        frames = x[np.minimum(index, len(x) - 1)] * (have[short, None] > 0)  # empty: zeros
        shifted = np.concatenate([priors[short, None], frames[:, :-1]], axis=1)
        return (frames - alpha * shifted) * self.window

    def block(self, lo: int, hi: int) -> np.ndarray:
        """Windowed frames ``lo .. hi-1`` of the batch: (hi - lo, wlen) float64, a new array."""
        frames = self._view[self.starts[lo:hi]]  # gathered rows: a copy
        frames *= self.window
        frames[:, 0] = self.heads[lo:hi]
        short = self.short[lo:hi]
        rows = np.flatnonzero(short >= 0)
        if len(rows):
            frames[rows] = self.tails[short[rows]]
        return frames
