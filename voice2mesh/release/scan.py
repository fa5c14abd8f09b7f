"""What a release holds, before any fbank file is read: its meta file, the fbank files to read
and the usable faces (``scan_release``). The importer's three parts each start from it, so
``intersect``, ``features`` and ``fit3dmm`` in release mode see the same release.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from voice2mesh.data.voxceleb import DatasetError, Meta, read_meta
from voice2mesh.release.errors import ReleaseError
from voice2mesh.release.faces import find_face_roots, list_faces
from voice2mesh.release.voices import find_voice_root, list_voice_files, resolve_speakers


@dataclass(frozen=True)
class ImportOptions:
    """How to read a release (``voice2mesh import-release`` flags of the same names)."""

    voices: str | None = None  # the fbank folder under ROOT; default fbank, else preprocessed_MFCC
    faces: tuple[str, ...] = ()  # face folders under ROOT; default: every other subfolder
    meta_file: str | None = None  # default ROOT/vox1_meta.csv
    aliases: dict[str, str] = field(default_factory=dict)  # speaker folder -> VGGFace1 ID
    unknown_ids: str = "error"  # error | drop: speaker folders the meta file does not name
    test_initials: str = "ABCDE"
    val_fraction: float = 0.15  # as intersect.val_fraction
    n_shape: int = 40  # leading BFM shape components kept (<= 40)
    n_expression: int = 10  # leading expression components kept (<= 10)
    reference: str = "mean"  # as fit3dmm.reference
    shard_size: int = 256  # utterances per features shard
    workers: int = 1  # processes reading fbank files; the output does not depend on it


@dataclass(frozen=True)
class ReleaseScan:
    """A release's listing (``scan_release``)."""

    meta: Meta
    meta_path: Path
    voice_root: Path
    files: pd.DataFrame  # the fbank files to read (``list_voice_files`` rows)
    faces: pd.DataFrame | None  # usable faces (``list_faces`` rows); None: a voices-only release
    faceless: frozenset[str]  # identities whose fbank files are not read for want of a face
    rejects: tuple[dict, ...]  # speaker folders and parameter files left out (kind, path, ...)


def _read_meta(path: Path) -> Meta:
    try:
        return read_meta(path)
    except DatasetError as error:
        raise ReleaseError(
            f"{error}; the release ships it as data/vox1_meta.csv: put it in ROOT or pass --meta"
        ) from error


def scan_release(root: Path | str, options: ImportOptions) -> ReleaseScan:
    """List the release under ``root``: resolve speaker folders, check every parameter file.

    With faces, only the fbank files of people with a usable face are listed (the others are
    ``faceless``); a release without parameter files lists every resolved speaker's files.

    Raises:
        ReleaseError: no folder at ``root``, no meta file or voice folder, unknown speaker
            folders (``unknown_ids="error"``), no usable parameter file among some, or no fbank
            file to read; the message names the path and the fix.
    """
    root = Path(root)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such folder; give the unpacked release's folder")
    meta_path = Path(options.meta_file) if options.meta_file else root / "vox1_meta.csv"
    meta = _read_meta(meta_path)
    voice_root = find_voice_root(root, options.voices)
    speakers = sorted(e.name for e in os.scandir(voice_root) if e.is_dir())
    resolved, rejects = resolve_speakers(
        speakers, meta, options.aliases, options.unknown_ids, str(meta_path)
    )
    files = list_voice_files(voice_root, resolved)
    faces, face_rejects = list_faces(find_face_roots(root, voice_root, options.faces))
    if faces.empty and face_rejects:
        raise ReleaseError(
            f"none of the {len(face_rejects)} 3DMM parameter files is usable, e.g. "
            f"{face_rejects[0]['reason']}"
        )
    faceless: set[str] = set()
    if not faces.empty:  # read only the voices of people with a face
        names = dict(zip(meta.table.identity, meta.table.name, strict=True))
        has_face = files.identity.map(names).isin(set(faces.name))
        faceless = set(files.identity[~has_face])
        files = files[has_face].reset_index(drop=True)
    if files.empty:
        raise ReleaseError(
            f"{voice_root}: no fbank .npy files of identities in {meta_path}"
            + (" that also have a face folder" if not faces.empty else "")
            + "; check the folder layout <voices>/<speaker>/<video>/<utterance>.npy"
        )
    return ReleaseScan(
        meta=meta,
        meta_path=meta_path,
        voice_root=voice_root,
        files=files,
        faces=None if faces.empty else faces,
        faceless=frozenset(faceless),
        rejects=tuple(rejects + face_rejects),
    )
