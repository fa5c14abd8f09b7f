"""The release's voice side: speaker folders resolved through the meta file; fbank files stored
as a ``features`` folder (``audio.features.FeatureStore`` reads it as if the stage wrote it).

``<voices>/<speaker>/<video>/<utterance>.npy``: a speaker folder is a VoxCeleb1 ID, an alias
the user gives (the reference assets' demo folders are named ``rand_id00001``...), or a
``VGGFace1 ID`` (the authors' ``parse_dataset.py`` line 36 takes an unknown folder name as the
person's name). Anything else is an error naming the folders, or, with ``unknown_ids="drop"``,
a reject.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from voice2mesh.audio.features import INDEX_COLUMNS, REJECT_COLUMNS
from voice2mesh.audio.shards import write_shard
from voice2mesh.data.voxceleb import Meta
from voice2mesh.io import atomic_dir
from voice2mesh.parallel import ordered_map
from voice2mesh.release.errors import ReleaseError, ReleaseFileError
from voice2mesh.release.fbank import FRAMES_PER_S, read_fbank

VOICE_FOLDERS: tuple[str, ...] = ("fbank", "preprocessed_MFCC")  # their config.py / demo.py names
FILE_COLUMNS = ["identity", "speaker", "video", "utterance", "path", "bytes"]
SAMPLE_RATE = 16000  # the rate the release's features were computed at


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def find_voice_root(root: Path, voices: str | None = None) -> Path:
    """``root/voices``, or the first of ``VOICE_FOLDERS`` under ``root``."""
    names = (voices,) if voices else VOICE_FOLDERS
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise ReleaseError(
        f"{root}: no voice folder {' or '.join(names)}; point ROOT at the unpacked release, "
        "or name its fbank folder with --voices"
    )


def resolve_speakers(
    speakers: list[str], meta: Meta, aliases: dict[str, str], unknown_ids: str, meta_path: str
) -> tuple[dict[str, str], list[dict]]:
    """``{speaker folder: VoxCeleb1 ID}`` and reject rows for the folders left out.

    Raises:
        ReleaseError: an alias naming no meta row, or unknown folders with ``unknown_ids="error"``.
    """
    ids = set(meta.table.identity)
    by_name = dict(zip(meta.table.name, meta.table.identity, strict=True))
    bad_alias = sorted(name for name in aliases.values() if name not in by_name)
    if bad_alias:
        raise ReleaseError(
            f"--alias name(s) {bad_alias} are not VGGFace1 IDs of {meta_path}; spell them as its "
            "second column does"
        )
    found, unknown = {}, []
    for speaker in speakers:
        name = aliases.get(speaker, speaker)
        identity = speaker if speaker in ids else by_name.get(name)
        if identity is None:
            unknown.append(speaker)
        else:
            found[speaker] = identity
    if unknown and unknown_ids == "error":
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise ReleaseError(
            f"{len(unknown)} speaker folder(s) are neither VoxCeleb1 IDs nor names in "
            f"{meta_path}: {shown}. Map them with --alias FOLDER=VGGFace1_ID, or leave them "
            "out with --unknown-ids drop"
        )
    rejects = [
        {
            "kind": "speaker_folder",
            "path": speaker,
            "reason_code": "not_in_meta",
            "reason": f"folder name is not a VoxCeleb1 ID or VGGFace1 ID in {meta_path}",
        }
        for speaker in unknown
    ]
    return found, rejects


def list_voice_files(voice_root: Path, speakers: dict[str, str]) -> pd.DataFrame:
    """Every ``<speaker>/<video>/<utterance>.npy`` of the resolved speakers, sorted by path."""
    rows = []
    for speaker, identity in sorted(speakers.items()):
        for video in _subdirs(voice_root / speaker):
            with os.scandir(voice_root / speaker / video) as entries:
                files = sorted(e.name for e in entries if e.name.endswith(".npy"))
            for name in files:
                path = voice_root / speaker / video / name
                row = (identity, speaker, video, Path(name).stem, str(path), path.stat().st_size)
                rows.append(dict(zip(FILE_COLUMNS, row, strict=True)))
    return pd.DataFrame(rows, columns=FILE_COLUMNS).sort_values("path", ignore_index=True)


def _read(job: tuple[str, str]) -> dict:
    """One fbank file -> a result with ``features`` and ``period``, or a reject reason."""
    identity, path = job
    row = {"identity": identity, "path": path}
    try:
        fbank = read_fbank(path)
    except ReleaseFileError as error:
        return row | {"reason_code": error.code, "reason": str(error)}
    if fbank.problem:
        reason = f"{path}: {fbank.problem}; recompute it with the release's front end"
        return row | {"reason_code": "not_normalised", "reason": reason}
    return row | {"features": fbank.features, "period": fbank.period}


class VoiceRead(NamedTuple):
    """What reading a release's fbank files gave: ``index.csv`` and ``rejects.csv`` rows of a
    ``features`` folder, and how many files were a repeated utterance."""

    index: pd.DataFrame
    rejects: pd.DataFrame
    untiled: int


def _read_all(
    files: pd.DataFrame,
    shard_size: int,
    workers: int,
    progress: Callable[[Iterable[dict]], Iterable[dict]],
    store: Callable[[list[dict], list[np.ndarray]], None] | None,
) -> VoiceRead:
    """Read every file of ``files`` once; hand each shard (every full one, then the rest) to
    ``store`` when given: the index rows so far, and the (T_i, 64) features of the last rows."""
    jobs = list(zip(files.identity.astype(str), files.path.astype(str), strict=True))
    rows: list[dict] = []
    rejected: list[dict] = []
    pending: list[np.ndarray] = []
    untiled = 0
    for result in progress(ordered_map(_read, jobs, workers)):
        if "features" not in result:
            rejected.append(result)
            continue
        features = result.pop("features")
        untiled += result.pop("period") is not None
        start = sum(len(f) for f in pending)
        seconds = round(len(features) / FRAMES_PER_S, 4)
        rows.append(
            result
            | {"shard": len(rows) // shard_size, "start": start, "n_frames": len(features)}
            | {"duration_s": seconds, "speech_s": seconds, "resampled": False}
            | {"mixed_down": False, "truncated": False, "clipped_fraction": 0.0}
        )
        pending.append(features)
        if len(pending) == shard_size:
            if store is not None:
                store(rows, pending)
            pending = []
    if pending and store is not None:
        store(rows, pending)
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    return VoiceRead(index, pd.DataFrame(rejected, columns=REJECT_COLUMNS), untiled)


def check_voice_files(
    files: pd.DataFrame,
    *,
    shard_size: int = 256,
    workers: int = 1,
    progress: Callable[[Iterable[dict]], Iterable[dict]] = iter,
) -> VoiceRead:
    """What ``write_voice_features`` would return for ``files``, without writing anything (the
    ``intersect`` stage decides from it which utterances the manifest lists)."""
    return _read_all(files, shard_size, workers, progress, None)


def write_voice_features(
    files: pd.DataFrame,
    out: Path,
    *,
    shard_size: int = 256,
    workers: int = 1,
    progress: Callable[[Iterable[dict]], Iterable[dict]] = iter,
) -> VoiceRead:
    """Store the fbank files of ``files`` (``list_voice_files`` rows) as a ``features`` folder.

    Each file is read once (``read_fbank``, repetition undone). Rejected files go to
    ``rejects.csv`` with their reason, as the ``features`` stage lists its rejects.

    Returns:
        ``index.csv`` and ``rejects.csv`` as written, and how many files were a repeated
        utterance (``VoiceRead``).
    """
    with atomic_dir(out, owns=("shard_*.npz", "index.csv", "rejects.csv")) as tmp:

        def store(rows: list[dict], pending: list[np.ndarray]) -> None:
            paths = [r["path"] for r in rows[-len(pending) :]]
            write_shard(tmp, rows[-1]["shard"], paths, pending)

        read = _read_all(files, shard_size, workers, progress, store)
        read.index.to_csv(tmp / "index.csv", index=False)
        read.rejects.to_csv(tmp / "rejects.csv", index=False)
    return read


def voices_table(files: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """The stored utterances as ``scan_voices`` rows (identity, video, utterance, path, bytes,
    duration_s = seconds of frames, sample_rate, channels), for ``build_manifests``."""
    kept = files[files.path.isin(set(index.path))].merge(
        index[["path", "duration_s"]], on="path", how="left"
    )
    return kept.drop(columns="speaker").assign(sample_rate=SAMPLE_RATE, channels=1)
