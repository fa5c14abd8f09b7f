"""The ``features`` stage's library: normalised log-mel of every utterance, in sharded ``.npz``.

Per utterance (Wen et al., docs/audio.md "Pipeline per utterance"): ``read_wav`` (16 kHz mono
int16) -> ``vad`` -> reject if under ``min_speech_s`` of speech -> ``log_mel`` -> ``normalize``,
in groups whose log-mel is one ``log_mel_batch`` call (``voice2mesh.audio.utterances``).
The 1000-frame repetition and the training crops are left to the data loader.

Output folder::

    shard_00000.npz  features, offsets and paths of up to shard_size utterances in index order
                     (format in ``voice2mesh.audio.shards``)
    index.csv        identity, path, shard, start, n_frames, duration_s, speech_s, resampled,
                     mixed_down, truncated, clipped_fraction (one row per stored utterance,
                     manifest order; truncated: the file holds less than its header declares)
    rejects.csv      identity, path, reason_code, reason

Features are float32 (exact; float16 would halve the size at ~3 significant digits):
100 frames/s × 64 bins × 4 B = 25.6 kB per second of speech kept by the VAD. The default
synthetic world (1,790 utterances of 5.5 s, 4.8 s of speech on average) takes 218 MB; ~1,900
such utterances ≈ 0.23 GB; VoxCeleb1's ~150K utterances (~8 s) ≈ 30 GB. Shards are stored
uncompressed (log-mel barely compresses) with fixed zip timestamps, so the same inputs give the
same bytes whatever the number of workers. The folder is built aside and moved into place whole
(``voice2mesh.io.atomic_dir``); ``FeatureStore`` checks that index and shards agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.audio.io import read_wav
from voice2mesh.audio.logmel import log_mel, normalize
from voice2mesh.audio.shards import FIX, FeatureError, read_shard, shard_name, write_shard
from voice2mesh.audio.utterances import SAMPLE_RATE, kept_speech, results
from voice2mesh.io import MixedOutputError, atomic_dir

INDEX_COLUMNS = [
    "identity",
    "path",
    "shard",
    "start",
    "n_frames",
    "duration_s",
    "speech_s",
    "resampled",
    "mixed_down",
    "truncated",
    "clipped_fraction",
]
REJECT_COLUMNS = ["identity", "path", "reason_code", "reason"]


def speech_features(
    samples: np.ndarray, file: Path | str, min_speech_s: float
) -> tuple[np.ndarray, float]:
    """VAD, then the normalised log-mel of what it kept: ((T, 64) float32, seconds of speech).

    Args:
        samples: (L,) int16 at 16 kHz (``read_wav``).
        file: where they came from, for the message.
        min_speech_s: less speech after VAD raises ``AudioError`` (code ``too_little_speech``).
    """
    speech, speech_s = kept_speech(samples, file, min_speech_s)
    return normalize(log_mel(speech, SAMPLE_RATE)), speech_s


def utterance_features(file: Path | str, min_speech_s: float) -> tuple[np.ndarray, dict]:
    """Wen et al.'s front end on one file: (T, 64) float32 normalised log-mel and file info.

    ``info`` is ``read_wav``'s plus ``speech_s``. Raises ``AudioError`` (code
    ``too_little_speech``) when the VAD keeps less than ``min_speech_s`` seconds, and
    ``read_wav``'s errors for unreadable, empty, silent, over-long or mis-rated audio.
    """
    samples, info = read_wav(file, SAMPLE_RATE)
    features, speech_s = speech_features(samples, file, min_speech_s)
    return features, info | {"speech_s": speech_s}


def extract_features(
    manifest: pd.DataFrame,
    root: Path,
    out_dir: Path,
    *,
    shard_size: int = 256,
    workers: int = 2,
    min_speech_s: float = 0.5,
    max_reject_fraction: float = 1.0,
    progress: Callable[[Iterable[dict]], Iterable[dict]] = iter,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute and store the normalised log-mel of every utterance in ``manifest``.

    Args:
        manifest: one row per utterance with ``identity`` and ``path`` (relative to ``root``,
            or absolute); other columns are ignored. Rows are processed in this order.
        root: folder the paths are relative to.
        out_dir: output folder (layout in the module docstring), built aside and moved into
            place whole.
        shard_size: stored utterances per shard.
        workers: processes (fork); 1 runs in this process. Output does not depend on it.
        min_speech_s: utterances with less speech after VAD are rejected.
        max_reject_fraction: fail when more than this share of the manifest is rejected.
        progress: wraps the per-utterance result iterator (e.g. ``tqdm``).

    Returns:
        ``(index, rejects)`` as written to ``index.csv`` and ``rejects.csv``.

    Raises:
        FeatureError: missing manifest columns, an empty manifest, no usable utterance, or too
            many rejects (the folder then holds only ``rejects.csv``, to show why).
    """
    missing = [c for c in ("identity", "path") if c not in manifest.columns]
    if missing:
        raise FeatureError(f"manifest lacks column(s) {missing}; expected the voices table")
    if manifest.empty:
        raise FeatureError("the manifest lists no utterances; check the intersect stage output")
    if shard_size < 1:
        raise FeatureError(f"shard_size must be >= 1, got {shard_size}")
    out_dir = Path(out_dir)
    jobs = [
        (str(i), str(p), Path(root) / str(p))
        for i, p in zip(manifest["identity"], manifest["path"], strict=True)
    ]
    with atomic_dir(out_dir, owns=("shard_*.npz", "index.csv", "rejects.csv")) as tmp:
        rows, rejected = _write_shards(
            tmp, progress(results(jobs, min_speech_s, workers)), shard_size
        )
        rejects = pd.DataFrame(rejected, columns=REJECT_COLUMNS)
        rejects.to_csv(tmp / "rejects.csv", index=False)
        index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
        problem = _reject_problem(rejects, len(jobs), max_reject_fraction, out_dir)
        if problem is None:
            index.to_csv(tmp / "index.csv", index=False)
        else:  # keep only rejects.csv, to show why; without index.csv no reader accepts it
            for shard in tmp.glob("shard_*.npz"):
                shard.unlink()
    if problem is not None:
        raise FeatureError(problem)
    return index, rejects


