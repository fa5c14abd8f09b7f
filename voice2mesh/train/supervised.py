"""Supervised training of the voice -> 3DMM coefficient regressor (``SupervisedVoice2Mesh``).

Pairs: every training-split utterance of an identity that has a reference fit; its target is
that identity's reference shape coefficients (``fit3dmm``'s ``references``). References are
neutral-expression fits, so the expression target is **zero**: the expression head is still
trained, towards the neutral face, which keeps the model's interface (shape + expression) the
paper's while the data only constrain the shape. Targets are z-scored with the mean and std of
the training identities' references (one row per identity, so talkative speakers do not skew
them); a constant coefficient (std 0, e.g. the zero expressions) is left unscaled.

Loss: MSE over the normalised shape coefficients plus MSE over the normalised expression
coefficients (Wu et al. 2022, supervised setting: an L2 loss on the 3DMM parameters), Adam, on
random 300-800-frame crops (``voice_data.CropBatches``; its labels index the targets).

Every utterance of the training identities trains. Validation is the manifest's ``val`` split:
identities never seen in training (``intersect.val_fraction`` of F–Z), each of their
utterances fed whole; ``val_mse`` is the MSE of their normalised shape coefficients against
their references (predicting the training mean scores about 1). The test (A–E) identities are
not read.

Batches and dropout masks depend only on ``(seed, step)`` (``train.loop``), so a resumed run
reproduces the uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import FaceModelParams, SupervisedParams
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.train.distributed import shard
from voice2mesh.train.loop import Schedule, Trained, digest, final, fit, seeded, settings
from voice2mesh.train.pretrain_voice import load_voice_encoder
from voice2mesh.train.speaker_task import SpeakerTask
from voice2mesh.train.voice_data import (
    MIN_FRAMES,
    SpeakerSplit,
    load_utterances,
    speaker_batches,
    split_speakers,
)


@torch.no_grad()
def shape_mse(
    model: SupervisedVoice2Mesh, utterances: list[np.ndarray], targets: np.ndarray, device: str
) -> float | None:
    """MSE of normalised shape coefficients over whole utterances (each (T, 64)).

    Args:
        targets: (N, Ks) normalised shape targets, one row per utterance.

    Returns:
        The mean over utterances and coefficients; None when there is nothing to evaluate.
    """
    if not utterances:
        return None
    was_training = model.training
    model.eval()
    errors = []
    for frames, target in zip(utterances, targets, strict=True):
        x = torch.from_numpy(repeat_to(frames, MIN_FRAMES).T.copy())[None].to(device)  # (1,64,T)
        shape, _ = model(x)  # (1, Ks)
        errors.append(F.mse_loss(shape[0].cpu(), torch.from_numpy(target)).item())
    model.train(was_training)
    return float(np.mean(errors))


def reference_targets(
    speakers: tuple[str, ...], references: pd.DataFrame, reference_shape: np.ndarray, n_shape: int
) -> np.ndarray:
    """(S, n_shape) float32 raw reference shape of each speaker, in ``speakers`` order."""
    if reference_shape.shape[1] < n_shape:
        raise ValueError(
            f"references hold {reference_shape.shape[1]} shape coefficients, fewer than "
            f"face_model.n_shape = {n_shape}; lower it or refit (dvc repro fit3dmm)"
        )
    row_of = {str(i): k for k, i in enumerate(references.identity)}
    return reference_shape[[row_of[s] for s in speakers], :n_shape].astype(np.float32)


def target_stats(raw: np.ndarray, n_expression: int) -> tuple[np.ndarray, np.ndarray]:
    """(Ks + Ke,) float32 mean and std of the targets: the (S, Ks) raw reference shapes, one row
    per training identity; the expression targets are zero (std 0: left unscaled)."""
    zeros = np.zeros(n_expression, np.float32)
    return np.concatenate([raw.mean(axis=0), zeros]), np.concatenate([raw.std(axis=0), zeros])


def referenced_identities(
    voices: pd.DataFrame, references: pd.DataFrame, reference_shape: np.ndarray, split: str
) -> set[str]:
    """The identities of manifest ``split`` that have a finite reference shape."""
    finite = np.isfinite(reference_shape).all(axis=1)
    with_ref = set(references.identity[finite].astype(str))
    return set(voices.loc[voices.split == split, "identity"].astype(str)) & with_ref


def normalised_targets(raw: np.ndarray, mean: np.ndarray, target_std: torch.Tensor) -> np.ndarray:
    """(N, Ks) float32 z-scores of raw shapes (N, Ks) under the model's target statistics."""
    ks = raw.shape[1]
    return ((raw - mean[:ks]) / target_std[:ks].cpu().numpy()).astype(np.float32)


