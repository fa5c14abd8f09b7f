"""Manifests: the identities that have both voices and faces, split by name initial.

``data/manifest/`` holds five CSV tables written by the ``intersect`` stage:

    identities.csv  identity, name, gender, nationality, split, n_utterances, n_images
    voices.csv      identity, name, split, video, utterance, path, bytes, duration_s, ...
    faces.csv       identity, name, split, path, bytes
    dropped.csv     what was left out and why: kind (identity/utterance/face folder), key, reason
    malformed.csv   malformed meta-file rows: line, text, reason

The folder is written whole (``voice2mesh.io.atomic_dir``); ``read_manifests`` refuses tables
that disagree (voices or faces of identities that identities.csv lists differently, or not at
all), as a folder mixing files of two runs would.

VoxCeleb1's split for cross-modal work (Nagrani et al. 2018; Wen et al. 2019; the paper): names
starting with A–E are test identities, F–Z train. A validation split is carved out of F–Z
(``val_split``): every choice of setting, early stopping or checkpoint is made on it, so the
test identities are read by the ``evaluate`` stage alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.data.voxceleb import DatasetError, Meta
from voice2mesh.io import MixedOutputError, atomic_dir

TABLES: tuple[str, ...] = ("identities", "voices", "faces", "dropped", "malformed")
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Manifests:
    identities: pd.DataFrame
    voices: pd.DataFrame
    faces: pd.DataFrame
    dropped: pd.DataFrame
    malformed: pd.DataFrame

    def counts(self) -> dict:
        """Counts per split and modality and dropped items per reason (for metrics)."""
        out: dict = {"identities": {}, "utterances": {}, "images": {}}
        for split in SPLITS:
            out["identities"][split] = int((self.identities.split == split).sum())
            out["utterances"][split] = int((self.voices.split == split).sum())
            out["images"][split] = int((self.faces.split == split).sum())
        reasons = self.dropped.groupby(["kind", "reason_code"]).size()
        out["dropped"] = {f"{kind}.{code}": int(n) for (kind, code), n in reasons.items()}
        out["malformed_meta_rows"] = len(self.malformed)
        return out


def split_of(name: str, test_initials: str) -> str:
    """``"test"`` when the name starts with one of ``test_initials`` (case-insensitive)."""
    return "test" if name[:1].upper() in test_initials.upper() else "train"


def val_split(identities: pd.DataFrame, fraction: float) -> np.ndarray:
    """Which train-split identities go to validation: (N,) bool, rows as ``identities``.

    Within each gender, the train identities are ranked by the SHA-256 of their VoxCeleb id and
    the first ``round(fraction · n)`` are held out. The choice depends on nothing but the id, so
    an identity stays on its side when others are added or removed, and both genders are
    represented in proportion.

    Args:
        identities: ``identity``, ``gender`` and ``split`` ("train"/"test") per identity.
        fraction: share of each gender's train identities to hold out, in [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {fraction}")
    rank = identities.identity.astype(str).map(lambda i: hashlib.sha256(i.encode()).hexdigest())
    held = np.zeros(len(identities), dtype=bool)
    train = identities.split.to_numpy() == "train"
    for gender in sorted(set(identities.gender[train].astype(str))):
        rows = np.flatnonzero(train & (identities.gender.astype(str).to_numpy() == gender))
        ordered = rows[np.argsort(rank.to_numpy()[rows], kind="stable")]
        held[ordered[: round(float(fraction) * len(rows))]] = True
    return held


def _dropped(kind: str, key: pd.Series, code: str, reason: str | pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"kind": kind, "key": key.astype(str), "reason_code": code, "reason": reason}
    )


