"""Import the authors' Voxceleb-3D release as this project's manifest, features and fits.

Output folder, written whole (``voice2mesh.io.atomic_dir``)::

    manifest/    as ``intersect`` writes it (``data.manifest``; ``read_manifests`` loads it)
    features/    as ``features`` writes it (``audio.features.FeatureStore``), one utterance per
                 fbank file, its 1000-frame repetition undone (``release.fbank``)
    fits/        as ``fit3dmm`` writes it (``fitting.store.read_fits``), when the release has
                 3DMM parameter files (``release.params3dmm``); absent for a voices-only release
    rejects.csv  every file or folder left out: kind, path, reason_code, reason
    import.json  counts (``import_release``'s return value)

Identities and splits follow ``intersect``: identities with both voices and faces (or, for a
voices-only release, with voices), split by name initial (A-E test) with a validation share of
the others held out per gender by id hash (``data.manifest.val_split``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from voice2mesh.data.manifest import (
    Manifests,
    build_manifests,
    split_of,
    val_split,
    write_manifests,
)
from voice2mesh.data.voxceleb import DatasetError, Meta, read_meta
from voice2mesh.fitting.reference import RULES
from voice2mesh.io import atomic_dir, write_json
from voice2mesh.release.errors import ReleaseError
from voice2mesh.release.faces import find_face_roots, list_faces, write_release_fits
from voice2mesh.release.params3dmm import check_counts
from voice2mesh.release.voices import (
    find_voice_root,
    list_voice_files,
    resolve_speakers,
    voices_table,
    write_voice_features,
)

OUTPUTS: tuple[str, ...] = ("manifest", "features", "fits", "rejects.csv", "import.json")
REJECT_COLUMNS = ["kind", "path", "reason_code", "reason"]


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


def _read_meta(path: Path) -> Meta:
    try:
        return read_meta(path)
    except DatasetError as error:
        raise ReleaseError(
            f"{error}; the release ships it as data/vox1_meta.csv: put it in ROOT or pass --meta"
        ) from error


def _voices_only(meta: Meta, voices: pd.DataFrame, options: ImportOptions) -> Manifests:
    """``build_manifests`` for a release without faces: every identity with voices."""
    table = meta.table
    keep = table[table.identity.isin(set(voices.identity))].copy()
    keep["split"] = [split_of(n, options.test_initials) for n in keep.name]
    keep.loc[val_split(keep, options.val_fraction), "split"] = "val"
    rows = keep[["identity", "name", "split"]].merge(voices, on="identity", how="inner")
    keep["n_utterances"] = keep.identity.map(rows.identity.value_counts())
    keep["n_images"] = 0
    silent = table.identity[~table.identity.isin(set(voices.identity))]
    dropped = pd.DataFrame(
        {"kind": "identity", "key": silent.astype(str), "reason_code": "no_utterances"}
        | {"reason": "no usable fbank files under the voice folder"}
    )
    return Manifests(
        identities=keep.sort_values("identity").reset_index(drop=True),
        voices=rows.sort_values("path").reset_index(drop=True),
        faces=pd.DataFrame(columns=["identity", "name", "split", "path", "bytes"]),
        dropped=dropped.reset_index(drop=True),
        malformed=meta.malformed,
    )


def _manifests(
    meta: Meta,
    voices: pd.DataFrame,
    faces: pd.DataFrame | None,
    rejects: pd.DataFrame,
    options: ImportOptions,
    meta_path: str,
    faceless: set[str],
) -> Manifests:
    """The manifest tables, with the import's rejects added to ``dropped``.

    ``faceless``: identities whose fbank files were not read for want of a face.
    """
    if faces is None:
        built = _voices_only(meta, voices, options)
    else:
        built = build_manifests(
            meta,
            voices,
            pd.DataFrame(columns=["path", "reason"]),
            faces,
            test_initials=options.test_initials,
            val_fraction=options.val_fraction,
            meta_path=meta_path,
        )
    dropped = built.dropped
    unread = dropped.key.isin(faceless) & (dropped.reason_code == "no_utterances")
    dropped = dropped.assign(
        reason_code=dropped.reason_code.mask(unread, "no_face_folder"),
        reason=dropped.reason.mask(unread, "no face folder with 3DMM parameters for this name"),
    )  # their fbank files were not read, so build_manifests saw no utterances
    extra = rejects.rename(columns={"path": "key"})[["kind", "key", "reason_code", "reason"]]
    return dataclasses.replace(built, dropped=pd.concat([dropped, extra], ignore_index=True))


def import_release(
    root: Path | str,
    out: Path | str,
    options: ImportOptions | None = None,
    progress: Callable[[Iterable[dict]], Iterable[dict]] = iter,
) -> dict:
    """Read the release under ``root`` and write ``out`` (module docstring); return the counts.

    Args:
        root: the unpacked release (``vox1_meta.csv``, a voice folder, face folders).
        out: the output folder (replaced whole; refused if it holds other files).
        options: how to read it (``ImportOptions``).
        progress: wraps the per-utterance iterator (e.g. ``tqdm``).

    Raises:
        ReleaseError: no release at ``root``, unknown speaker folders, no usable utterance or
            face, or no identity with both; the message names the path and the fix.
    """
    options = options or ImportOptions()
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such folder; give the unpacked release's folder")
    check_counts(options.n_shape, options.n_expression)
    if options.reference not in RULES:
        raise ReleaseError(
            f"reference rule {options.reference!r} unknown; use one of {sorted(RULES)}"
        )
    meta_path = Path(options.meta_file) if options.meta_file else root / "vox1_meta.csv"
    meta = _read_meta(meta_path)
    voice_root = find_voice_root(root, options.voices)
    speakers = sorted(e.name for e in os.scandir(voice_root) if e.is_dir())
    resolved, rejects = resolve_speakers(
        speakers, meta, options.aliases, options.unknown_ids, str(meta_path)
    )
    files = list_voice_files(voice_root, resolved)
    face_roots = find_face_roots(root, voice_root, options.faces)
    faces, shape, expression, face_rejects = list_faces(
        face_roots, options.n_shape, options.n_expression
    )
    rejects += face_rejects
    if faces.empty and face_rejects:
        raise ReleaseError(
            f"none of the {len(face_rejects)} 3DMM parameter files is usable, e.g. "
            f"{face_rejects[0]['reason']}"
        )
    with_faces = None if faces.empty else faces
    faceless: set[str] = set()
    if with_faces is not None:  # read only the voices of people with a face
        names = dict(zip(meta.table.identity, meta.table.name, strict=True))
        has_face = files.identity.map(names).isin(set(faces.name))
        faceless = set(files.identity[~has_face])
        files = files[has_face].reset_index(drop=True)
    if files.empty:
        raise ReleaseError(
            f"{voice_root}: no fbank .npy files of identities in {meta_path}"
            + (" that also have a face folder" if with_faces is not None else "")
            + "; check the folder layout <voices>/<speaker>/<video>/<utterance>.npy"
        )
    coefficients = dict(zip(faces.path, zip(shape, expression, strict=True), strict=True))
    with atomic_dir(out, owns=OUTPUTS) as tmp:
        index, voice_rejects, untiled = write_voice_features(
            files,
            tmp / "features",
            shard_size=options.shard_size,
            workers=options.workers,
            progress=progress,
        )
        rejects += [{"kind": "utterance"} | r for r in voice_rejects.to_dict("records")]
        table = pd.DataFrame(rejects, columns=["identity", *REJECT_COLUMNS])[REJECT_COLUMNS]
        if index.empty:
            codes = voice_rejects.reason_code.value_counts().to_dict()
            raise ReleaseError(f"none of the {len(files)} fbank files is usable ({codes})")
        try:
            voices = voices_table(files, index)
            manifests = _manifests(
                meta, voices, with_faces, table, options, str(meta_path), faceless
            )
        except DatasetError as error:
            raise ReleaseError(str(error)) from error
        write_manifests(manifests, tmp / "manifest")
        if with_faces is not None:
            write_release_fits(
                tmp / "fits", manifests.faces, coefficients, manifests.identities, options.reference
            )
        table.to_csv(tmp / "rejects.csv", index=False)
        summary = manifests.counts() | {
            "fbank_files": len(files),
            "repeated_utterances_untiled": untiled,
            "frames": int(index.n_frames.sum()),
            "faces": len(manifests.faces),
            "fits": with_faces is not None,
            "rejects": table.reason_code.value_counts().sort_index().to_dict(),
            "n_shape": options.n_shape,
            "n_expression": options.n_expression,
            "reference_rule": options.reference,
        }
        write_json(tmp / "import.json", summary)
    return summary
