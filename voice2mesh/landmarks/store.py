"""The ``landmarks`` stage's output folder, written whole (``voice2mesh.io.atomic_dir``).

landmarks.npz   paths (M,) image paths, points (M, 68, 2) in (x, row) pixels, sizes (M, 2)
                (height, width); rows as index.csv, whose paths they repeat so that a folder
                mixing two runs is refused
index.csv       the manifest faces rows that worked + height, width
rejects.csv     path, reason for every image left out
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.io import MixedOutputError, atomic_dir, check_same_rows
from voice2mesh.landmarks.base import LandmarkResult

FILES = ("landmarks.npz", "index.csv", "rejects.csv")


def write_landmarks(result: LandmarkResult, faces: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Write the landmarks of ``faces`` rows (manifest) that worked; return the index table."""
    row_of = {p: i for i, p in enumerate(result.paths)}
    index = faces[faces.path.isin(row_of)].copy()
    order = np.array([row_of[p] for p in index.path], dtype=np.int64)
    index["height"], index["width"] = result.sizes[order, 0], result.sizes[order, 1]
    index = index.reset_index(drop=True)
    with atomic_dir(folder, owns=FILES) as tmp:
        np.savez_compressed(
            tmp / "landmarks.npz",
            paths=index.path.to_numpy(str),
            points=result.points[order],
            sizes=result.sizes[order],
        )
        index.to_csv(tmp / "index.csv", index=False)
        pd.DataFrame(result.rejects, columns=["path", "reason"]).to_csv(
            tmp / "rejects.csv", index=False
        )
    return index


def read_landmarks(folder: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(index, points (M, 68, 2), sizes (M, 2))`` with rows aligned to ``index``.

    Raises:
        FileNotFoundError: a file of the folder is missing.
        MixedOutputError: the arrays' image paths or sizes disagree with ``index.csv``.
    """
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}; run `dvc repro landmarks`")
    with np.load(folder / "landmarks.npz") as data:
        if "paths" not in data.files:
            raise MixedOutputError(
                f"{folder / 'landmarks.npz'} has no image paths (an older layout); "
                "re-run `dvc repro landmarks`"
            )
        paths, points, sizes = data["paths"], data["points"], data["sizes"]
    index = pd.read_csv(folder / "index.csv", keep_default_na=False)
    check_same_rows(folder, "landmarks.npz paths and index.csv", paths, index.path, "landmarks")
    check_same_rows(
        folder,
        "landmarks.npz image sizes and index.csv",
        map(tuple, sizes.tolist()),
        zip(index.height.tolist(), index.width.tolist(), strict=True),
        "landmarks",
    )
    rejected = pd.read_csv(folder / "rejects.csv", keep_default_na=False).path
    both = sorted(set(rejected) & set(index.path))
    if both:
        raise MixedOutputError(
            f"{folder}: rejects.csv lists {both[0]}, which index.csv has landmarks for; the "
            "folder mixes files of different runs or is damaged, re-run `dvc repro landmarks`"
        )
    return index, points, sizes
