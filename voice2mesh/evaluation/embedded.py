"""Evaluation rows that read GE2E embeddings (``rows.Row.voice == "ge2e"``) instead of log-mel.

The ``embed_ge2e`` stage embedded every utterance the ``features`` stage kept, less its rejects
(too little speech after GE2E's own, stricter silence trimming). A test utterance without an
embedding still needs a prediction, paired with every other row's: it gets the mean face (the
training identities' mean reference shape, neutral expression), and ``evaluate`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from voice2mesh.encoders.store import EmbeddingStore

BATCH = 256  # embeddings per forward pass (two linear layers: memory is no concern)


class EmbeddingLookup:
    """The test utterances' GE2E embeddings (the ``embed_ge2e`` folder), read on first use.

    Args:
        folder: ``ge2e.out``.
        paths: (U,) the test utterances' paths, as the features index names them.
    """

    def __init__(self, folder: Path | str, paths: Sequence[str]) -> None:
        self.folder, self.paths = Path(folder), list(paths)
        self._inputs: tuple[np.ndarray, np.ndarray] | None = None

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors (U, 256) float32, found (U,) bool)``; ``embed_ge2e`` rejected the rest."""
        if self._inputs is None:
            self._inputs = EmbeddingStore(self.folder).lookup(self.paths)
        return self._inputs

    def missing(self) -> list[str]:
        """The test utterances without an embedding (none before ``inputs`` was needed)."""
        if self._inputs is None:
            return []
        return [p for p, found in zip(self.paths, self._inputs[1], strict=True) if not found]


@torch.no_grad()
def predict_embedded(
    net: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    inputs: tuple[np.ndarray, np.ndarray],
    fallback: np.ndarray,
    device: str = "cpu",
    batch_size: int = BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """``net`` on (U, 256) embeddings; an utterance without one gets ``fallback``.

    Args:
        net: (b, 256) embeddings -> raw ``(shape (b, Ks), expression (b, Ke))``.
        inputs: ``EmbeddingLookup.inputs()``: vectors and which rows were embedded.
        fallback: (Ks,) raw shape of a rejected utterance (the mean face), expression zero.
        device: where ``net`` runs.
        batch_size: embeddings per forward pass.

    Returns:
        ``(shape (U, Ks), expression (U, Ke))`` float32.
    """
    vectors, found = inputs
    rows = np.flatnonzero(found)
    if not len(rows):
        raise ValueError("predict_embedded: no test utterance has an embedding (embed_ge2e)")
    parts = []
    for start in range(0, len(rows), batch_size):
        x = torch.from_numpy(vectors[rows[start : start + batch_size]]).to(device)
        parts.append([t.float().cpu().numpy() for t in net(x)])
    shape, expression = (np.concatenate(p) for p in zip(*parts, strict=True))
    out_shape = np.tile(np.asarray(fallback, np.float32), (len(found), 1))
    out_expression = np.zeros((len(found), expression.shape[1]), np.float32)
    out_shape[rows], out_expression[rows] = shape, expression
    return out_shape, out_expression
