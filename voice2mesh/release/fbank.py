"""The release's voice features: per-utterance fbank ``.npy`` files, read, checked and untiled.

What the files hold (the authors' ``utils.py`` ``get_fbank``, lines 169-189 of
choyingw/Cross-Modal-Perceptionist @5191c37, and measured on the 15 files of
``../shared/assets/cmp``): (T, 64) float32, frames x 64 log-mel bins of Wen et al.'s front end
(their ``mfcc.py`` with 64 filters, 20-7200 Hz, nfft 1024, 25 ms windows: ``eval_sup.py`` line
19), normalised per bin over the utterance as ``(f - mean) / (std + eps32)`` (lines 179-180),
then repeated and cut to 1000 frames when shorter (lines 184-188). So an utterance under 10 s
is stored as exactly 1000 frames that repeat with the utterance's length as their period, and a
longer one whole. Their encoder takes the transpose, (1, 64, T) (``voice2face_processed``,
lines 206-213).

That is this project's normalisation (``audio.logmel.normalize``: the same formula, computed in
float64, so values differ by ~1e-6) and its repetition (``audio.logmel.repeat_to``), which the
project applies when loading rather than before storing. ``read_fbank`` undoes the repetition:
it keeps one period, which is what the ``features`` stage stores for a wav, and
``repeat_to(kept, 1000)`` gives the file back bit for bit (a sequence equal to itself shifted by
k frames is k-periodic). Files that are not normalised per bin are refused by the importer and
warned about by ``predict``: they were made by another front end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice2mesh.release.errors import ReleaseFileError
from voice2mesh.release.npy import load_npy

N_BINS = 64
FILE_FRAMES = 1000  # their ``full_frame_number`` (utils.py line 184) = train.voice_data.MIN_FRAMES
FRAMES_PER_S = 100  # hop of 160 samples at 16 kHz
MEAN_LIMIT = 0.2  # largest |per-bin mean| of a normalised utterance (a cut one: ~0.1)
STD_RANGE = (0.8, 1.25)  # per-bin std of a normalised utterance (a cut one: 0.94-1.07)
CONSTANT_STD = 1e-3  # a bin this flat was constant; normalising made it 0 (std 0 is fine)


@dataclass(frozen=True)
class Fbank:
    """One fbank file, its repetition undone.

    Attributes:
        features: (T, 64) float32, the utterance (one period of a repeated file).
        frames_in_file: frames the file holds (1000 for a repeated utterance).
        period: T when the file repeats a T-frame utterance, else None.
        problem: why the utterance does not look normalised per bin, or None.
    """

    features: np.ndarray
    frames_in_file: int
    period: int | None
    problem: str | None

    @property
    def speech_s(self) -> float:
        """Seconds of speech the utterance holds (the files are cut by the VAD already)."""
        return len(self.features) / FRAMES_PER_S


def load_fbank(path: Path | str) -> np.ndarray:
    """The (T, 64) float32 frames of an fbank ``.npy``, checked.

    Raises:
        ReleaseFileError: unreadable, no .npy or pickled (``unreadable``), not a float array
            (``bad_dtype``), not (T, 64) (``bad_shape``, with a hint when it is (64, T)), no
            frames (``empty``) or NaN / infinity (``non_finite``).
    """
    array = load_npy(path, "save the frames with np.save(path, frames.astype('float32'))")
    if array.dtype.kind != "f":
        raise ReleaseFileError(
            path, f"holds {array.dtype} values, expected float log-mel frames", "bad_dtype"
        )
    if array.ndim != 2 or array.shape[1] != N_BINS:
        hint = (
            "; it looks transposed (bins x frames, as their encoder takes it): save fbank.T"
            if array.ndim == 2 and array.shape[0] == N_BINS
            else ""
        )
        expected = f"expected (T, {N_BINS}) frames x mel bins{hint}"
        raise ReleaseFileError(path, f"shape {array.shape}, {expected}", "bad_shape")
    if array.shape[0] == 0:
        raise ReleaseFileError(path, "holds no frames", "empty")
    if not np.isfinite(array).all():
        raise ReleaseFileError(path, "holds NaN or infinite values", "non_finite")
    return array.astype(np.float32, copy=False)


def tile_period(frames: np.ndarray) -> int | None:
    """The period k < T of a ``FILE_FRAMES``-frame file that repeats itself, else None.

    Args:
        frames: (T, 64); only T == ``FILE_FRAMES`` can be a repeated utterance.
    """
    if len(frames) != FILE_FRAMES:
        return None
    candidates = np.flatnonzero((frames[1:] == frames[0]).all(axis=1)) + 1  # rows equal to row 0
    for k in candidates:
        if np.array_equal(frames[k:], frames[:-k]):
            return int(k)
    return None


def normalisation_problem(frames: np.ndarray) -> str | None:
    """Why (T, 64) ``frames`` are not normalised per bin (mean 0, std 1), or None."""
    mean = frames.mean(axis=0, dtype=np.float64)
    std = frames.std(axis=0, dtype=np.float64)
    constant = std < CONSTANT_STD
    bad = (np.abs(mean) > MEAN_LIMIT) | (~constant & ((std < STD_RANGE[0]) | (std > STD_RANGE[1])))
    if not bad.any():
        return None
    k = int(np.argmax(bad))
    return (
        f"not normalised per mel bin: bin {k} has mean {mean[k]:.3g} and std {std[k]:.3g} over "
        f"{len(frames)} frames, {int(bad.sum())} of {N_BINS} bins are off (expected mean 0, "
        "std 1: (f - mean) / std per bin over the utterance, as the release and "
        "audio.logmel.normalize do)"
    )


def read_fbank(path: Path | str) -> Fbank:
    """Load an fbank file, undo its repetition, check its normalisation (``Fbank.problem``).

    Raises:
        ReleaseFileError: as ``load_fbank``.
    """
    frames = load_fbank(path)  # (T_file, 64)
    period = tile_period(frames)
    utterance = frames[:period] if period else frames  # (T, 64)
    return Fbank(np.array(utterance), len(frames), period, normalisation_problem(utterance))
