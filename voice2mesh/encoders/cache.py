"""The on-disk embedding cache, and the deterministic ``.npz`` writer it shares with the store.

Cache file (``.npz``, uncompressed, fixed member timestamps, rows sorted by key, so equal
contents give equal bytes): ``encoder`` () str, the encoder's key and front end; ``keys`` (N,)
str, the sha256 of each utterance file's bytes; ``vectors`` (N, 256) float32; ``speech_s`` (N,)
float64, the seconds the silence trimming kept (so a cached utterance is held to
``min_speech_s`` as a computed one is). A cache written for another encoder or front end, or
without ``speech_s``, is ignored and replaced on the next save.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from voice2mesh import io
from voice2mesh.encoders.ge2e import EMBEDDING_DIM
from voice2mesh.encoders.ge2e_audio import FRONT_END
from voice2mesh.io import atomic_path

log = logging.getLogger(__name__)


def write_npz(path: Path | str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` atomically, with fixed member timestamps:
    the same arrays give the same bytes (``io.write_npz``)."""
    with atomic_path(path) as tmp:
        io.write_npz(tmp, arrays)


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
        self._speech: dict[str, float] = {}
        self.dirty = False
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                encoder = str(data["encoder"])
                keys, vectors = data["keys"], data["vectors"]
                speech = data["speech_s"] if "speech_s" in data.files else None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            log.warning("%s: unreadable embedding cache (%s); recomputing", self.path, error)
            return
        if encoder != self.encoder:
            log.info("%s: written for %s, not %s; recomputing", self.path, encoder, self.encoder)
            return
        if speech is None or speech.shape != (len(keys),):
            log.info("%s: holds no seconds of speech per utterance; recomputing", self.path)
            return
        if vectors.shape != (len(keys), EMBEDDING_DIM) or vectors.dtype != np.float32:
            shape = vectors.shape
            log.warning("%s: %d keys, vectors %s; recomputing", self.path, len(keys), shape)
            return
        self._vectors = dict(zip(keys.tolist(), vectors, strict=True))
        self._speech = dict(zip(keys.tolist(), speech.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, key: str) -> tuple[np.ndarray, float] | None:
        """The (256,) float32 embedding stored for ``key`` and the seconds of speech it was
        computed from, or None."""
        if key not in self._vectors:
            return None
        return self._vectors[key], self._speech[key]

    def put(self, key: str, vector: np.ndarray, speech_s: float) -> None:
        self._vectors[key] = np.asarray(vector, dtype=np.float32).reshape(EMBEDDING_DIM)
        self._speech[key] = float(speech_s)
        self.dirty = True

    def save(self) -> None:
        """Write the cache atomically, rows sorted by key (deterministic bytes)."""
        keys = sorted(self._vectors)
        vectors = np.zeros((len(keys), EMBEDDING_DIM), np.float32)
        for row, key in enumerate(keys):
            vectors[row] = self._vectors[key]
        arrays = {"encoder": np.array(self.encoder), "keys": np.array(keys, dtype=str)}
        arrays["vectors"] = vectors  # (N, 256) float32
        arrays["speech_s"] = np.array([self._speech[k] for k in keys], np.float64)  # (N,)
        write_npz(self.path, arrays)
        self.dirty = False