def build_manifests(
    meta: Meta,
    voices: pd.DataFrame,
    unreadable: pd.DataFrame,
    faces: pd.DataFrame,
    *,
    test_initials: str = "ABCDE",
    val_fraction: float = 0.0,
    unknown_ids: str = "error",
    meta_path: str = "vox1_meta.csv",
) -> Manifests:
    """Intersect voices and faces through the meta file.

    Args:
        meta: parsed meta file.
        voices: ``scan_voices`` table; unreadable: its unreadable files.
        faces: ``scan_faces`` table.
        test_initials: name initials of the test split.
        val_fraction: share of the other identities held out for validation (``val_split``).
        unknown_ids: ``"error"`` or ``"drop"`` for wav folders whose id is not in the meta file.
        meta_path: the meta file's path, for messages.

    Raises:
        DatasetError: unknown ids (with ``unknown_ids="error"``) or an empty intersection.
    """
    table = meta.table
    unknown = sorted(set(voices.identity) - set(table.identity))
    if unknown and unknown_ids == "error":
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise DatasetError(
            f"{len(unknown)} wav folder id(s) are missing from {meta_path}: {shown}. Use the full "
            "VoxCeleb1 meta file, or set intersect.unknown_ids: drop to leave them out"
        )
    with_voice = set(voices.identity)
    with_face = set(faces.name)
    keep = table[table.identity.isin(with_voice) & table.name.isin(with_face)].copy()
    if keep.empty:
        raise DatasetError(
            f"no identity has both utterances and a face folder (meta {len(table)} rows, "
            f"{len(with_voice)} wav ids, {len(with_face)} face folders). Check that the face "
            "folders are named by the meta file's 'VGGFace1 ID' column"
        )
    keep["split"] = [split_of(n, test_initials) for n in keep.name]
    keep.loc[val_split(keep, val_fraction), "split"] = "val"
    info = keep[["identity", "name", "split"]]
    voice_rows = info.merge(voices, on="identity", how="inner")
    face_rows = info.merge(faces, on="name", how="inner")
    keep["n_utterances"] = keep.identity.map(voice_rows.identity.value_counts())
    keep["n_images"] = keep.name.map(face_rows.name.value_counts())
    no_face = table[table.identity.isin(with_voice) & ~table.name.isin(with_face)]
    no_voice = table[~table.identity.isin(with_voice)]
    stray = sorted(with_face - set(table.name))
    dropped = pd.concat(
        [
            _dropped(
                "identity", no_face.identity, "no_face_folder", "no VGGFace folder with this name"
            ),
            _dropped("identity", no_voice.identity, "no_utterances", "no wav files under wav/<id>"),
            _dropped(
                "face_folder",
                pd.Series(stray, dtype=str),
                "not_in_meta",
                f"folder name is not a VGGFace1 ID in {meta_path}",
            ),
            _dropped(
                "identity",
                pd.Series(unknown, dtype=str),
                "not_in_meta",
                f"wav folder id is not in {meta_path}",
            ),
            _dropped("utterance", unreadable.path, "unreadable", unreadable.reason),
        ],
        ignore_index=True,
    )
    return Manifests(
        identities=keep.sort_values("identity").reset_index(drop=True),
        voices=voice_rows.sort_values("path").reset_index(drop=True),
        faces=face_rows.sort_values("path").reset_index(drop=True),
        dropped=dropped,
        malformed=meta.malformed,
    )


def write_manifests(manifests: Manifests, folder: Path) -> None:
    """Write the five tables as CSV (deterministic order), replacing ``folder`` whole."""
    with atomic_dir(folder, owns=tuple(f"{t}.csv" for t in TABLES)) as tmp:
        for field in fields(manifests):
            getattr(manifests, field.name).to_csv(tmp / f"{field.name}.csv", index=False)


def _check_tables_agree(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Raise ``MixedOutputError`` unless voices and faces match identities.csv row for row.

    Every voice and face row must belong to a listed identity with the same name and split, and
    each identity's ``n_utterances`` / ``n_images`` must count its rows.
    """

    def mixed(detail: str) -> MixedOutputError:
        return MixedOutputError(
            f"{folder}: {detail}; the folder mixes files of different runs or is damaged, "
            "re-run `dvc repro intersect`"
        )

    identities = tables["identities"]
    if not identities.identity.is_unique:
        raise mixed("identities.csv lists an identity twice")
    info = identities.set_index("identity")
    for table, count in (("voices", "n_utterances"), ("faces", "n_images")):
        rows = tables[table]
        unknown = sorted(set(rows.identity) - set(info.index))
        if unknown:
            raise mixed(f"{table}.csv has identities not in identities.csv (e.g. {unknown[0]})")
        listed = info.loc[rows.identity]
        differ = (listed.name.to_numpy() != rows.name.to_numpy()) | (
            listed.split.to_numpy() != rows.split.to_numpy()
        )
        if differ.any():
            row = rows.iloc[int(differ.argmax())]
            raise mixed(f"{table}.csv row {row.path!r}: name or split differs from identities.csv")
        counted = rows.identity.value_counts().reindex(info.index, fill_value=0)
        wrong = counted.index[counted.to_numpy() != info[count].to_numpy()]
        if len(wrong):
            raise mixed(
                f"identities.csv {count} of {wrong[0]} is {info[count][wrong[0]]} but "
                f"{table}.csv has {counted[wrong[0]]} rows"
            )


def read_manifests(folder: Path) -> Manifests:
    """Load the tables written by ``write_manifests``, checking that they agree."""
    folder = Path(folder)
    missing = [t for t in TABLES if not (folder / f"{t}.csv").is_file()]
    if missing:
        raise DatasetError(
            f"{folder}: manifest tables {missing} missing; run `dvc repro intersect`"
        )
    read = {
        t: pd.read_csv(
            folder / f"{t}.csv", dtype={"utterance": str, "key": str}, keep_default_na=False
        )
        for t in TABLES
    }
    _check_tables_agree(folder, read)
    return Manifests(**read)
