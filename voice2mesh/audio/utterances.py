"""The ``features`` stage's per-utterance work, in groups: read, VAD, then one batched log-mel.

Each worker task is a group of ``GROUP`` utterances: every file is read (``read_wav``) and
passed through the VAD on its own, then the log-mel of all the speech kept goes through
``log_mel_batch`` in one call (frames of all utterances through the FFT together), and each
utterance is normalised on its own. Results come back one dict per utterance, in manifest order,
whatever the number of workers; a bad file is a reject row, never the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np

from voice2mesh.audio.io import AudioError, read_wav
from voice2mesh.audio.logmel import log_mel, log_mel_batch, normalize
from voice2mesh.audio.vad import vad
from voice2mesh.parallel import ordered_map

SAMPLE_RATE = 16000
GROUP = 16  # utterances per worker task and per log_mel_batch call

Job = tuple[str, str, Path]  # identity, path as in the manifest, file to read


def kept_speech(
    samples: np.ndarray, file: Path | str, min_speech_s: float
) -> tuple[np.ndarray, float]:
    """VAD: the (S,) int16 speech kept and its seconds.

    Raises:
        AudioError: code ``too_little_speech`` when under ``min_speech_s`` seconds are kept.
    """
    speech = vad(samples, SAMPLE_RATE)
    speech_s = len(speech) / SAMPLE_RATE
    if speech_s < min_speech_s:
        raise AudioError(
            file,
            f"{speech_s:.2f} s of speech after VAD, under the {min_speech_s:g} s required; use a "
            "longer or clearer recording (or lower min_speech_s)",
            "too_little_speech",
        )
    return speech, speech_s


def _error(row: dict, file: Path, error: Exception) -> dict:
    """``row`` as a reject for an unexpected error, listed with its cause."""
    return row | {"reason_code": "error", "reason": f"{file}: {type(error).__name__}: {error}"}


def _read(job: Job, min_speech_s: float) -> dict:
    """One utterance -> a result dict holding its VAD-kept ``speech`` (S,) int16, or a reject."""
    identity, path, file = job
    row = {"identity": identity, "path": path}
    try:
        samples, info = read_wav(file, SAMPLE_RATE)
        speech, speech_s = kept_speech(samples, file, min_speech_s)
    except AudioError as error:
        return row | {"reason_code": error.code, "reason": str(error)}
    except Exception as error:  # one bad file must not end the run; it is listed with the cause
        return _error(row, file, error)
    return row | {
        "speech": speech,
        "duration_s": round(info["duration_s"], 4),
        "speech_s": round(speech_s, 4),
        "resampled": info["resampled_from"] is not None,
        "mixed_down": bool(info["mixed_down"]),
        "truncated": bool(info["truncated"]),
        "clipped_fraction": round(float(info["clipped_fraction"]), 6),
    }


def process_group(group: list[Job], min_speech_s: float) -> list[dict]:
    """A group of utterances -> one dict each: ``features`` (T, 64) float32, or a reject reason.

    Should the batched log-mel refuse a signal, each utterance is redone alone so that only the
    bad one is rejected.
    """
    rows = [_read(job, min_speech_s) for job in group]
    kept = [(row, file) for row, (_, _, file) in zip(rows, group, strict=True) if "speech" in row]
    try:
        batch = log_mel_batch([row["speech"] for row, _ in kept], SAMPLE_RATE)
    except Exception:
        batch = [None] * len(kept)
    for (row, file), logmel in zip(kept, batch, strict=True):
        speech = row.pop("speech")
        try:
            row["features"] = normalize(log_mel(speech) if logmel is None else logmel)
        except Exception as error:
            row |= _error({}, file, error)
    return rows


def results(jobs: list[Job], min_speech_s: float, workers: int) -> Iterator[dict]:
    """``process_group`` over ``jobs`` in groups of ``GROUP``, one dict per job, in job order."""
    groups = [jobs[i : i + GROUP] for i in range(0, len(jobs), GROUP)]
    task = partial(process_group, min_speech_s=min_speech_s)
    for rows in ordered_map(task, groups, workers, chunksize=1):
        yield from rows