def regression_loss(
    shape: torch.Tensor, expression: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """MSE of the shape head (B, Ks) on its targets, plus that of the expression head (B, Ke)
    on zero when it has outputs (the references are neutral)."""
    loss = F.mse_loss(shape, targets)
    if expression.shape[1]:
        loss = loss + F.mse_loss(expression, torch.zeros_like(expression))
    return loss


class SupervisedTask(SpeakerTask):
    """The regressor from the pretrained encoder onto the identities' reference shapes."""

    shards = True  # step trains ``net`` on this rank's rows of each batch

    def __init__(
        self,
        cfg: SupervisedParams,
        face_model: FaceModelParams,
        data: tuple[FeatureStore, pd.DataFrame, pd.DataFrame, np.ndarray],
        encoder_path: Path | str,
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        store, voices, references, reference_shape = data
        ks, ke = face_model.n_shape, face_model.n_expression
        train_ids = referenced_identities(voices, references, reference_shape, "train")
        self.split = _all_train(split_speakers(store.index, train_ids))
        raw = reference_targets(self.split.speakers, references, reference_shape, ks)  # (S, Ks)
        mean, std = target_stats(raw, ke)
        encoder = load_voice_encoder(encoder_path)
        model = seeded(seed, lambda: SupervisedVoice2Mesh(encoder, ks, ke, cfg.dropout))
        model.set_target_stats(torch.from_numpy(mean), torch.from_numpy(std))
        if cfg.freeze_encoder:
            model.freeze_encoder()
        self.model = model.to(device)
        z_shape = normalised_targets(raw, mean, model.target_std)
        self.targets = torch.from_numpy(z_shape).to(device)  # (S, Ks) normalised targets
        self.batches, _ = speaker_batches(store, self.split, cfg, schedule)
        val_ids = referenced_identities(voices, references, reference_shape, "val")
        index = store.index.reset_index(drop=True).identity.astype(str)
        val_rows = np.flatnonzero(index.isin(val_ids).to_numpy())
        self.val = load_utterances(store, val_rows)
        val_raw = reference_targets(tuple(index.iloc[val_rows]), references, reference_shape, ks)
        self.val_targets = normalised_targets(val_raw, mean, model.target_std)  # (V, Ks)
        self.n_val_identities = len(set(index.iloc[val_rows]))
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optims = {"adam": torch.optim.Adam(trainable, lr=cfg.lr)}
        self.settings = settings(cfg) | {"n_shape": ks, "n_expression": ke}
        self.cfg, self.seed, self.device = cfg, seed, device

    def data(self) -> dict:
        return super().data() | {"targets": digest(self.targets)}

    def step(self, step: int) -> dict[str, float]:
        x, labels = (shard(t) for t in self.batches[step])  # this rank's rows of the batch
        shape, expression = self.net(x.to(self.device))  # (B, Ks), (B, Ke)
        loss = regression_loss(shape, expression, self.targets[labels.to(self.device)])
        self.optims["adam"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["adam"].step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, float | None]:
        return {"val_mse": shape_mse(self.model, self.val, self.val_targets, self.device)}

    def metrics(self, history: list[dict]) -> dict:
        """Final metrics: loss, val_mse and its mean-prediction baseline, counts."""
        last = final(history, "loss", "val_mse")
        return self.counts() | {
            "final_loss": last["loss"],
            "val_mse": last["val_mse"],
            "val_mse_mean_baseline": float(np.mean(self.val_targets**2)) if self.val else None,
            "n_train_identities": len(self.split.speakers),
            "n_val_identities": self.n_val_identities,
            "freeze_encoder": self.cfg.freeze_encoder,
        }


def _all_train(split: SpeakerSplit) -> SpeakerSplit:
    """``split`` with its held-out utterances moved to training (validation is the val split)."""
    order = np.argsort(np.concatenate([split.train, split.val]), kind="stable")
    rows = np.concatenate([split.train, split.val])[order]
    labels = np.concatenate([split.train_labels, split.val_labels])[order]
    empty = np.zeros(0, np.int64)
    return SpeakerSplit(split.speakers, rows, labels, empty, empty)


def train_supervised(
    cfg: SupervisedParams,
    face_model: FaceModelParams,
    data: tuple[FeatureStore, pd.DataFrame, pd.DataFrame, np.ndarray],
    encoder_path: Path | str,
    schedule: Schedule,
) -> Trained:
    """Regress the reference shape of each training identity from its voice.

    Args:
        cfg: the ``supervised`` params.
        face_model: its ``n_shape`` and ``n_expression`` are the heads' sizes.
        data: ``(store, voices, references, reference_shape)``: the features, the manifest's
            voices table (``identity``, ``split``), ``read_fits(...).references`` and its
            (I, >= n_shape) raw reference shapes (identities with non-finite rows left out).
        encoder_path: a ``pretrain_voice`` model, the encoder's starting point.
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the regressor (eval mode), one history row per evaluation
        ``{step, loss, val_mse}``, final metrics, the training identities (``meta``).
    """
    task = SupervisedTask(cfg, face_model, data, encoder_path, schedule)
    return fit(task, schedule)


def held_out_summary(metrics: dict) -> str:
    """One log line of a supervised run's ``metrics``: held-out shape MSE against the mean
    prediction's, and the counts (both supervised stages log it per seed)."""
    return (
        f"held-out shape MSE {metrics['val_mse']} (mean prediction "
        f"{metrics['val_mse_mean_baseline']}) over {metrics['n_val_utterances']} utterances; "
        f"{metrics['n_train_identities']} identities"
    )
