"""Reading utterances as 16 kHz mono int16, whatever the file holds (WAV, FLAC, ... via soundfile).

The front end (``logmel``) and the VAD want raw int16 sample values at 16 kHz. Real collections
contain the odd stereo, 44.1 kHz or float file; those are converted here and the conversion is
reported in the returned ``info`` so the ``features`` stage can count it. Files that cannot give
usable audio raise ``AudioError`` naming the file, so a caller can skip and list them.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

INT16_SCALE = 32768.0  # soundfile reads any PCM as full-scale floats in [-1, 1)


class AudioError(Exception):
    """An audio file that cannot give usable samples.

    Attributes:
        path: the file.
        code: short reason for reject tables: ``unreadable``, ``empty``, ``silent``.
    """

    def __init__(self, path: Path | str, message: str, code: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.code = code


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Round int16-scaled floats to int16, saturating at the int16 range."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def read_wav(path: Path | str, target_rate: int = 16000) -> tuple[np.ndarray, dict]:
    """Read an audio file as mono int16 samples at ``target_rate``.

    16-bit PCM is read bit-exactly; other subtypes (8/24/32-bit PCM, float, double, ...) are
    read as floats in [-1, 1] and scaled by 32768. Several channels are averaged; another
    sample rate is converted with ``scipy.signal.resample_poly`` (Kaiser-windowed polyphase
    filter). Results are rounded and saturated to int16.

    Args:
        path: an audio file soundfile can read.
        target_rate: output sample rate in Hz.

    Returns:
        ``(samples, info)``: (n,) int16 samples, and a dict with ``path``, ``sample_rate``
        (= target_rate), ``source_rate``, ``channels``, ``subtype``, ``mixed_down`` (bool:
        several channels were averaged), ``resampled_from`` (the source rate, or None) and
        ``duration_s`` (after conversion).

    Raises:
        AudioError: missing, unreadable or corrupt file (code ``unreadable``), no samples
            (``empty``), or only zeros after conversion (``silent``).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file; check the manifest's root and path", "unreadable")
    try:
        info = sf.info(str(path))
        if info.subtype == "PCM_16":
            data, rate = sf.read(str(path), dtype="int16", always_2d=True)  # (n, channels)
        else:
            data, rate = sf.read(str(path), dtype="float64", always_2d=True)
            data = data * INT16_SCALE
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as error:
        raise AudioError(
            path,
            f"unreadable or corrupt audio ({error}); re-extract or re-download it, or remove it "
            "from the dataset",
            "unreadable",
        ) from error
    if data.shape[0] == 0:
        raise AudioError(path, "the file holds no samples; remove it from the dataset", "empty")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "samples contain NaN or infinity; the file is corrupt", "unreadable")
    channels = data.shape[1]
    samples = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float64)  # (n,)
    resampled_from = None
    if rate != target_rate:
        step = gcd(int(rate), int(target_rate))
        samples = resample_poly(samples.astype(np.float64), target_rate // step, rate // step)
        resampled_from = int(rate)
    if samples.dtype != np.int16:
        samples = _to_int16(samples)
    if not np.any(samples):
        raise AudioError(path, "the signal is all zeros (silent); nothing to learn from", "silent")
    meta = {
        "path": str(path),
        "sample_rate": int(target_rate),
        "source_rate": int(rate),
        "channels": int(channels),
        "subtype": str(info.subtype),
        "mixed_down": channels > 1,
        "resampled_from": resampled_from,
        "duration_s": len(samples) / target_rate,
    }
    return np.ascontiguousarray(samples), meta