def _write_shards(
    folder: Path, results: Iterable[dict], shard_size: int
) -> tuple[list[dict], list[dict]]:
    """Write the features of ``results`` in shards; return the index rows and the rejects."""
    rows: list[dict] = []
    rejected: list[dict] = []
    pending: list[np.ndarray] = []
    n_frames_in_shard = 0
    for result in results:
        if "features" not in result:
            rejected.append(result)
            continue
        features = result.pop("features")
        shard = len(rows) // shard_size
        rows.append(
            result | {"shard": shard, "start": n_frames_in_shard, "n_frames": len(features)}
        )
        pending.append(features)
        n_frames_in_shard += len(features)
        if len(pending) == shard_size:
            write_shard(folder, shard, [r["path"] for r in rows[-shard_size:]], pending)
            pending, n_frames_in_shard = [], 0
    if pending:
        shard = len(rows) // shard_size
        write_shard(folder, shard, [r["path"] for r in rows[-len(pending) :]], pending)
    return rows, rejected


def _reject_problem(
    rejects: pd.DataFrame, n_jobs: int, max_reject_fraction: float, out_dir: Path
) -> str | None:
    """Why the run failed (nothing usable, or too many rejects), or ``None``."""
    if len(rejects) == n_jobs:
        codes = rejects.reason_code.value_counts().to_dict()
        return (
            f"none of the {n_jobs} utterances gave features (rejects by reason: {codes}); "
            f"see {out_dir / 'rejects.csv'}"
        )
    if len(rejects) > max_reject_fraction * n_jobs:
        return (
            f"{len(rejects)} of {n_jobs} utterances rejected, more than "
            f"max_reject_fraction = {max_reject_fraction}; see {out_dir / 'rejects.csv'}"
        )
    return None


class FeatureStore:
    """Read access to a folder written by ``extract_features``; shards load lazily.

    ``store[i]`` is utterance ``i`` of ``store.index`` as a read-only (T, 64) float32 view into
    its shard; the ``cache_shards`` most recently used shards stay in memory. Opening checks that
    the index is consistent and that every shard holds the utterances the index puts there (the
    small ``paths`` and ``offsets`` members only); loading a shard checks it again, whole.

    Raises:
        FeatureError: no index, or an index column missing.
        MixedOutputError: index and shards disagree (files of different runs, or damaged).
    """

    def __init__(self, folder: Path | str, cache_shards: int = 4) -> None:
        self.folder = Path(folder)
        index_file = self.folder / "index.csv"
        if not index_file.is_file():
            raise FeatureError(
                f"{index_file} not found; run `dvc repro features` to extract the features"
            )
        self.index = pd.read_csv(index_file, dtype={"identity": str, "path": str})
        missing = [c for c in INDEX_COLUMNS if c not in self.index.columns]
        if missing:
            raise FeatureError(f"{index_file}: columns {missing} missing; {FIX}")
        self._check_index()
        self._rows = {int(k): rows for k, rows in self.index.groupby("shard")}
        for k, rows in self._rows.items():
            read_shard(self.folder, k, rows, features=False)
        self.cache_shards = max(1, cache_shards)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _check_index(self) -> None:
        """Shards numbered 0..K-1 in index order, contiguous starts, exactly those files."""
        shard, n_frames = self.index.shard.to_numpy(), self.index.n_frames.to_numpy()
        n_shards = int(shard.max()) + 1 if len(shard) else 0
        starts = self.index.groupby("shard").n_frames.cumsum().to_numpy() - n_frames
        problem = None
        if (np.diff(shard) < 0).any() or set(shard.tolist()) != set(range(n_shards)):
            problem = "index.csv shard numbers are not 0, 1, ... in row order"
        elif (self.index.start.to_numpy() != starts).any():
            problem = "index.csv start frames do not follow from n_frames"
        else:
            stored = {p.name for p in self.folder.glob("shard_*.npz")}
            expected = {shard_name(k) for k in range(n_shards)}
            if stored != expected:
                odd = sorted(stored ^ expected)[0]
                there = "there" if odd in stored else "missing"
                problem = f"index.csv names {n_shards} shards but {odd} is {there}"
        if problem:
            raise MixedOutputError(
                f"{self.folder}: {problem}; the folder mixes files of different runs or is "
                f"damaged, {FIX}"
            )

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        row = self.index.iloc[i]
        start, n = int(row["start"]), int(row["n_frames"])
        return self._shard(int(row["shard"]))[start : start + n]

    def _shard(self, k: int) -> np.ndarray:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        features = read_shard(self.folder, k, self._rows[k])
        features.setflags(write=False)
        self._cache[k] = features
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return features
