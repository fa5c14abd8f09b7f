"""Training the image -> 3DMM teacher (3DDFA-V2's MobileNetV1) on the fitted face images.

Data: ``teacher_data.build_teacher_dataset`` (3DDFA-V2 crops, 62-d labels from the fits).
Labels are whitened with the training rows' mean and std (a constant coordinate, e.g. the depth
offset of a pose fitted without depth, keeps std 1); the statistics are buffers of the
``Teacher`` and are saved with it, as 3DDFA-V2 ships ``param_mean_std_62d_120x120.pkl``.

Loss: MSE over the 62 whitened parameters (3DDFA's plain parameter-distance baseline; 3DDFA-V2
itself trains on 300W-LP with its meta-joint WPDC/VDC losses and short-video augmentation for
many epochs, out of reach of a CPU budget), Adam, no augmentation.

Held-out rows (e.g. the test-split identities' images) are only evaluated: ``val_mse`` is their
whitened-parameter MSE (predicting the training mean scores about 1), ``shape_rmse`` the RMSE of
their raw shape coefficients against the fitted labels (``shape_error``), each with its
predict-the-training-mean baseline.

Batches depend only on ``(seed, step)`` and the initialisation only on ``seed``, so a resumed
run reproduces the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.config import as_dict
from voice2mesh.facemodel.bfm import N_POSE, N_SHAPE
from voice2mesh.models.mobilenet import crops_to_input
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.pretrain_voice import load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class TeacherConfig:
    """Hyper-parameters, sized for about a minute on busy CPU cores.

    The comments give Wu et al.'s training settings (Adam, batch 128, 50K iterations); their
    teacher itself is a released 3DDFA-V2 MobileNetV1 (``Teacher.from_3ddfa_checkpoint``).

    On an oversubscribed machine run torch on one thread: depthwise convolutions were ~15x
    slower with 2 threads on 2 busy cores than with 1.
    """

    iterations: int = 300  # optimizer steps in total (also when resuming); paper: 50000
    batch_size: int = 16  # crops per step; paper: 128
    lr: float = 1e-3  # Adam learning rate; paper: 2e-4
    widen_factor: float = 0.25  # MobileNetV1 width; 3DDFA-V2 ships 1.0 (mb1) and 0.5 (mb05)
    eval_every: int = 100  # steps between held-out evaluations (0: only at the end)
    seed: int = 0  # initialisation and batch sampling


def _whitening(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(62,) mean and std of the training labels; std 1 where a coordinate is constant."""
    mean, std = labels.mean(axis=0), labels.std(axis=0)
    return mean, np.where(std > 1e-12 * (1 + np.abs(mean)), std, 1.0)


@torch.no_grad()
def predict_whitened(teacher: Teacher, crops: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """(N, 62) whitened predictions on the teacher's device, in eval mode."""
    was_training, device = teacher.training, teacher.param_mean.device
    teacher.eval()
    out = [
        teacher(crops_to_input(crops[i : i + batch_size], device))
        for i in range(0, len(crops), batch_size)
    ]
    teacher.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, teacher.param_mean.numel()), device=device)


def shape_error(teacher: Teacher, crops: np.ndarray, shapes: np.ndarray) -> float | None:
    """RMSE of the predicted raw shape coefficients against ``shapes`` (N, Ks), Ks <= 40.

    Compares the first Ks predicted coefficients; None when there are no crops.
    """
    shapes = np.asarray(shapes, np.float64)
    if shapes.ndim != 2 or shapes.shape[1] > N_SHAPE or len(shapes) != len(crops):
        raise ValueError(f"shapes must be ({len(crops)}, <= {N_SHAPE}), got {shapes.shape}")
    if not len(crops):
        return None
    predicted = teacher.predict_params(crops)[:, N_POSE : N_POSE + shapes.shape[1]]
    return float(np.sqrt(np.mean((predicted - shapes) ** 2)))


def evaluate_teacher(teacher: Teacher, crops: np.ndarray, labels: np.ndarray) -> dict:
    """Held-out whitened-parameter MSE and raw shape RMSE of ``teacher`` on labelled crops."""
    if not len(crops):
        return {"val_mse": None, "shape_rmse": None}
    z = teacher.normalise(torch.as_tensor(labels, device=teacher.param_mean.device))
    val_mse = F.mse_loss(predict_whitened(teacher, crops), z).item()
    shape_rmse = shape_error(teacher, crops, labels[:, N_POSE : N_POSE + N_SHAPE])
    return {"val_mse": val_mse, "shape_rmse": shape_rmse}


