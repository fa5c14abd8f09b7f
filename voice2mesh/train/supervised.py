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

Held-out utterances follow ``pretrain_voice``'s rule (the last utterance of each training
identity with >= 2 of them), each fed whole; ``val_mse`` is the MSE of their normalised shape
coefficients (predicting the training mean scores about 1).

Batches and dropout masks depend only on ``(seed, step)``, so a resumed run reproduces the
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import as_dict
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig
from voice2mesh.train.pretrain_voice import load_checkpoint, load_voice_encoder, save_checkpoint
from voice2mesh.train.voice_data import MIN_FRAMES, CropBatches, load_utterances, split_speakers


@dataclass(frozen=True)
class SupervisedConfig:
    """Hyper-parameters of the supervised regressor; the defaults are the paper's."""

    iterations: int = 50_000  # optimizer steps in total (also when resuming)
    batch_size: int = 128  # crops per step
    lr: float = 2e-4  # Adam learning rate
    crop_frames: tuple[int, int] = (300, 800)  # crop length range, one length per batch
    dropout: float = 0.2  # before the linear heads
    freeze_encoder: bool = True  # keep the speaker-ID encoder fixed; train the heads only
    eval_every: int = 1000  # steps between held-out evaluations (0: only at the end)
    n_shape: int = 40  # shape coefficients predicted (the first n_shape of the references)
    n_expression: int = 10  # expression coefficients predicted (targets: 0)
    seed: int = 0  # head init, batch sampling and dropout


