"""Test utterances, whole-utterance inference, and the gender-from-voice classifier.

Test set (the paper's protocol, Sec. 5): every test-split identity that has a reference face
and stored features contributes its first ``n_utterances`` utterances (feature-index order).

Whole utterances are fed as Wen et al. do at test time: shorter than 1000 frames → repeated to
1000 (``repeat_to``), otherwise the whole utterance; one forward pass each.

Gender from voice: an L2-regularised logistic regression on the pretrained speaker embedding
(standardised), fitted by Newton's method on every training-split utterance; its accuracy on the
test utterances is reported with the rows it drives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.train.voice_data import MIN_FRAMES


def select_test_utterances(
    index: pd.DataFrame, test_ids: set[str] | list[str], n_utterances: int
) -> pd.DataFrame:
    """The first ``n_utterances`` stored utterances of each test identity.

    Args:
        index: ``FeatureStore.index`` (``identity`` per row; row order = store order).
        test_ids: identities to evaluate (test split, with a reference face).
        n_utterances: utterances per identity (fewer when an identity has fewer).

    Returns:
        ``row`` (store row), ``identity`` and ``path`` per utterance, sorted by identity, then
        store order.
    """
    if n_utterances < 1:
        raise ValueError(f"n_utterances must be >= 1, got {n_utterances}")
    rows = index.reset_index(drop=True).rename_axis("row").reset_index()
    rows = rows[rows.identity.astype(str).isin({str(i) for i in test_ids})]
    rows = rows.groupby("identity", sort=True).head(n_utterances)
    rows = rows.sort_values(["identity", "row"], kind="stable")
    return rows[["row", "identity", "path"]].reset_index(drop=True)


@torch.no_grad()
def apply_to_utterances(
    net: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
    store: FeatureStore,
    rows: Iterable[int],
    device: str = "cpu",
    progress: Callable[[Iterable], Iterable] = iter,
) -> tuple[np.ndarray, ...]:
    """``net`` on each whole utterance (1000-frame repetition), outputs stacked over rows.

    Returns:
        one (N, width) array per output of ``net`` (one for a tensor, k for a k-tuple such as
        shape and expression coefficients).
    """
    if isinstance(net, nn.Module):
        net.eval()
    out: list[list[np.ndarray]] = []
    for row in progress(list(rows)):
        frames = repeat_to(store[int(row)], MIN_FRAMES)  # (T, 64)
        x = torch.from_numpy(frames.T.copy())[None].to(device)  # (1, 64, T)
        y = net(x)
        out.append([p[0].float().cpu().numpy() for p in (y if isinstance(y, tuple) else (y,))])
    if not out:
        raise ValueError("apply_to_utterances: no utterance rows given")
    return tuple(np.stack(part) for part in zip(*out, strict=True))


class GenderClassifier:
    """Logistic regression of gender on standardised voice embeddings (two classes)."""

    def __init__(self, l2: float = 1.0, iterations: int = 50) -> None:
        if l2 < 0 or iterations < 1:
            raise ValueError(
                f"GenderClassifier: need l2 >= 0 and iterations >= 1, got {l2}, {iterations}"
            )
        self.l2, self.iterations = l2, iterations
        self.classes: tuple[str, str] | None = None

    def fit(self, embeddings: np.ndarray, genders: np.ndarray) -> GenderClassifier:
        """Fit on (N, E) embeddings and (N,) gender labels (exactly two distinct values)."""
        x, labels = np.asarray(embeddings, np.float64), np.asarray(genders).astype(str)
        classes = tuple(sorted(set(labels)))
        if len(classes) != 2:
            raise ValueError(
                f"the gender classifier needs training voices of exactly two genders, got "
                f"{classes}; check identities.csv"
            )
        self.classes = classes
        self.mu, self.sd = x.mean(axis=0), x.std(axis=0) + 1e-8
        a = np.c_[(x - self.mu) / self.sd, np.ones(len(x))]  # (N, E + 1)
        y = (labels == classes[1]).astype(np.float64)
        reg = self.l2 * np.eye(a.shape[1])
        reg[-1, -1] = 0.0  # the intercept is not shrunk
        w = np.zeros(a.shape[1])
        for _ in range(self.iterations):  # Newton / IRLS
            p = 1.0 / (1.0 + np.exp(-(a @ w)))
            grad = a.T @ (p - y) + reg @ w
            hess = (a * (p * (1 - p))[:, None]).T @ a + reg + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        self.w = w
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """(N,) predicted gender labels of (N, E) embeddings."""
        if self.classes is None:
            raise RuntimeError("GenderClassifier.predict before fit")
        a = np.c_[
            (np.asarray(embeddings, np.float64) - self.mu) / self.sd, np.ones(len(embeddings))
        ]
        return np.where(a @ self.w > 0, self.classes[1], self.classes[0])
