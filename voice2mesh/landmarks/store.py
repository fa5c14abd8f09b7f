"""The ``landmarks`` stage's output folder: ``landmarks.npz``, ``index.csv``, ``rejects.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.io import atomic_path
from voice2mesh.landmarks.base import LandmarkResult


def write_landmarks(result: LandmarkResult, faces: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Write the landmarks of ``faces`` rows (manifest) that worked; return the index table."""
    folder = Path(folder)
    row_of = {p: i for i, p in enumerate(result.paths)}
    index = faces[faces.path.isin(row_of)].copy()
    order = np.array([row_of[p] for p in index.path], dtype=np.int64)
    index["height"], index["width"] = result.sizes[order, 0], result.sizes[order, 1]
    index = index.reset_index(drop=True)
    with atomic_path(folder / "landmarks.npz") as tmp:
        np.savez_compressed(tmp, points=result.points[order], sizes=result.sizes[order])
    with atomic_path(folder / "index.csv") as tmp:
        index.to_csv(tmp, index=False)
    rejects = pd.DataFrame(result.rejects, columns=["path", "reason"])
    with atomic_path(folder / "rejects.csv") as tmp:
        rejects.to_csv(tmp, index=False)
    return index


def read_landmarks(folder: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(index, points (M, 68, 2), sizes (M, 2))`` with rows aligned to ``index``."""
    folder = Path(folder)
    if not (folder / "landmarks.npz").is_file():
        raise FileNotFoundError(f"{folder}: no landmarks.npz; run `dvc repro landmarks`")
    with np.load(folder / "landmarks.npz") as data:
        points, sizes = data["points"], data["sizes"]
    return pd.read_csv(folder / "index.csv", keep_default_na=False), points, sizes
