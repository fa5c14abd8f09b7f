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

The cache (``encoders.cache.EmbeddingCache``) is looked up by the sha256 of each file's bytes;
it keeps each utterance's seconds of speech too, so a cached utterance is rejected under
``min_speech_s`` exactly as a computed one: the result never depends on what was cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from voice2mesh.audio.io import AudioError, read_wav
from voice2mesh.encoders.cache import EmbeddingCache
from voice2mesh.encoders.ge2e import EMBEDDING_DIM, GE2EEncoder
from voice2mesh.encoders.ge2e_audio import SAMPLE_RATE, partials, preprocess

BATCH = 8  # partials per forward pass (fixed: results must not depend on batching; on a CPU
# 8 rows run as fast per row as 64, and padding wastes at most 7)
FLUSH = 16 * BATCH  # partials gathered before a run of forward passes (only the last is padded)


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
        utterance_speech_s: (N,) seconds the silence trimming kept of each row, cached or
            computed.
        rejects: the files that gave none, in input order.
        n_cached: how many rows came from the cache.
        audio_s: seconds of audio read for the computed (not cached) rows.
        speech_s: of which kept by the silence trimming.
    """

    paths: list[str]
    vectors: np.ndarray
    utterance_speech_s: list[float] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    n_cached: int = 0
    audio_s: float = 0.0
    speech_s: float = 0.0


def _too_little_speech(path: Path | str, speech_s: float, min_speech_s: float) -> AudioError:
    return AudioError(
        path,
        f"{speech_s:.2f} s of speech after silence trimming (webrtcvad mode 3), under the "
        f"{min_speech_s:g} s required; use a longer or clearer recording",
        "too_little_speech",
    )


def speech_partials(
    samples: np.ndarray, path: Path | str, min_speech_s: float = 0.5
) -> tuple[np.ndarray, float]:
    """(n,) int16 samples at 16 kHz -> (P, 160, 40) float32 mel partials and the seconds of
    speech the silence trimming kept.

    Raises:
        AudioError: ``too_little_speech`` when the trimming keeps less than ``min_speech_s``
            seconds (``path`` names the file in the message).
    """
    wav = preprocess(samples)
    speech_s = len(wav) / SAMPLE_RATE
    if speech_s < min_speech_s:
        raise _too_little_speech(path, speech_s, min_speech_s)
    return partials(wav), speech_s


def utterance_partials(path: Path | str, min_speech_s: float = 0.5) -> tuple[np.ndarray, dict]:
    """A file's (P, 160, 40) float32 mel partials (``read_wav`` -> ``ge2e_audio``) and info:
    ``read_wav``'s plus ``speech_s``, the seconds left after silence trimming.

    Raises:
        AudioError: ``read_wav``'s refusals, or ``speech_partials``'.
    """
    samples, info = read_wav(path, SAMPLE_RATE)
    mels, speech_s = speech_partials(samples, path, min_speech_s)
    return mels, info | {"speech_s": speech_s}


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


def embed_utterance(encoder: GE2EEncoder, mels: np.ndarray) -> np.ndarray:
    """One utterance's (P, 160, 40) partials -> its (256,) float32 embedding, the same bytes as
    ``embed_files`` gives it."""
    return _average(embed_partials(encoder, mels))


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
    speech: dict[int, float] = {}
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
                cache.put(keys[i], vectors[i], speech[i])
        pending.clear()

    for i in progress(range(len(files))):
        path = Path(files[i])
        try:
            if cache is not None:
                keys[i] = utterance_key(path)
                hit = cache.get(keys[i])
                if hit is not None:
                    if hit[1] < min_speech_s:  # as computing it would
                        raise _too_little_speech(path, hit[1], min_speech_s)
                    vectors[i], speech[i] = hit
                    n_cached += 1
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
        speech[i] = info["speech_s"]
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
        utterance_speech_s=[speech[i] for i in order],
        rejects=[r for _, r in sorted(rejects, key=lambda item: item[0])],
        n_cached=n_cached,
        audio_s=audio_s,
        speech_s=speech_s,
    )
