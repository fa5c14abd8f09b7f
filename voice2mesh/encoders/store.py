"""The ``embed_ge2e`` stage's output folder: one GE2E embedding per stored utterance.

    embeddings.npz   ``encoder`` () str (the encoder's key and front end), ``paths`` (N,) str,
                     ``vectors`` (N, 256) float32 unit-norm; fixed zip timestamps, so the same
                     embeddings give the same bytes
    index.csv        identity, path, speech_s (seconds GE2E's silence trimming kept), one row
                     per embedded utterance, in the features index's order
    rejects.csv      identity, path, reason_code, reason (as the features stage's)

The folder is built aside and moved into place whole (``io.atomic_dir``); when too many
utterances are rejected it holds only ``rejects.csv``, to show why. Voices without waveforms
(``IntersectParams.no_waveforms``: the authors' release ships fbank features) give the same
folder, every utterance rejected with code ``no_waveform``, written by ``write_skipped``
without failing. ``EmbeddingStore`` checks that index and arrays agree, and finds utterances
by path.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.encoders.cache import write_npz
from voice2mesh.encoders.ge2e import EMBEDDING_DIM
from voice2mesh.io import MixedOutputError, atomic_dir, check_same_rows

INDEX_COLUMNS = ["identity", "path", "speech_s"]
REJECT_COLUMNS = ["identity", "path", "reason_code", "reason"]
OWNS = ("embeddings.npz", "index.csv", "rejects.csv")
STAGE = "embed_ge2e"
NO_WAVEFORM = "no_waveform"  # the reject code of every utterance when there are no waveforms


class EmbeddingStoreError(ValueError):
    """No usable embeddings: the stage failed, or its folder is missing or damaged."""


def reject_problem(n_rejected: int, n_total: int, max_fraction: float, folder: Path) -> str | None:
    """Why the stage fails (nothing embedded, or more than ``max_fraction`` rejected), or None."""
    if n_rejected == n_total:
        return f"none of the {n_total} utterances gave an embedding; see {folder / 'rejects.csv'}"
    if n_rejected > max_fraction * n_total:
        return (
            f"{n_rejected} of {n_total} utterances rejected, more than max_reject_fraction = "
            f"{max_fraction}; see {folder / 'rejects.csv'}"
        )
    return None


def write_skipped(folder: Path | str, rejects: pd.DataFrame) -> None:
    """Write the folder of a skipped run: ``rejects.csv`` only (``REJECT_COLUMNS``)."""
    with atomic_dir(Path(folder), owns=OWNS) as tmp:
        rejects[REJECT_COLUMNS].to_csv(tmp / "rejects.csv", index=False)


def write_embeddings(
    folder: Path | str,
    index: pd.DataFrame,
    vectors: np.ndarray,
    rejects: pd.DataFrame,
    encoder: str,
    max_reject_fraction: float = 1.0,
) -> None:
    """Write the folder (module docstring) whole.

    Args:
        folder: the stage's ``out``.
        index: ``INDEX_COLUMNS`` per embedded utterance.
        vectors: (N, 256) float32, rows as ``index``.
        rejects: ``REJECT_COLUMNS`` per rejected utterance.
        encoder: ``EmbeddingCache.encoder``: the weights' key and the front end.
        max_reject_fraction: of all utterances (embedded + rejected).

    Raises:
        EmbeddingStoreError: nothing embedded or too many rejects (then only ``rejects.csv``
            is written).
    """
    folder = Path(folder)
    if vectors.shape != (len(index), EMBEDDING_DIM):
        raise ValueError(f"{len(index)} index rows but vectors {vectors.shape}")
    total = len(index) + len(rejects)
    problem = reject_problem(len(rejects), total, max_reject_fraction, folder)
    with atomic_dir(folder, owns=OWNS) as tmp:
        rejects[REJECT_COLUMNS].to_csv(tmp / "rejects.csv", index=False)
        if problem is None:
            arrays = {"encoder": np.array(encoder), "paths": index.path.to_numpy(str)}
            write_npz(tmp / "embeddings.npz", arrays | {"vectors": vectors.astype(np.float32)})
            index[INDEX_COLUMNS].to_csv(tmp / "index.csv", index=False, float_format="%.4f")
    if problem is not None:
        raise EmbeddingStoreError(problem)


class EmbeddingStore:
    """Read access to a folder written by ``write_embeddings``.

    Every embedding read goes through ``take`` (rows of ``index``) or ``lookup`` (paths), the
    one door a test watches to prove which identities a stage reads.

    Attributes:
        index: ``INDEX_COLUMNS`` per utterance.
        encoder: the encoder key and front end they were computed with.

    Raises:
        EmbeddingStoreError: no index or no arrays (the stage has not run, or failed).
        MixedOutputError: index and arrays disagree.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        index_file, arrays = self.folder / "index.csv", self.folder / "embeddings.npz"
        for needed in (index_file, arrays):
            if not needed.is_file():
                raise EmbeddingStoreError(f"{needed} not found; run `dvc repro {STAGE}`")
        self.index = pd.read_csv(index_file, dtype={"identity": str, "path": str})
        missing = [c for c in INDEX_COLUMNS if c not in self.index.columns]
        if missing:
            raise EmbeddingStoreError(f"{index_file}: columns {missing} missing; rerun {STAGE}")
        try:
            with np.load(arrays, allow_pickle=False) as data:
                self.encoder = str(data["encoder"])
                paths, vectors = data["paths"], data["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise EmbeddingStoreError(f"{arrays}: unreadable ({error}); rerun {STAGE}") from error
        check_same_rows(
            self.folder, "embeddings.npz paths and index.csv", paths, self.index.path, STAGE
        )
        if vectors.shape != (len(paths), EMBEDDING_DIM) or vectors.dtype != np.float32:
            raise MixedOutputError(
                f"{arrays}: vectors {vectors.shape} {vectors.dtype}, expected "
                f"({len(paths)}, {EMBEDDING_DIM}) float32; rerun `dvc repro {STAGE}`"
            )
        self._vectors = vectors  # (N, 256) float32, rows as index
        self._row = {str(p): k for k, p in enumerate(paths.tolist())}

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 256) float32: the embeddings of ``index`` rows ``rows``, a copy."""
        return self._vectors[np.asarray(rows, np.int64)]

    def lookup(self, paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors (U, 256) float32, found (U,) bool)`` of utterances by path; the row of a
        path that was not embedded (a reject) is zero and not ``found``."""
        rows = np.array([self._row.get(str(p), -1) for p in paths], np.int64)
        found = rows >= 0
        out = np.zeros((len(rows), EMBEDDING_DIM), np.float32)
        out[found] = self.take(rows[found])
        return out, found
