"""Speaker-identification pretraining of Wen et al.'s voice encoder.

Adam + cross-entropy on random 300-800-frame crops (``voice_data.CropBatches``); every
``eval_every`` steps and at the end, top-1 speaker accuracy on the held-out utterances, each
fed whole (repeated to >= 1000 frames), one at a time since lengths differ.

Checkpoints (``save_checkpoint``) carry the weights, the optimizer state, the step, the resolved
config and the speaker list; with ``resume=True`` training continues from the checkpoint's step
to ``iterations``. Batches depend only on ``(seed, step)``, so a resumed run reproduces the
uninterrupted one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import as_dict
from voice2mesh.io import atomic_path
from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig
from voice2mesh.train.voice_data import MIN_FRAMES, CropBatches, load_utterances, split_speakers


@dataclass(frozen=True)
class PretrainVoiceConfig:
    """Hyper-parameters of the speaker-ID pretraining; the defaults are the paper's."""

    iterations: int = 50_000  # optimizer steps in total (also when resuming)
    batch_size: int = 128  # crops per step
    lr: float = 2e-4  # Adam learning rate
    crop_frames: tuple[int, int] = (300, 800)  # crop length range, one length per batch
    eval_every: int = 1000  # steps between held-out evaluations (0: only at the end)
    seed: int = 0  # weight init and batch sampling
    encoder: VoiceEncoderConfig = field(default_factory=VoiceEncoderConfig)


def save_checkpoint(
    path: Path | str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    config_dict: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights, optimizer state, step, config and ``extra`` to ``path`` atomically."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": step,
        "config": config_dict,
        "extra": extra or {},
    }
    buffer = io.BytesIO()  # torch names the archive after the file: a temp name would vary
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (keys: model, optimizer, step, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint; train first (dvc repro pretrain_voice)")
    state = torch.load(path, map_location=map_location, weights_only=True)
    missing = {"model", "optimizer", "step", "config", "extra"} - set(state)
    if missing:
        raise ValueError(f"{path}: not a voice2mesh checkpoint, keys {sorted(missing)} missing")
    return state


def load_voice_encoder(path: Path | str, device: str = "cpu") -> VoiceEncoder:
    """The pretrained encoder of a ``pretrain_voice`` checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path, map_location=device)
    encoder_cfg = state["config"]["encoder"]
    config = VoiceEncoderConfig(**{**encoder_cfg, "channels": tuple(encoder_cfg["channels"])})
    model = SpeakerClassifier(state["config"]["n_speakers"], config)
    model.load_state_dict(state["model"])
    return model.encoder.to(device).eval()


@torch.no_grad()
def speaker_accuracy(
    model: SpeakerClassifier, utterances: list[np.ndarray], labels: np.ndarray, device: str
) -> float | None:
    """Top-1 accuracy over whole utterances (each (T, 64), repeated to >= 1000 frames).

    Returns None when there is nothing to evaluate.
    """
    if not utterances:
        return None
    was_training = model.training
    model.eval()
    correct = 0
    for frames, label in zip(utterances, labels, strict=True):
        x = torch.from_numpy(repeat_to(frames, MIN_FRAMES).T.copy())[None].to(device)  # (1,64,T)
        correct += int(model(x).argmax(dim=1).item() == int(label))
    model.train(was_training)
    return correct / len(utterances)


def pretrain_voice(
    cfg: PretrainVoiceConfig,
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    device: str = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    checkpoint: Path | str | None = None,
    resume: bool = False,
) -> tuple[SpeakerClassifier, list[dict], dict]:
    """Train a ``SpeakerClassifier`` on the manifest's train-split identities.

    Args:
        cfg: hyper-parameters.
        store: the features of every utterance.
        voices_manifest: the voices table (``identity``, ``split``); identities with
            ``split == "train"`` are the classes.
        device: a resolved torch device ("cpu", "cuda", ...).
        progress: wraps the step iterator (e.g. ``tqdm``).
        checkpoint: written at every evaluation and at the end, and resumed from; None: not
            saved.
        resume: continue from ``checkpoint`` when that file exists.

    Returns:
        ``(model, history, metrics)``: the trained model (eval mode, on ``device``); one dict
        per evaluation ``{step, loss, val_accuracy}`` (loss = mean over the steps since the
        previous evaluation; val_accuracy None without held-out utterances); final metrics
        (accuracy, chance level, loss, counts).
    """
    train_ids = voices_manifest.loc[voices_manifest.split == "train", "identity"].astype(str)
    split = split_speakers(store.index, set(train_ids))
    n_speakers = len(split.speakers)
    batches = CropBatches(
        load_utterances(store, split.train),
        split.train_labels,
        batch_size=cfg.batch_size,
        crop_frames=cfg.crop_frames,
        n_batches=cfg.iterations,
        seed=cfg.seed,
    )
    val = load_utterances(store, split.val)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(cfg.seed)
        model = SpeakerClassifier(n_speakers, cfg.encoder).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    config_dict = as_dict(cfg) | {"n_speakers": n_speakers}
    start, history = 0, []
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        saved = state["config"]
        if (saved.get("encoder"), saved.get("n_speakers")) != (config_dict["encoder"], n_speakers):
            raise ValueError(
                f"{checkpoint}: saved for encoder {saved.get('encoder')} and "
                f"{saved.get('n_speakers')} speakers, not {config_dict['encoder']} and "
                f"{n_speakers}; delete it or set resume to false"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["extra"].get("history", []))

    model.train()
    losses: list[float] = []
    for step in progress(range(start, cfg.iterations)):
        x, y = batches[step]
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        done = step + 1
        if done == cfg.iterations or (cfg.eval_every > 0 and done % cfg.eval_every == 0):
            accuracy = speaker_accuracy(model, val, split.val_labels, device)
            history.append({"step": done, "loss": float(np.mean(losses)), "val_accuracy": accuracy})
            losses = []
            if checkpoint is not None:  # a crashed run resumes from its last evaluation
                extra = {"speakers": list(split.speakers), "history": history}
                save_checkpoint(checkpoint, model, optimizer, done, config_dict, extra)

    model.eval()
    last = history[-1] if history else {"loss": None, "val_accuracy": None}
    metrics = {
        "val_accuracy": last["val_accuracy"],
        "chance_accuracy": 1.0 / n_speakers,
        "final_loss": last["loss"],
        "n_speakers": n_speakers,
        "n_train_utterances": len(split.train),
        "n_val_utterances": len(split.val),
        "iterations": cfg.iterations,
    }
    return model, history, metrics
