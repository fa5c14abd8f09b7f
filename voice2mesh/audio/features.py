"""The ``features`` stage's library: normalised log-mel of every utterance, in sharded ``.npz``.

Per utterance (Wen et al.'s pipeline, DESIGN.md "Audio front end"): ``read_wav`` (16 kHz mono
int16) -> ``vad`` -> reject if under ``min_speech_s`` of speech -> ``log_mel`` -> ``normalize``.
The 1000-frame repetition and the training crops are left to the data loader.

Output folder::

    shard_00000.npz  features (N, 64) float32: utterances concatenated along time, in index
                     order; offsets (n + 1,) int64: utterance j is features[offsets[j]:offsets[j+1]]
    index.csv        identity, path, shard, start, n_frames, duration_s, speech_s, resampled,
                     mixed_down (one row per stored utterance, manifest order)
    rejects.csv      identity, path, reason_code, reason

Features are float32 (exact; float16 would halve the size at ~3 significant digits):
100 frames/s × 64 bins × 4 B = 25.6 kB per second of speech kept by the VAD. The default
synthetic world (1,790 utterances of 5.5 s, 4.8 s of speech on average) takes 218 MB; ~1,900
such utterances ≈ 0.23 GB; VoxCeleb1's ~150K utterances (~8 s) ≈ 30 GB. Shards are stored
uncompressed (log-mel barely compresses) with fixed zip timestamps, so the same inputs give the
same bytes whatever the number of workers.
"""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.audio.io import AudioError, read_wav
from voice2mesh.audio.logmel import log_mel, normalize
from voice2mesh.audio.vad import vad
from voice2mesh.io import atomic_path
from voice2mesh.parallel import ordered_map

SAMPLE_RATE = 16000
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
]
REJECT_COLUMNS = ["identity", "path", "reason_code", "reason"]
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: deterministic shard bytes


class FeatureError(Exception):
    """A manifest or feature folder that cannot be used (the message says what to do)."""


def shard_name(k: int) -> str:
    return f"shard_{k:05d}.npz"


def utterance_features(file: Path | str, min_speech_s: float) -> tuple[np.ndarray, dict]:
    """Wen et al.'s front end on one file: (T, 64) float32 normalised log-mel and file info.

    ``info`` is ``read_wav``'s plus ``speech_s``. Raises ``AudioError`` (code
    ``too_little_speech``) when the VAD keeps less than ``min_speech_s`` seconds, and
    ``read_wav``'s errors for unreadable, empty or silent audio.
    """
    samples, info = read_wav(file, SAMPLE_RATE)
    speech = vad(samples, SAMPLE_RATE)
    speech_s = len(speech) / SAMPLE_RATE
    if speech_s < min_speech_s:
        raise AudioError(
            file,
            f"{speech_s:.2f} s of speech after VAD, under min_speech_s = {min_speech_s}",
            "too_little_speech",
        )
    return normalize(log_mel(speech, SAMPLE_RATE)), info | {"speech_s": speech_s}


def _process(job: tuple[str, str, Path], min_speech_s: float) -> dict:
    """One utterance -> a result dict with ``features`` (T, 64) float32, or a reject reason."""
    identity, path, file = job
    row = {"identity": identity, "path": path}
    try:
        features, info = utterance_features(file, min_speech_s)
        speech_s = info["speech_s"]
    except AudioError as error:
        return row | {"reason_code": error.code, "reason": str(error)}
    except Exception as error:  # one bad file must not end the run; it is listed with the cause
        return row | {"reason_code": "error", "reason": f"{file}: {type(error).__name__}: {error}"}
    return row | {
        "features": features,
        "duration_s": round(info["duration_s"], 4),
        "speech_s": round(speech_s, 4),
        "resampled": info["resampled_from"] is not None,
        "mixed_down": bool(info["mixed_down"]),
    }


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez`` with fixed member timestamps, written atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)


