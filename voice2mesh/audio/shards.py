"""The ``features`` stage's shard files: write one, and read one back checked against the index.

``shard_NNNNN.npz`` (an uncompressed zip with fixed member timestamps, so equal inputs give
equal bytes) holds ``features`` (N, 64) float32, the utterances concatenated along time;
``offsets`` (n + 1,) int64, utterance j being ``features[offsets[j]:offsets[j + 1]]``; and
``paths`` (n,) the utterances' index paths. The paths let a reader refuse a shard that belongs
to another run than the index beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.io import MixedOutputError, check_same_rows, write_npz

FIX = "re-run `dvc repro features`"


class FeatureError(Exception):
    """A manifest or feature folder that cannot be used (the message says what to do)."""


def shard_name(k: int) -> str:
    return f"shard_{k:05d}.npz"


def write_shard(folder: Path, k: int, paths: list[str], features: list[np.ndarray]) -> None:
    """Write shard ``k`` of ``folder``: the (T_j, 64) ``features`` of the utterances ``paths``."""
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    arrays = {"features": np.concatenate(features), "offsets": offsets, "paths": np.array(paths)}
    write_npz(folder / shard_name(k), arrays)


def read_shard(folder: Path, k: int, rows: pd.DataFrame, features: bool = True) -> np.ndarray:
    """Shard ``k``'s features (N, 64), after checking it holds the index ``rows`` (in order).

    Args:
        folder: the features folder.
        k: shard number.
        rows: the index rows whose ``shard`` is ``k`` (``path``, ``start``, ``n_frames``).
        features: ``False`` checks the small members only and returns an empty array.

    Raises:
        FeatureError: the shard file is missing.
        MixedOutputError: its paths or frame offsets disagree with ``rows``, or its offsets
            with its frames.
    """
    path = folder / shard_name(k)
    if not path.is_file():
        raise FeatureError(f"{path} is missing; {FIX}")
    with np.load(path) as data:
        if "paths" not in data.files:
            raise MixedOutputError(f"{path} has no utterance paths (an older layout); {FIX}")
        check_same_rows(path, "shard paths and index.csv", data["paths"], rows.path, "features")
        offsets = data["offsets"]
        starts = np.concatenate([[0], np.cumsum(rows.n_frames)])
        check_same_rows(path, "shard offsets and index.csv frames", offsets, starts, "features")
        frames = data["features"] if features else np.zeros((0, 64), np.float32)
    if features and offsets[-1] != len(frames):
        raise MixedOutputError(
            f"{path}: offsets end at {offsets[-1]} but {len(frames)} frames are stored; the "
            f"shard is damaged, {FIX}"
        )
    return frames
