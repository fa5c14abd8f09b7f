"""GE2E embeddings of many utterances, batched, with an on-disk cache.

``embed_files`` reads each file with ``voice2mesh.audio.io.read_wav`` (16 kHz mono int16; other
rates are resampled and mono is mixed down as for the log-mel features; damaged files are
refused), cuts it into mel partials (``ge2e_audio``), runs the partials of all utterances
through the encoder in batches of exactly ``BATCH`` rows (the last one zero-padded), and
averages each utterance's partial embeddings, then L2-normalises (resemblyzer's
``embed_utterance``). At a fixed batch size each row's output is bitwise independent of the
other rows (``tests/encoders``), so an utterance's embedding does not depend on what it was
batched with, and a cache filled piecemeal holds the same bytes as one filled in one run.

A file that gives no embedding is listed in ``Embedded.rejects`` with a reason code (as the
``features`` stage lists its rejects): ``read_wav``'s codes, ``too_little_speech`` when the
silence trimming keeps less than ``min_speech_s``, or ``error``.

Cache file (``.npz``, uncompressed, fixed member timestamps, rows sorted by key, so equal
contents give equal bytes): ``encoder`` () str, the encoder's key and front end; ``keys`` (N,)
str, the sha256 of each utterance file's bytes; ``vectors`` (N, 256) float32. A cache written
for another encoder or front end is ignored and replaced on the next save.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from voice2mesh.audio.io import AudioError, read_wav
from voice2mesh.encoders.ge2e import EMBEDDING_DIM, GE2EEncoder
from voice2mesh.encoders.ge2e_audio import FRONT_END, SAMPLE_RATE, partials, preprocess
from voice2mesh.io import atomic_path

BATCH = 8  # partials per forward pass (fixed: results must not depend on batching; on a CPU
# 8 rows run as fast per row as 64, and padding wastes at most 7)
FLUSH = 16 * BATCH  # partials gathered before a run of forward passes (only the last is padded)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: deterministic cache bytes

log = logging.getLogger(__name__)


def utterance_key(path: Path | str) -> str:
    """sha256 (hex) of a file's bytes: the cache key of the utterance it holds.

    Raises:
        AudioError: the file cannot be read (code ``unreadable``).
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as error:
        raise AudioError(path, f"cannot read the file ({error})", "unreadable") from error
    return digest.hexdigest()


class EmbeddingCache:
    """Embeddings by utterance key for one encoder, kept in one ``.npz`` (module docstring).

    Args:
        path: the cache file; need not exist.
        encoder_key: ``GE2EEncoder.key``; combined with ``ge2e_audio.FRONT_END``.
    """

    def __init__(self, path: Path | str, encoder_key: str) -> None:
        if not encoder_key:
            raise ValueError("an encoder without a key (no pretrained weights) cannot be cached")
        self.path = Path(path)
        self.encoder = f"{encoder_key}/{FRONT_END}"
        self._vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                encoder = str(data["encoder"])
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            log.warning("%s: unreadable embedding cache (%s); recomputing", self.path, error)
            return
        if encoder != self.encoder:
            log.info("%s: written for %s, not %s; recomputing", self.path, encoder, self.encoder)
            return
        if vectors.shape != (len(keys), EMBEDDING_DIM) or vectors.dtype != np.float32:
            shape = vectors.shape
            log.warning("%s: %d keys, vectors %s; recomputing", self.path, len(keys), shape)
            return
        self._vectors = dict(zip(keys.tolist(), vectors, strict=True))

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> np.ndarray | None:
        """The (256,) float32 embedding stored for ``key``, or None."""
        return self._vectors.get(key)

    def put(self, key: str, vector: np.ndarray) -> None:
        self._vectors[key] = np.asarray(vector, dtype=np.float32).reshape(EMBEDDING_DIM)
        self.dirty = True

    def save(self) -> None:
        """Write the cache atomically, rows sorted by key (deterministic bytes)."""
        keys = sorted(self._vectors)
        vectors = np.zeros((len(keys), EMBEDDING_DIM), np.float32)
        for row, key in enumerate(keys):
            vectors[row] = self._vectors[key]
        arrays = {"encoder": np.array(self.encoder), "keys": np.array(keys, dtype=str)}
        arrays["vectors"] = vectors  # (N, 256) float32
        with atomic_path(self.path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
            for name, array in arrays.items():
                with out.open(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME), "w") as handle:
                    np.lib.format.write_array(handle, array, allow_pickle=False)
        self.dirty = False


@dataclass(frozen=True)
class Reject:
    """A file that gave no embedding: ``code`` for tables, ``reason`` for people."""

    path: str
    code: str
    reason: str


@dataclass
class Embedded:
    """What ``embed_files`` returns.

    Attributes:
        paths: the embedded files, in input order (rejects left out).
        vectors: (N, 256) float32 unit-norm embeddings, row i for ``paths[i]``.
        rejects: the files that gave none, in input order.
        n_cached: how many rows came from the cache.
        audio_s: seconds of audio read for the computed (not cached) rows.
        speech_s: of which kept by the silence trimming.
    """

    paths: list[str]
    vectors: np.ndarray
    rejects: list[Reject] = field(default_factory=list)
    n_cached: int = 0
    audio_s: float = 0.0
    speech_s: float = 0.0


