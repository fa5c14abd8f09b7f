"""Supervised training of the regressor on GE2E embeddings (``Ge2eVoice2Mesh``).

The same pairs, targets and validation as ``train.supervised`` (its module docstring): every
embedded utterance of a training-split identity with a reference fit, its target that
identity's reference shape (z-scored with the training identities' mean and std, one row per
identity) and a zero expression; Adam on the MSE of both heads. Validation: every embedded
utterance of the ``val`` split's identities, ``val_mse`` the MSE of their normalised shape
coefficients (predicting the training mean scores about 1). The test (A–E) identities are not
read.

An utterance is one fixed 256-d embedding (``embed_ge2e`` averages GE2E over the whole
utterance), so a batch is ``batch_size`` utterances drawn uniformly with replacement from
``numpy.random.default_rng([seed, step])``: a resumed run sees the batches an uninterrupted
one would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.config import FaceModelParams, SupervisedGe2eParams
from voice2mesh.encoders.store import EmbeddingStore
from voice2mesh.models.supervised_ge2e import Ge2eVoice2Mesh
from voice2mesh.train.distributed import shard
from voice2mesh.train.loop import Schedule, Task, Trained, digest, final, fit, seeded, settings
from voice2mesh.train.supervised import (
    normalised_targets,
    reference_targets,
    referenced_identities,
    regression_loss,
    target_stats,
)


def _rows(identities: pd.Series, wanted: set[str]) -> np.ndarray:
    """(N,) int64 store rows of the utterances of ``wanted`` identities, in store order."""
    return np.flatnonzero(identities.isin(wanted).to_numpy())


class SupervisedGe2eTask(Task):
    """Linear heads from the utterances' GE2E embeddings onto their identities' references."""

    shards = True  # step trains ``net`` on this rank's rows of each batch

    def __init__(
        self,
        cfg: SupervisedGe2eParams,
        face_model: FaceModelParams,
        data: tuple[EmbeddingStore, pd.DataFrame, pd.DataFrame, np.ndarray],
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        store, voices, references, reference_shape = data
        ks, ke = face_model.n_shape, face_model.n_expression
        train_ids = referenced_identities(voices, references, reference_shape, "train")
        val_ids = referenced_identities(voices, references, reference_shape, "val")
        identities = store.index.identity.astype(str).reset_index(drop=True)
        train_rows, val_rows = _rows(identities, train_ids), _rows(identities, val_ids)
        self.speakers = tuple(sorted(set(identities.iloc[train_rows])))
        if len(self.speakers) < 2:
            raise ValueError(
                f"{len(self.speakers)} training identities with a reference face have GE2E "
                f"embeddings in {store.folder}; the regressor needs at least 2 (check the "
                "manifest split, fit3dmm and embed_ge2e's rejects.csv)"
            )
        label_of = {s: k for k, s in enumerate(self.speakers)}
        labels = np.array(identities.iloc[train_rows].map(label_of), np.int64)  # a writable copy
        self.labels = torch.from_numpy(labels).to(device)  # (N,) rows of the targets
        raw = reference_targets(self.speakers, references, reference_shape, ks)  # (S, Ks)
        mean, std = target_stats(raw, ke)
        model = seeded(seed, lambda: Ge2eVoice2Mesh(ks, ke, cfg.dropout))
        model.set_target_stats(torch.from_numpy(mean), torch.from_numpy(std))
        self.model = model.to(device)
        self.targets = torch.from_numpy(normalised_targets(raw, mean, model.target_std)).to(device)
        self.x = torch.from_numpy(store.take(train_rows)).to(device)  # (N, 256)
        self.val_x = torch.from_numpy(store.take(val_rows)).to(device)  # (V, 256)
        val_raw = reference_targets(
            tuple(identities.iloc[val_rows]), references, reference_shape, ks
        )
        self.val_targets = normalised_targets(val_raw, mean, model.target_std)  # (V, Ks)
        self.n_val_identities = len(set(identities.iloc[val_rows]))
        self.optims = {"adam": torch.optim.Adam(model.parameters(), lr=cfg.lr)}
        self.settings = settings(cfg) | {"n_shape": ks, "n_expression": ke}
        self.cfg, self.seed, self.device = cfg, seed, device

    def data(self) -> dict:
        arrays = digest(self.x, self.labels, self.targets, self.val_x, self.val_targets)
        return {"identities": list(self.speakers), "digest": arrays}

    def meta(self) -> dict:
        return {"identities": list(self.speakers)}

    def step(self, step: int) -> dict[str, float]:
        rng = np.random.default_rng([self.seed, step])
        picks = shard(rng.integers(0, len(self.x), self.cfg.batch_size))  # this rank's rows
        picks = torch.from_numpy(picks).to(self.device)
        shape, expression = self.net(self.x[picks])  # (B, Ks), (B, Ke)
        loss = regression_loss(shape, expression, self.targets[self.labels[picks]])
        self.optims["adam"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["adam"].step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float | None]:
        if not len(self.val_x):
            return {"val_mse": None}
        self.model.eval()
        shape, _ = self.model(self.val_x)  # (V, Ks)
        return {"val_mse": F.mse_loss(shape.cpu(), torch.from_numpy(self.val_targets)).item()}

    def metrics(self, history: list[dict]) -> dict:
        """Final metrics: loss, val_mse and its mean-prediction baseline, counts."""
        last = final(history, "loss", "val_mse")
        baseline = float(np.mean(self.val_targets**2)) if len(self.val_x) else None
        return {
            "final_loss": last["loss"],
            "val_mse": last["val_mse"],
            "val_mse_mean_baseline": baseline,
            "n_train_utterances": len(self.x),
            "n_val_utterances": len(self.val_x),
            "n_train_identities": len(self.speakers),
            "n_val_identities": self.n_val_identities,
        }


def train_supervised_ge2e(
    cfg: SupervisedGe2eParams,
    face_model: FaceModelParams,
    data: tuple[EmbeddingStore, pd.DataFrame, pd.DataFrame, np.ndarray],
    schedule: Schedule,
) -> Trained:
    """Regress the reference shape of each training identity from its GE2E embeddings.

    Args:
        cfg: the ``supervised_ge2e`` params.
        face_model: its ``n_shape`` and ``n_expression`` are the heads' sizes.
        data: ``(store, voices, references, reference_shape)``: the ``embed_ge2e`` folder,
            the manifest's voices table (``identity``, ``split``), ``read_fits(...).references``
            and its (I, >= n_shape) raw reference shapes (non-finite rows left out).
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the regressor (eval mode), one history row per evaluation
        ``{step, loss, val_mse}``, final metrics, the training identities (``meta``).
    """
    return fit(SupervisedGe2eTask(cfg, face_model, data, schedule), schedule)
