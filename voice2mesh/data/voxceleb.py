"""VoxCeleb1 + VGGFace on disk: the meta file, the wav tree, the face folders.

Real layouts (and the synthetic world's)::

    <voxceleb_root>/vox1_meta.csv            tab-separated: VoxCeleb1 ID, VGGFace1 ID, Gender,
                                             Nationality, Set (1,251 rows for VoxCeleb1)
    <voxceleb_root>/wav/id10001/<video>/00001.wav
    <vggface_root>/<VGGFace1 ID>/<image>.jpg  (folder named exactly as the meta file's name)

Everything here only reads; ``intersect`` turns it into manifests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import soundfile as sf

META_COLUMNS: tuple[str, ...] = ("VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set")
ID_PATTERN = re.compile(r"id\d{5}")
GENDERS = {"m": "male", "f": "female"}


class DatasetError(ValueError):
    """The dataset on disk cannot be used as configured; the message says how to fix it."""


@dataclass(frozen=True)
class Meta:
    """A parsed meta file: valid rows and the malformed ones with line numbers."""

    table: pd.DataFrame  # identity, name, gender, nationality, set
    malformed: pd.DataFrame  # line, text, reason


def read_meta(path: Path) -> Meta:
    """Parse ``vox1_meta.csv`` (tab-separated, header with the five VoxCeleb1 columns).

    Malformed rows (wrong column count, bad id, unknown gender, duplicate id or name) are
    returned with their 1-based line numbers instead of failing the whole file.

    Raises:
        DatasetError: missing file or a header without the five columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: VoxCeleb1 meta file not found; set intersect.meta_file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header = [h.strip() for h in lines[0].split("\t")] if lines else []
    if tuple(header) != META_COLUMNS:
        raise DatasetError(
            f"{path}:1: header {header} is not the VoxCeleb1 header {list(META_COLUMNS)} "
            "(the file must be tab-separated)"
        )
    rows, bad, seen_ids, seen_names = [], [], set(), set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        reason = _row_problem(fields, seen_ids, seen_names)
        if reason:
            bad.append({"line": number, "text": line[:200], "reason": reason})
            continue
        seen_ids.add(fields[0])
        seen_names.add(fields[1])
        rows.append(
            {
                "identity": fields[0],
                "name": fields[1],
                "gender": GENDERS[fields[2].lower()],
                "nationality": fields[3],
                "set": fields[4],
            }
        )
    table = pd.DataFrame(rows, columns=["identity", "name", "gender", "nationality", "set"])
    return Meta(table, pd.DataFrame(bad, columns=["line", "text", "reason"]))


def _row_problem(fields: list[str], ids: set[str], names: set[str]) -> str | None:
    if len(fields) != len(META_COLUMNS):
        return f"{len(fields)} tab-separated fields, expected {len(META_COLUMNS)}"
    identity, name, gender = fields[:3]
    if not ID_PATTERN.fullmatch(identity):
        return f"VoxCeleb1 ID {identity!r} is not of the form id12345"
    if gender.lower() not in GENDERS:
        return f"gender {gender!r} is not m or f"
    if not name:
        return "empty VGGFace1 ID"
    if identity in ids:
        return f"duplicate VoxCeleb1 ID {identity}"
    if name in names:
        return f"duplicate VGGFace1 ID {name}"
    return None


def _subdirs(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)


def scan_voices(voxceleb_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All ``wav/<id>/<video>/<n>.wav`` files with their durations (from the headers).

    Returns:
        ``(voices, unreadable)``: voices with identity, video, utterance, path, bytes,
        duration_s, sample_rate, channels; unreadable files with path and reason.
    """
    wav_root = Path(voxceleb_root) / "wav"
    if not wav_root.is_dir():
        raise DatasetError(
            f"{wav_root}: no VoxCeleb1 wav folder; set intersect.voxceleb_root to the folder "
            "holding vox1_meta.csv and wav/"
        )
    rows, bad = [], []
    for speaker in _subdirs(wav_root):
        for video in _subdirs(Path(speaker.path)):
            with os.scandir(video.path) as entries:
                files = sorted(e.name for e in entries if e.name.lower().endswith(".wav"))
            for name in files:
                path = wav_root / speaker.name / video.name / name
                try:
                    info = sf.info(str(path))
                except (RuntimeError, sf.LibsndfileError) as error:
                    bad.append({"path": str(path), "reason": f"unreadable wav header: {error}"})
                    continue
                rows.append(
                    {
                        "identity": speaker.name,
                        "video": video.name,
                        "utterance": Path(name).stem,
                        "path": str(path),
                        "bytes": path.stat().st_size,
                        "duration_s": round(info.frames / info.samplerate, 4),
                        "sample_rate": info.samplerate,
                        "channels": info.channels,
                    }
                )
    columns = [
        "identity",
        "video",
        "utterance",
        "path",
        "bytes",
        "duration_s",
        "sample_rate",
        "channels",
    ]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(bad, columns=["path", "reason"])


def scan_faces(vggface_root: Path, suffixes: tuple[str, ...]) -> pd.DataFrame:
    """All face images ``<root>/<Name>/<file>`` with an image suffix: name, path, bytes."""
    root = Path(vggface_root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no VGGFace folder; set intersect.vggface_root")
    rows = []
    for person in _subdirs(root):
        with os.scandir(person.path) as entries:
            files = sorted(
                (e for e in entries if Path(e.name).suffix.lower() in suffixes),
                key=lambda e: e.name,
            )
        rows += [
            {
                "name": person.name,
                "path": str(root / person.name / e.name),
                "bytes": e.stat().st_size,
            }
            for e in files
        ]
    return pd.DataFrame(rows, columns=["name", "path", "bytes"])