def utterance_partials(path: Path | str, min_speech_s: float = 0.5) -> tuple[np.ndarray, dict]:
    """A file's (P, 160, 40) float32 mel partials (``read_wav`` -> ``ge2e_audio``) and info:
    ``read_wav``'s plus ``speech_s``, the seconds left after silence trimming.

    Raises:
        AudioError: ``read_wav``'s refusals, or ``too_little_speech`` when silence trimming
            keeps less than ``min_speech_s`` seconds.
    """
    samples, info = read_wav(path, SAMPLE_RATE)
    wav = preprocess(samples)
    if len(wav) < min_speech_s * SAMPLE_RATE:
        raise AudioError(
            path,
            f"{len(wav) / SAMPLE_RATE:.2f} s of speech after silence trimming (webrtcvad mode "
            f"3), under the {min_speech_s:g} s required; use a longer or clearer recording",
            "too_little_speech",
        )
    return partials(wav), info | {"speech_s": len(wav) / SAMPLE_RATE}


@torch.no_grad()
def embed_partials(encoder: GE2EEncoder, mels: np.ndarray) -> np.ndarray:
    """(P, 160, 40) partials -> (P, 256) embeddings, in zero-padded batches of ``BATCH``."""
    device = next(encoder.parameters()).device
    out = np.zeros((len(mels), EMBEDDING_DIM), np.float32)
    for start in range(0, len(mels), BATCH):
        chunk = mels[start : start + BATCH]
        batch = np.zeros((BATCH, *mels.shape[1:]), np.float32)
        batch[: len(chunk)] = chunk
        out[start : start + len(chunk)] = encoder(torch.from_numpy(batch).to(device))[
            : len(chunk)
        ].cpu()
    return out


def _average(partial_embeddings: np.ndarray) -> np.ndarray:
    """(P, 256) -> (256,) mean, L2-normalised (resemblyzer ``embed_utterance``)."""
    mean = partial_embeddings.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def embed_files(
    files: Sequence[Path | str],
    encoder: GE2EEncoder,
    *,
    cache: EmbeddingCache | None = None,
    min_speech_s: float = 0.5,
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> Embedded:
    """Embed every file in ``files`` (module docstring); bad files are rejected, not raised.

    Args:
        files: wav (or any soundfile-readable) paths.
        encoder: ``load_ge2e()``, in eval mode.
        cache: looked up by file hash before computing; new rows are added and it is saved
            when anything was added.
        min_speech_s: files with less audio left after silence trimming are rejected.
        progress: wraps the iterator over file positions (e.g. ``tqdm``).

    Returns:
        ``Embedded``: vectors in input order, rejects, cache hits.
    """
    if encoder.training:
        raise ValueError("embed_files needs the encoder in eval mode (load_ge2e returns it so)")
    vectors: dict[int, np.ndarray] = {}
    keys: dict[int, str] = {}
    rejects: list[tuple[int, Reject]] = []
    pending: list[tuple[int, np.ndarray]] = []  # utterances whose partials wait for a batch
    n_cached, audio_s, speech_s = 0, 0.0, 0.0

    def flush() -> None:
        stacked = np.concatenate([p for _, p in pending])  # (sum P, 160, 40)
        embedded = embed_partials(encoder, stacked)
        bounds = np.cumsum([0] + [len(p) for _, p in pending])
        for (i, _), lo, hi in zip(pending, bounds[:-1], bounds[1:], strict=True):
            vectors[i] = _average(embedded[lo:hi])
            if cache is not None:
                cache.put(keys[i], vectors[i])
        pending.clear()

    for i in progress(range(len(files))):
        path = Path(files[i])
        try:
            if cache is not None:
                keys[i] = utterance_key(path)
                hit = cache.get(keys[i])
                if hit is not None:
                    vectors[i], n_cached = hit, n_cached + 1
                    continue
            mels, info = utterance_partials(path, min_speech_s)
        except AudioError as error:
            rejects.append((i, Reject(str(path), error.code, str(error))))
            continue
        except Exception as error:  # one bad file must not end the run; it is listed
            reason = f"{path}: {type(error).__name__}: {error}"
            rejects.append((i, Reject(str(path), "error", reason)))
            continue
        audio_s, speech_s = audio_s + info["duration_s"], speech_s + info["speech_s"]
        pending.append((i, mels))
        if sum(len(p) for _, p in pending) >= FLUSH:
            flush()
    if pending:
        flush()
    if cache is not None and cache.dirty:
        cache.save()
    order = sorted(vectors)
    stacked = np.stack([vectors[i] for i in order]) if order else np.zeros((0, EMBEDDING_DIM))
    return Embedded(
        paths=[str(files[i]) for i in order],
        vectors=stacked.astype(np.float32),
        rejects=[r for _, r in sorted(rejects, key=lambda item: item[0])],
        n_cached=n_cached,
        audio_s=audio_s,
        speech_s=speech_s,
    )