def load_supervised(path: Path | str, device: str = "cpu") -> SupervisedVoice2Mesh:
    """The model of a ``train_supervised`` checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path, map_location=device)
    config = state["config"]
    encoder_cfg = config["encoder"]
    encoder = VoiceEncoder(
        VoiceEncoderConfig(**{**encoder_cfg, "channels": tuple(encoder_cfg["channels"])})
    )
    model = SupervisedVoice2Mesh(
        encoder, config["n_shape"], config["n_expression"], config["dropout"]
    )
    model.load_state_dict(state["model"])
    return model.to(device).eval()


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


def _targets(
    speakers: tuple[str, ...], references: pd.DataFrame, reference_shape: np.ndarray, n_shape: int
) -> np.ndarray:
    """(S, n_shape) float32 raw reference shape of each speaker, in ``speakers`` order."""
    if reference_shape.shape[1] < n_shape:
        raise ValueError(
            f"references hold {reference_shape.shape[1]} shape coefficients, fewer than "
            f"n_shape = {n_shape}; lower supervised n_shape or refit (fit3dmm)"
        )
    row_of = {str(i): k for k, i in enumerate(references.identity)}
    return reference_shape[[row_of[s] for s in speakers], :n_shape].astype(np.float32)


def train_supervised(
    cfg: SupervisedConfig,
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    references: pd.DataFrame,
    reference_shape: np.ndarray,
    encoder_checkpoint: Path | str,
    device: str = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    checkpoint: Path | str | None = None,
    resume: bool = False,
    face_model: dict | None = None,
) -> tuple[SupervisedVoice2Mesh, list[dict], dict]:
    """Regress the reference shape of each training identity from its voice.

    Args:
        cfg: hyper-parameters.
        store: the features of every utterance.
        voices_manifest: the voices table (``identity``, ``split``).
        references: ``read_fits(...).references`` (``identity`` per row).
        reference_shape: (I, >= n_shape) raw reference shape coefficients, rows as
            ``references``; identities with non-finite rows are left out.
        encoder_checkpoint: a ``pretrain_voice`` checkpoint, the encoder's starting point.
        device: a resolved torch device ("cpu", "cuda", ...).
        progress: wraps the step iterator (e.g. ``tqdm``).
        checkpoint: written at every evaluation and at the end, and resumed from; None: not
            saved.
        resume: continue from ``checkpoint`` when that file exists.
        face_model: the ``face_model`` params the references were fitted with; stored in the
            checkpoint so that ``voice2mesh predict`` rebuilds the same mesh.

    Returns:
        ``(model, history, metrics)``: the trained model (eval mode, on ``device``); one dict
        per evaluation ``{step, loss, val_mse}`` (loss = mean over the steps since the previous
        evaluation); final metrics (loss, val_mse, its mean-prediction baseline, counts).
    """
    finite = np.isfinite(reference_shape).all(axis=1)
    with_ref = set(references.identity[finite].astype(str))
    train_ids = set(voices_manifest.loc[voices_manifest.split == "train", "identity"].astype(str))
    split = split_speakers(store.index, train_ids & with_ref)
    raw = _targets(split.speakers, references, reference_shape, cfg.n_shape)  # (S, Ks)
    mean = np.concatenate([raw.mean(axis=0), np.zeros(cfg.n_expression, np.float32)])
    std = np.concatenate([raw.std(axis=0), np.zeros(cfg.n_expression, np.float32)])

    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(cfg.seed)
        model = SupervisedVoice2Mesh(
            load_voice_encoder(encoder_checkpoint), cfg.n_shape, cfg.n_expression, cfg.dropout
        )
    model.set_target_stats(torch.from_numpy(mean), torch.from_numpy(std))
    if cfg.freeze_encoder:
        model.freeze_encoder()
    model.to(device)
    z_shape = ((raw - mean[: cfg.n_shape]) / model.target_std[: cfg.n_shape].cpu().numpy()).astype(
        np.float32
    )  # (S, Ks) normalised targets
    targets = torch.from_numpy(z_shape).to(device)
    batches = CropBatches(
        load_utterances(store, split.train),
        split.train_labels,
        batch_size=cfg.batch_size,
        crop_frames=cfg.crop_frames,
        n_batches=cfg.iterations,
        seed=cfg.seed,
    )
    val, val_targets = load_utterances(store, split.val), z_shape[split.val_labels]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=cfg.lr)
    config_dict = as_dict(cfg) | {
        "encoder": as_dict(model.encoder.config),
        "face_model": face_model,
    }
    start, history = 0, []
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        saved = {k: state["config"].get(k) for k in ("encoder", "n_shape", "n_expression")}
        saved["freeze_encoder"] = state["config"].get("freeze_encoder")
        wanted = {k: config_dict[k] for k in saved}
        if saved != wanted:
            raise ValueError(
                f"{checkpoint}: saved for {saved}, not {wanted}; delete it or set resume to false"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["extra"].get("history", []))

    model.train()
    losses: list[float] = []
    cuda = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # per-step dropout seeds, global RNG untouched
        for step in progress(range(start, cfg.iterations)):
            torch.manual_seed(cfg.seed * 1_000_003 + step)
            x, labels = batches[step]
            shape, expression = model(x.to(device))  # (B, Ks), (B, Ke)
            loss = F.mse_loss(shape, targets[labels.to(device)])
            if cfg.n_expression:
                loss = loss + F.mse_loss(expression, torch.zeros_like(expression))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            done = step + 1
            if done == cfg.iterations or (cfg.eval_every > 0 and done % cfg.eval_every == 0):
                val_mse = shape_mse(model, val, val_targets, device)
                history.append({"step": done, "loss": float(np.mean(losses)), "val_mse": val_mse})
                losses = []
                if checkpoint is not None:  # a crashed run resumes from its last evaluation
                    extra = {"identities": list(split.speakers), "history": history}
                    save_checkpoint(checkpoint, model, optimizer, done, config_dict, extra)

    model.eval()
    last = history[-1] if history else {"loss": None, "val_mse": None}
    metrics = {
        "final_loss": last["loss"],
        "val_mse": last["val_mse"],
        "val_mse_mean_baseline": float(np.mean(val_targets**2)) if len(val) else None,
        "n_train_identities": len(split.speakers),
        "n_train_utterances": len(split.train),
        "n_val_utterances": len(split.val),
        "iterations": cfg.iterations,
        "freeze_encoder": cfg.freeze_encoder,
    }
    return model, history, metrics
