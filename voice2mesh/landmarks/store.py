"""The ``landmarks`` stage's output folder, written shard by shard inside ``io.atomic_dir``.

shard_NNNNN.npz  paths (n,) image paths, points (n, 68, 2) in (x, row) pixels, sizes (n, 2)
                 (height, width) of the faces of manifest rows ``k·shard_size`` to
                 ``(k+1)·shard_size − 1`` that worked (``io.write_npz``: deflated, fixed
                 timestamps); the paths repeat index.csv's, so that a folder mixing two runs
                 is refused. A chunk whose faces were all rejected (or an empty manifest)
                 gives an empty shard.
index.csv        the manifest faces rows that worked (manifest order) + height, width, shard
rejects.csv      path, reason for every image left out

The faces are detected a chunk of ``shard_size`` at a time and each chunk's landmarks leave
memory once written, so memory does not grow with the number of photos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.io import (
    MixedOutputError,
    atomic_dir,
    check_same_rows,
    shard_files,
    shard_name,
    write_npz,
)
from voice2mesh.landmarks.base import LandmarkBackend, LandmarkResult, detect_landmarks

SHARD_SIZE = 4096  # faces per shard (``landmarks.shard_size``)
FILES = ("shard_*.npz", "index.csv", "rejects.csv")
FIX = "re-run `dvc repro landmarks`"


def detect_to_folder(
    backend: LandmarkBackend,
    faces: pd.DataFrame,
    folder: Path,
    *,
    shard_size: int = SHARD_SIZE,
    max_reject_fraction: float = 1.0,
    progress: Callable[[Iterator], Iterator] = iter,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Detect the landmarks of the manifest ``faces`` a shard at a time and write the folder.

    Args:
        backend: the landmark backend.
        faces: manifest faces rows (``path`` and the columns to keep in index.csv).
        folder: the output folder (module docstring), replaced whole on success.
        shard_size: faces per detection chunk and shard.
        max_reject_fraction: fail (writing nothing) when more of ``faces`` are rejected.
        progress: wraps each chunk's iterator of detector batches (one bar for the whole job).

    Returns:
        ``(index, rejects)`` as written to index.csv and rejects.csv.
    """
    chunks = (
        (chunk, detect_landmarks(backend, [Path(p) for p in chunk.path], progress))
        for chunk in _chunks(faces, shard_size)
    )
    return _write(chunks, len(faces), Path(folder), max_reject_fraction)


def write_landmarks(
    result: LandmarkResult, faces: pd.DataFrame, folder: Path, shard_size: int = SHARD_SIZE
) -> pd.DataFrame:
    """Write the landmarks of ``faces`` rows (manifest) that worked; return the index table."""
    row_of = {p: i for i, p in enumerate(result.paths)}

    def part(k: int, chunk: pd.DataFrame) -> LandmarkResult:
        rows = [row_of[p] for p in chunk.path if p in row_of]
        rejects = result.rejects if k == 0 else []  # rejects.csv lists them once
        return LandmarkResult(
            [result.paths[i] for i in rows], result.points[rows], result.sizes[rows], rejects
        )

    chunks = ((chunk, part(k, chunk)) for k, chunk in enumerate(_chunks(faces, shard_size)))
    return _write(chunks, len(faces), Path(folder), 1.0)[0]


def _chunks(faces: pd.DataFrame, shard_size: int) -> Iterator[pd.DataFrame]:
    if shard_size < 1:
        raise ValueError(f"landmarks.shard_size must be >= 1, got {shard_size}")
    for start in range(0, max(len(faces), 1), shard_size):
        yield faces.iloc[start : start + shard_size]


def _write(
    chunks: Iterable[tuple[pd.DataFrame, LandmarkResult]],
    n_faces: int,
    folder: Path,
    max_reject_fraction: float,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Write each chunk's shard, then the tables; too many rejects leave the folder as it was."""
    tables, rejects = [], []
    with atomic_dir(folder, owns=FILES) as tmp:
        for k, (chunk, result) in enumerate(chunks):
            row_of = {p: i for i, p in enumerate(result.paths)}
            rows = chunk[chunk.path.isin(row_of)].copy()
            order = np.array([row_of[p] for p in rows.path], dtype=np.int64)
            rows["height"], rows["width"] = result.sizes[order, 0], result.sizes[order, 1]
            rows["shard"] = k
            arrays = {"paths": rows.path.to_numpy(str), "points": result.points[order]}
            write_npz(tmp / shard_name(k), arrays | {"sizes": result.sizes[order]}, compress=True)
            tables.append(rows)
            rejects += result.rejects
        rejected = len(rejects) / max(n_faces, 1)
        if rejected > max_reject_fraction:
            raise RuntimeError(
                f"{len(rejects)} of {n_faces} images rejected ({rejected:.0%} > "
                f"landmarks.max_reject_fraction); first: {rejects[0]}"
            )
        index = pd.concat(tables, ignore_index=True)
        index.to_csv(tmp / "index.csv", index=False)
        pd.DataFrame(rejects, columns=["path", "reason"]).to_csv(tmp / "rejects.csv", index=False)
    return index, rejects


def read_landmarks(folder: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(index, points (M, 68, 2), sizes (M, 2))`` with rows aligned to ``index``.

    Raises:
        FileNotFoundError: a file of the folder is missing.
        MixedOutputError: a shard's image paths or sizes disagree with ``index.csv``.
    """
    index, shards = _open(Path(folder))
    parts = [(points, sizes) for _, points, sizes in _shards(index, shards)]
    points = np.concatenate([p for p, _ in parts]).reshape(-1, 68, 2)
    return index, points, np.concatenate([s for _, s in parts]).reshape(-1, 2)


def iter_landmarks(folder: Path) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    """Per shard, in index order: ``(rows of index.csv, points (n, 68, 2), sizes (n, 2))``.

    The tables are checked now, each shard when it is reached; raises as ``read_landmarks``.
    """
    return _shards(*_open(Path(folder)))


def _open(folder: Path) -> tuple[pd.DataFrame, list[Path]]:
    """The checked index table and the shard files, in order."""
    missing = [name for name in ("index.csv", "rejects.csv") if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}; run `dvc repro landmarks`")
    index = pd.read_csv(folder / "index.csv", keep_default_na=False)
    if "shard" not in index.columns:
        raise MixedOutputError(
            f"{folder / 'index.csv'} has no shard column (an older layout); {FIX}"
        )
    shards = shard_files(folder, index.shard, "landmarks")
    rejected = pd.read_csv(folder / "rejects.csv", keep_default_na=False).path
    both = sorted(set(rejected) & set(index.path))
    if both:
        raise MixedOutputError(
            f"{folder}: rejects.csv lists {both[0]}, which index.csv has landmarks for; the "
            f"folder mixes files of different runs or is damaged, {FIX}"
        )
    return index, shards


def _shards(
    index: pd.DataFrame, shards: list[Path]
) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    for k, path in enumerate(shards):
        rows = index[index.shard.to_numpy() == k]
        with np.load(path) as data:
            if "paths" not in data.files:
                raise MixedOutputError(f"{path} has no image paths (an older layout); {FIX}")
            paths, points, sizes = data["paths"], data["points"], data["sizes"]
        check_same_rows(path, "shard paths and index.csv", paths, rows.path, "landmarks")
        check_same_rows(
            path,
            "shard image sizes and index.csv",
            map(tuple, sizes.tolist()),
            zip(rows.height.tolist(), rows.width.tolist(), strict=True),
            "landmarks",
        )
        yield rows, points, sizes
