"""Reading utterances as 16 kHz mono int16, whatever the file holds (WAV, FLAC, ... via soundfile).

The front end (``logmel``) and the VAD want raw int16 sample values at 16 kHz. Real collections
contain the odd stereo, 44.1 kHz or float file; those are converted here and the conversion is
reported in the returned ``info`` so the ``features`` stage can count it. Files that cannot give
usable audio raise ``AudioError`` naming the file, so a caller can skip and list them.

The header is checked before anything is allocated: a sample rate outside ``MIN_RATE`` to
``MAX_RATE`` (a header claiming 1 Hz would make the 16 kHz resampler allocate 16,000 samples
per stored sample) or a duration over ``max_seconds`` is refused. Damage that still gives
samples is reported, not refused: a WAV cut short mid-data (libsndfile silently decodes the part
that is there) sets ``info["truncated"]`` and logs a warning; samples at or beyond full scale
are counted in ``info["clipped_fraction"]``.
"""

from __future__ import annotations

import logging
import struct
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

INT16_SCALE = 32768.0  # soundfile reads any PCM as full-scale floats in [-1, 1)
MIN_RATE, MAX_RATE = 4000, 192000  # Hz: telephone band to studio rates
MAX_SECONDS = 1800.0  # default duration bound: a VoxCeleb utterance is ~8 s, an interview < 30 min
CLIP_WARN_FRACTION = 1e-3  # clipped_fraction above which callers should warn (0.1 % of samples)
PCM_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
_WAV_CHUNKS = 64  # RIFF chunks scanned for "data" before giving up

log = logging.getLogger(__name__)


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


def _wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/RIFX WAV's ``data`` chunk, or None.

    None for other formats, RF64, a header without a ``data`` chunk in its first
    ``_WAV_CHUNKS`` chunks, and the 0 / 0xFFFFFFFF sizes that streaming writers leave.
    """
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:] != b"WAVE":
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        for _ in range(_WAV_CHUNKS):
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            (size,) = struct.unpack(f"{order}I", chunk[4:])
            if chunk[:4] == b"data":
                if size in (0, 0xFFFFFFFF):
                    return None
                return size, path.stat().st_size - handle.tell()
            handle.seek(size + (size & 1), 1)  # chunks are padded to even sizes
    return None


def _clipped_fraction(data: np.ndarray, subtype: str) -> float:
    """Share of samples (all channels) at or beyond the format's full scale.

    ``data`` is as read: int16 for PCM_16, else soundfile's floats (PCM scaled to [-1, 1)).
    """
    if data.dtype == np.int16:
        return float(np.mean((data == 32767) | (data == -32768)))
    top = 1.0 - 2.0 ** (1 - PCM_BITS[subtype]) if subtype in PCM_BITS else 1.0
    return float(np.mean((data >= top) | (data <= -1.0)))


def _check_header(path: Path, rate: int, frames: int, max_seconds: float) -> None:
    """Refuse a sample rate or duration that would allocate without bound (module docstring)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            path,
            f"the header gives a sample rate of {rate} Hz, outside {MIN_RATE}-{MAX_RATE} Hz; the "
            "header is damaged or this is no recording: re-export it at 16 kHz",
            "bad_rate",
        )
    if frames > max_seconds * rate:
        raise AudioError(
            path,
            f"{frames / rate:.0f} s long ({frames} frames at {rate} Hz), over the "
            f"{max_seconds:g} s limit; cut it into shorter utterances or raise max_seconds "
            "(predict: --max-seconds)",
            "too_long",
        )


def _declared_frames(path: Path, frames: int) -> int:
    """Frames the header declares; libsndfile's ``frames`` counts only those present."""
    data_bytes = _wav_data_bytes(path)
    if data_bytes is None or data_bytes[1] <= 0 or data_bytes[0] <= data_bytes[1]:
        return frames
    return round(frames * data_bytes[0] / data_bytes[1])


def _unreadable(path: Path, error: Exception) -> AudioError:
    """The ``unreadable`` error for a file soundfile cannot open or decode."""
    return AudioError(
        path,
        f"unreadable or corrupt audio ({error}); re-extract or re-download it, or remove it "
        "from the dataset",
        "unreadable",
    )


def read_wav(
    path: Path | str, target_rate: int = 16000, max_seconds: float = MAX_SECONDS
) -> tuple[np.ndarray, dict]:
    """Read an audio file as mono int16 samples at ``target_rate``.

    16-bit PCM is read bit-exactly; other subtypes (8/24/32-bit PCM, float, double, ...) are
    read as floats in [-1, 1] and scaled by 32768. Several channels are averaged; another
    sample rate is converted with ``scipy.signal.resample_poly`` (Kaiser-windowed polyphase
    filter). Results are rounded and saturated to int16 (over-driven float input is clipped
    there: see ``clipped_fraction``). Sample rate and duration are checked from the header
    before reading.

    Args:
        path: an audio file soundfile can read.
        target_rate: output sample rate in Hz.
        max_seconds: longer files are refused before they are read.

    Returns:
        ``(samples, info)``: (n,) int16 samples, and a dict with ``path``, ``sample_rate``
        (= target_rate), ``source_rate``, ``channels``, ``subtype``, ``mixed_down`` (bool:
        several channels were averaged), ``resampled_from`` (the source rate, or None),
        ``duration_s`` (after conversion), ``truncated`` (bool: the file ends before the
        data its header declares; a warning is logged), ``declared_duration_s`` (what the
        header declares), ``clipped_fraction`` (share of source samples at or beyond full
        scale; warn above ``CLIP_WARN_FRACTION``) and ``peak`` (largest absolute source
        sample, 1.0 = full scale).

    Raises:
        AudioError: missing, unreadable or corrupt file (code ``unreadable``), a sample rate
            outside ``MIN_RATE``-``MAX_RATE`` (``bad_rate``), longer than ``max_seconds``
            (``too_long``), no samples (``empty``), or only zeros after conversion
            (``silent``).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file; check the manifest's root and path", "unreadable")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as error:
        raise _unreadable(path, error) from error
    _check_header(path, info.samplerate, info.frames, max_seconds)
    try:
        if info.subtype == "PCM_16":
            data, rate = sf.read(str(path), dtype="int16", always_2d=True)  # (n, channels)
        else:
            data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as error:
        raise _unreadable(path, error) from error
    if data.shape[0] == 0:
        raise AudioError(path, "the file holds no samples; remove it from the dataset", "empty")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "samples contain NaN or infinity; the file is corrupt", "unreadable")
    clipped = _clipped_fraction(data, info.subtype)
    peak = max(-float(data.min()), float(data.max()))  # no abs(): int16 -32768 would overflow
    peak /= INT16_SCALE if data.dtype == np.int16 else 1.0
    declared = max(_declared_frames(path, info.frames), data.shape[0])
    truncated = declared > data.shape[0]
    if truncated:
        log.warning(
            "%s: truncated: the header declares %.2f s but the file holds %.2f s; only that "
            "part is used (re-copy or re-export the file)",
            path,
            declared / rate,
            data.shape[0] / rate,
        )
    if data.dtype != np.int16:
        data = data * INT16_SCALE
    channels = data.shape[1]
    samples = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float64)  # (n,)
    resampled_from = None
    if rate != target_rate:
        step = gcd(int(rate), int(target_rate))
        from scipy.signal import resample_poly  # here: scipy.signal takes ~1 s to import

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
        "truncated": bool(truncated),
        "declared_duration_s": declared / rate,
        "clipped_fraction": clipped,
        "peak": peak,
    }
    return np.ascontiguousarray(samples), meta
