"""The release's face side: per-image 3DMM parameter files -> faces rows and a ``fit3dmm`` store.

``<face folder>/<VGGFace1 ID>/<stem>.npy``, with ``<stem>.jpg`` beside it where the release has
the photo (their A-E ground truth holds per face the photo ``.jpg``, mesh ``.obj``, point cloud
``.xyz``, overlay ``_b.jpg`` and parameters ``.npy``: README "Evaluation" 1). The face folders
are ROOT's subfolders other than the voice folder, or those the user names. A face's ``path`` is
its photo when there is one (so that a landmarks run finds it), else its parameter file;
``params`` is always the parameter file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from voice2mesh.fitting.reference import RULES, build_references
from voice2mesh.fitting.store import StoredFits, write_fits
from voice2mesh.release.errors import ReleaseError, ReleaseFileError
from voice2mesh.release.params3dmm import N_EXPRESSION, N_SHAPE, read_params, release_fits

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
FACE_COLUMNS = ["name", "path", "bytes", "params", "height", "width"]


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def find_face_roots(root: Path, voice_root: Path, faces: tuple[str, ...] = ()) -> list[Path]:
    """The folders named in ``faces`` (relative to ``root``), or every subfolder of ``root``
    except the voice folder."""
    if not faces:
        return [root / name for name in _subdirs(root) if root / name != voice_root]
    missing = [name for name in faces if not (root / name).is_dir()]
    if missing:
        raise ReleaseError(
            f"{root}: no face folder(s) {missing}; --faces names folders of 3DMM parameter files "
            f"under ROOT (it holds {_subdirs(root)})"
        )
    return [root / name for name in faces]


def _photo(params: Path) -> tuple[Path | None, int, int]:
    """The photo beside a parameter file and its (height, width); (None, -1, -1) without one."""
    for suffix in IMAGE_SUFFIXES:
        photo = params.with_suffix(suffix)
        if photo.is_file():
            try:
                with Image.open(photo) as image:  # reads the header only
                    return photo, image.height, image.width
            except OSError:
                return photo, -1, -1
    return None, -1, -1


def list_faces(face_roots: list[Path]) -> tuple[pd.DataFrame, list[dict]]:
    """Check every parameter file of the face folders (``read_params`` with all of 3DDFA's
    40 + 10 components, so that which faces are usable does not depend on how many are kept).

    Returns:
        ``(faces, rejects)``: faces rows (``FACE_COLUMNS``) and a reject row (kind, path,
        reason_code, reason) for every file that could not be used.
    """
    rows, rejects = [], []
    for face_root in face_roots:
        for name in _subdirs(face_root):
            for params in sorted((face_root / name).glob("*.npy")):
                try:
                    read_params(params)
                except ReleaseFileError as error:
                    rejects.append(
                        {"kind": "face", "path": str(params)}
                        | {"reason_code": error.code, "reason": str(error)}
                    )
                    continue
                photo, height, width = _photo(params)
                path = photo or params
                rows.append(
                    {"name": name, "path": str(path), "bytes": path.stat().st_size}
                    | {"params": str(params), "height": height, "width": width}
                )
    return pd.DataFrame(rows, columns=FACE_COLUMNS), rejects


def write_release_fits(
    folder: Path,
    faces: pd.DataFrame,
    identities: pd.DataFrame,
    *,
    n_shape: int = N_SHAPE,
    n_expression: int = N_EXPRESSION,
    rule: str = "mean",
) -> StoredFits:
    """Write the manifest's faces as a ``fit3dmm`` folder (``fitting.store.read_fits`` reads it),
    in shards of ``fitting.store.SHARD_SIZE`` fits (``fitting.store.write_fits``).

    Each face's parameter file is read (``read_params``) and every fit is usable. References
    follow ``rule`` as ``fit3dmm`` does, except that the release has no pose: ``best_frontal``'s
    yaw, pitch and residual terms are taken as 0, so it picks the identity's most neutral face.
    An identity with one fit (the A-E ground truth) has that fit as its reference, and
    ``chosen`` names it.

    Args:
        folder: the output folder.
        faces: the manifest's faces rows (identity, name, split, path, params, height, width).
        identities: the manifest's identities table.
        n_shape: leading shape components kept (<= 40).
        n_expression: leading expression components kept (<= 10).
        rule: a key of ``fitting.reference.RULES``.
    """
    if rule not in RULES:
        raise ReleaseError(f"reference rule {rule!r} unknown; use one of {sorted(RULES)}")
    index = faces.reset_index(drop=True)
    coefficients = [read_params(p, n_shape, n_expression) for p in index.params]
    shape = np.array([c[0] for c in coefficients]).reshape(len(index), n_shape)  # (M, Ks)
    expression = np.array([c[1] for c in coefficients]).reshape(len(index), n_expression)
    result = release_fits(shape, expression)
    zeros = np.zeros(len(index))
    scored = dataclasses.replace(result, yaw=zeros, pitch=zeros, residual_norm=zeros)
    usable = np.ones(len(index), bool)
    refs = build_references(index.identity.to_numpy(str), scored, rule, usable=usable)
    rows = pd.Series(np.arange(len(index))).groupby(index.identity.to_numpy(str)).first()
    single = refs.n_fits == 1
    chosen = np.where(single, rows.loc[refs.ids].to_numpy(), refs.chosen)
    refs = refs._replace(chosen=chosen.astype(np.int64))
    return write_fits(folder, index, result, [None] * len(index), refs, identities)
