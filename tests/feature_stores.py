"""A tiny feature store in the ``features`` stage's layout, for the tests that train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.audio.features import INDEX_COLUMNS, FeatureStore
from voice2mesh.audio.shards import write_shard


def write_store(folder: Path, utterances: list[tuple[str, np.ndarray]]) -> FeatureStore:
    """One shard holding ``(identity, (T, 64) float32 frames)`` utterances, and its index."""
    folder.mkdir(parents=True)
    paths = [f"{identity}/{k}.wav" for k, (identity, _) in enumerate(utterances)]
    frames = [f for _, f in utterances]
    write_shard(folder, 0, paths, frames)
    starts = np.concatenate([[0], np.cumsum([len(f) for f in frames])[:-1]])
    rows = [
        {
            "identity": identity,
            "path": path,
            "shard": 0,
            "start": int(start),
            "n_frames": len(f),
            "duration_s": len(f) / 100,
            "speech_s": len(f) / 100,
            "resampled": False,
            "mixed_down": False,
        }
        for (identity, f), path, start in zip(utterances, paths, starts, strict=True)
    ]
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(folder / "index.csv", index=False)
    return FeatureStore(folder)


def speaker_store(
    folder: Path, n_speakers: int = 4, per_speaker: int = 3, frames: int = 90
) -> tuple[FeatureStore, pd.DataFrame, list[tuple[str, np.ndarray]]]:
    """A store of learnable speakers (each a fixed ±1 pattern over the 64 bins, plus noise) and
    its all-train voices table: ``(store, voices, utterances)``."""
    rng = np.random.default_rng(0)
    utterances = [
        (
            f"id{s}",
            (rng.choice([-1.0, 1.0], 64) + rng.normal(size=(frames, 64))).astype(np.float32),
        )
        for s in range(n_speakers)
        for _ in range(per_speaker)
    ]
    voices = pd.DataFrame({"identity": [i for i, _ in utterances], "split": "train"})
    return write_store(folder, utterances), voices, utterances