def train_teacher(
    cfg: TeacherConfig,
    crops: np.ndarray,
    labels: np.ndarray,
    holdout: np.ndarray,
    device: str = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    checkpoint: Path | str | None = None,
    resume: bool = False,
) -> tuple[Teacher, list[dict], dict]:
    """Regress the 62 fitted parameters of each crop.

    Args:
        cfg: hyper-parameters.
        crops: (N, 120, 120, 3) uint8 BGR crops (``build_teacher_dataset``).
        labels: (N, 62) raw parameters, rows as ``crops``.
        holdout: (N,) bool, rows only evaluated (e.g. ``splits != "train"``).
        device: a resolved torch device ("cpu", "cuda", ...).
        progress: wraps the step iterator (e.g. ``tqdm``).
        checkpoint: written at every evaluation and at the end (``Teacher.load`` reads it), and
            resumed from; None: not saved.
        resume: continue from ``checkpoint`` when that file exists.

    Returns:
        ``(teacher, history, metrics)``: the trained teacher (eval mode, on ``device``); one
        dict per evaluation ``{step, loss, val_mse, shape_rmse}`` (loss = mean over the steps
        since the previous evaluation); final metrics with the mean-prediction baselines.
    """
    labels = np.asarray(labels, np.float32)
    holdout = np.asarray(holdout, bool)
    if labels.shape != (len(crops), 62) or holdout.shape != (len(crops),):
        raise ValueError(
            f"train_teacher: crops {np.shape(crops)}, labels {labels.shape} and holdout "
            f"{holdout.shape} must have the same N (labels (N, 62))"
        )
    train_rows = np.flatnonzero(~holdout)
    if not len(train_rows):
        raise ValueError("train_teacher: every row is held out; nothing to train on")
    mean, std = _whitening(labels[train_rows].astype(np.float64))
    config_dict = as_dict(cfg)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(cfg.seed)
        teacher = Teacher(cfg.widen_factor, mean, std, config_dict)
    teacher.to(device)
    targets = teacher.normalise(torch.as_tensor(labels, device=device))  # (N, 62)
    optimizer = torch.optim.Adam(teacher.parameters(), lr=cfg.lr)
    start, history = 0, []
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        if state["config"].get("widen_factor") != cfg.widen_factor:
            raise ValueError(
                f"{checkpoint}: saved with widen_factor {state['config'].get('widen_factor')}, "
                f"not {cfg.widen_factor}; delete it or set resume to false"
            )
        teacher.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["extra"].get("history", []))

    held_crops, held_labels = crops[holdout], labels[holdout]
    batch = min(cfg.batch_size, len(train_rows))
    teacher.train()
    losses: list[float] = []
    for step in progress(range(start, cfg.iterations)):
        rows = np.sort(np.random.default_rng([cfg.seed, step]).choice(train_rows, batch, False))
        prediction = teacher(crops_to_input(crops[rows], device))  # (B, 62)
        loss = F.mse_loss(prediction, targets[torch.as_tensor(rows, device=device)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        done = step + 1
        if done == cfg.iterations or (cfg.eval_every > 0 and done % cfg.eval_every == 0):
            scores = evaluate_teacher(teacher, held_crops, held_labels)
            history.append({"step": done, "loss": float(np.mean(losses)), **scores})
            losses = []
            if checkpoint is not None:  # a crashed run resumes from its last evaluation
                save_checkpoint(
                    checkpoint, teacher, optimizer, done, config_dict, {"history": history}
                )

    teacher.eval()
    last = history[-1] if history else {"loss": None, "val_mse": None, "shape_rmse": None}
    shape = held_labels[:, N_POSE : N_POSE + N_SHAPE].astype(np.float64)
    baseline = shape - mean[N_POSE : N_POSE + N_SHAPE]
    held_z = (held_labels - mean) / std
    metrics = {
        "final_loss": last["loss"],
        "val_mse": last["val_mse"],
        "val_mse_mean_baseline": float(np.mean(held_z**2)) if len(held_z) else None,
        "shape_rmse": last["shape_rmse"],
        "shape_rmse_mean_baseline": float(np.sqrt(np.mean(baseline**2))) if len(shape) else None,
        "n_train": len(train_rows),
        "n_holdout": int(holdout.sum()),
        "iterations": cfg.iterations,
        "widen_factor": cfg.widen_factor,
    }
    return teacher, history, metrics
