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

The three parts are callable on their own, as the stages call them with ``intersect.source:
release`` (``release.source``): ``import_manifest`` (``intersect``), ``import_voices``
(``features``) and ``import_fits`` (``fit3dmm``). ``import_release`` writes what the three write,
reading each fbank file once (the stages read them twice: ``intersect`` to learn which are usable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from voice2mesh.data.manifest import (
    Manifests,
    build_manifests,
    split_of,
    val_split,
    write_manifests,
)
from voice2mesh.data.voxceleb import DatasetError
from voice2mesh.fitting.reference import RULES
from voice2mesh.fitting.store import StoredFits
from voice2mesh.io import atomic_dir, write_json
from voice2mesh.release.errors import ReleaseError
from voice2mesh.release.faces import write_release_fits
from voice2mesh.release.params3dmm import check_counts
from voice2mesh.release.scan import ImportOptions, ReleaseScan, scan_release
from voice2mesh.release.voices import (
    VoiceRead,
    check_voice_files,
    voices_table,
    write_voice_features,
)

Progress = Callable[[Iterable[dict]], Iterable[dict]]
OUTPUTS: tuple[str, ...] = ("manifest", "features", "fits", "rejects.csv", "import.json")
REJECT_COLUMNS = ["kind", "path", "reason_code", "reason"]


def _voices_only(scan: ReleaseScan, voices: pd.DataFrame, options: ImportOptions) -> Manifests:
    """``build_manifests`` for a release without faces: every identity with voices."""
    table = scan.meta.table
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
        malformed=scan.meta.malformed,
    )


def rejects_table(scan: ReleaseScan, read: VoiceRead) -> pd.DataFrame:
    """Every file or folder left out (``REJECT_COLUMNS``): the scan's, then the fbank files'."""
    voice = [{"kind": "utterance"} | r for r in read.rejects.to_dict("records")]
    rows = [*scan.rejects, *voice]
    return pd.DataFrame(rows, columns=["identity", *REJECT_COLUMNS])[REJECT_COLUMNS]


def release_manifests(scan: ReleaseScan, read: VoiceRead, options: ImportOptions) -> Manifests:
    """The manifest tables of the usable utterances in ``read``, with every reject of the scan
    and of the fbank files added to ``dropped``.

    Raises:
        ReleaseError: no usable fbank file, or no identity with both voices and faces.
    """
    if read.index.empty:
        codes = read.rejects.reason_code.value_counts().to_dict()
        raise ReleaseError(f"none of the {len(scan.files)} fbank files is usable ({codes})")
    voices = voices_table(scan.files, read.index)
    try:
        if scan.faces is None:
            built = _voices_only(scan, voices, options)
        else:
            built = build_manifests(
                scan.meta,
                voices,
                pd.DataFrame(columns=["path", "reason"]),
                scan.faces,
                test_initials=options.test_initials,
                val_fraction=options.val_fraction,
                meta_path=str(scan.meta_path),
            )
    except DatasetError as error:
        raise ReleaseError(str(error)) from error
    dropped = built.dropped
    unread = dropped.key.isin(scan.faceless) & (dropped.reason_code == "no_utterances")
    dropped = dropped.assign(
        reason_code=dropped.reason_code.mask(unread, "no_face_folder"),
        reason=dropped.reason.mask(unread, "no face folder with 3DMM parameters for this name"),
    )  # their fbank files were not read, so build_manifests saw no utterances
    extra = rejects_table(scan, read).rename(columns={"path": "key"})
    return dataclasses.replace(built, dropped=pd.concat([dropped, extra], ignore_index=True))


def import_manifest(
    root: Path | str, out: Path | str, options: ImportOptions, progress: Progress = iter
) -> tuple[Manifests, VoiceRead]:
    """The manifest part (stage ``intersect``): read every fbank file to learn which are usable,
    write the manifest tables to ``out``; return them and what the files gave."""
    scan = scan_release(root, options)
    read = check_voice_files(
        scan.files, shard_size=options.shard_size, workers=options.workers, progress=progress
    )
    manifests = release_manifests(scan, read, options)
    write_manifests(manifests, Path(out))
    return manifests, read


def import_voices(
    root: Path | str, out: Path | str, options: ImportOptions, progress: Progress = iter
) -> VoiceRead:
    """The voices part (stage ``features``): store the fbank files that the manifest part reads
    as a ``features`` folder at ``out`` (``voices.write_voice_features``)."""
    scan = scan_release(root, options)
    return write_voice_features(
        scan.files,
        Path(out),
        shard_size=options.shard_size,
        workers=options.workers,
        progress=progress,
    )


def import_fits(manifests: Manifests, out: Path | str, options: ImportOptions) -> StoredFits:
    """The faces part (stage ``fit3dmm``): the manifest's faces, read from their parameter files,
    as a ``fit3dmm`` folder at ``out`` (``faces.write_release_fits``).

    Raises:
        ReleaseError: the manifest has no faces (a voices-only release).
    """
    if manifests.faces.empty:
        raise ReleaseError(
            "the manifest lists no faces: the release has no usable 3DMM parameter files "
            "(a voices-only release gives no fits)"
        )
    return write_release_fits(
        Path(out),
        manifests.faces,
        manifests.identities,
        n_shape=options.n_shape,
        n_expression=options.n_expression,
        rule=options.reference,
    )


def import_release(
    root: Path | str,
    out: Path | str,
    options: ImportOptions | None = None,
    progress: Progress = iter,
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
    check_counts(options.n_shape, options.n_expression)
    if options.reference not in RULES:
        raise ReleaseError(
            f"reference rule {options.reference!r} unknown; use one of {sorted(RULES)}"
        )
    scan = scan_release(root, options)
    with atomic_dir(Path(out), owns=OUTPUTS) as tmp:
        read = write_voice_features(
            scan.files,
            tmp / "features",
            shard_size=options.shard_size,
            workers=options.workers,
            progress=progress,
        )
        manifests = release_manifests(scan, read, options)
        write_manifests(manifests, tmp / "manifest")
        if scan.faces is not None:
            import_fits(manifests, tmp / "fits", options)
        table = rejects_table(scan, read)
        table.to_csv(tmp / "rejects.csv", index=False)
        summary = manifests.counts() | {
            "fbank_files": len(scan.files),
            "repeated_utterances_untiled": read.untiled,
            "frames": int(read.index.n_frames.sum()),
            "faces": len(manifests.faces),
            "fits": scan.faces is not None,
            "rejects": table.reason_code.value_counts().sort_index().to_dict(),
            "n_shape": options.n_shape,
            "n_expression": options.n_expression,
            "reference_rule": options.reference,
        }
        write_json(tmp / "import.json", summary)
    return summary