def _write_shard(folder: Path, k: int, features: list[np.ndarray]) -> None:
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    _save_npz(folder / shard_name(k), {"features": np.concatenate(features), "offsets": offsets})


def _results(
    jobs: list[tuple[str, str, Path]], min_speech_s: float, workers: int
) -> Iterator[dict]:
    yield from ordered_map(partial(_process, min_speech_s=min_speech_s), jobs, workers)


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
        out_dir: output folder (layout in the module docstring); stale shards are removed.
        shard_size: stored utterances per shard.
        workers: processes (fork); 1 runs in this process. Output does not depend on it.
        min_speech_s: utterances with less speech after VAD are rejected.
        max_reject_fraction: fail when more than this share of the manifest is rejected.
        progress: wraps the per-utterance result iterator (e.g. ``tqdm``).

    Returns:
        ``(index, rejects)`` as written to ``index.csv`` and ``rejects.csv``.

    Raises:
        FeatureError: missing manifest columns, an empty manifest, no usable utterance, or too
            many rejects (``rejects.csv`` is written first, to show why).
    """
    missing = [c for c in ("identity", "path") if c not in manifest.columns]
    if missing:
        raise FeatureError(f"manifest lacks column(s) {missing}; expected the voices table")
    if manifest.empty:
        raise FeatureError("the manifest lists no utterances; check the intersect stage output")
    if shard_size < 1:
        raise FeatureError(f"shard_size must be >= 1, got {shard_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(i), str(p), Path(root) / str(p))
        for i, p in zip(manifest["identity"], manifest["path"], strict=True)
    ]
    rows: list[dict] = []
    rejected: list[dict] = []
    pending: list[np.ndarray] = []
    n_frames_in_shard = 0
    for result in progress(_results(jobs, min_speech_s, workers)):
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
            _write_shard(out_dir, shard, pending)
            pending, n_frames_in_shard = [], 0
    if pending:
        _write_shard(out_dir, len(rows) // shard_size, pending)
    n_shards = -(-len(rows) // shard_size)
    for stale in sorted(out_dir.glob("shard_*.npz")):
        if stale.name not in {shard_name(k) for k in range(n_shards)}:
            stale.unlink()
    rejects = pd.DataFrame(rejected, columns=REJECT_COLUMNS)
    with atomic_path(out_dir / "rejects.csv") as tmp:
        rejects.to_csv(tmp, index=False)
    if not rows:
        codes = rejects.reason_code.value_counts().to_dict()
        raise FeatureError(
            f"none of the {len(jobs)} utterances gave features (rejects by reason: {codes}); "
            f"see {out_dir / 'rejects.csv'}"
        )
    if len(rejected) > max_reject_fraction * len(jobs):
        raise FeatureError(
            f"{len(rejected)} of {len(jobs)} utterances rejected, more than "
            f"max_reject_fraction = {max_reject_fraction}; see {out_dir / 'rejects.csv'}"
        )
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    with atomic_path(out_dir / "index.csv") as tmp:
        index.to_csv(tmp, index=False)
    return index, rejects


class FeatureStore:
    """Read access to a folder written by ``extract_features``; shards load lazily.

    ``store[i]`` is utterance ``i`` of ``store.index`` as a read-only (T, 64) float32 view into
    its shard; the ``cache_shards`` most recently used shards stay in memory.
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
            raise FeatureError(
                f"{index_file}: columns {missing} missing; re-run the features stage"
            )
        self.cache_shards = max(1, cache_shards)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

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
        path = self.folder / shard_name(k)
        if not path.is_file():
            raise FeatureError(f"{path} is missing; re-run the features stage")
        with np.load(path) as data:
            features, offsets = data["features"], data["offsets"]
        if offsets[-1] != len(features):
            raise FeatureError(
                f"{path}: offsets end at {offsets[-1]} but {len(features)} frames are stored; "
                "the shard is corrupt, re-run the features stage"
            )
        features.setflags(write=False)
        self._cache[k] = features
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return features
