"""Training the image -> 3DMM teacher on a labelled corpus (3DDFA's 300W-LP; here the corpus).

Data: ``teacher_data.build_corpus_dataset`` (3DDFA-V2 crops of the teacher corpus, 62-d labels
from its own parameters). Labels are whitened with the training rows' mean and std (a constant
coordinate keeps std 1); the statistics are buffers of the ``Teacher`` and are saved with it, as
3DDFA-V2 ships ``param_mean_std_62d_120x120.pkl``.

Loss: a weighted MSE over the 62 whitened parameters. ``loss_weights: whitened`` weighs every
coordinate alike (3DDFA's plain parameter-distance baseline); ``vertex`` (the default) weighs
each shape and expression coordinate by its label variance, normalised to mean 1 within its
block, so those blocks cost what their raw coefficient errors cost, i.e. the vertex error they
cause for an orthogonal basis (3DDFA's WPDC idea, with static weights); pose coordinates keep
weight 1. Adam with a one-cycle learning rate (30 % cosine warm-up from lr/25 to ``lr``, cosine
annealing to lr/1e4 over ``cycle_steps``), a function of the step only, so resumes reproduce
runs.

Held-out rows (the corpus's val identities) are only evaluated: ``val_mse`` is their
whitened-parameter MSE (predicting the training mean scores about 1), ``shape_rmse`` the RMSE of
their raw shape coefficients against the labels (``shape_error``), each with its
predict-the-training-mean baseline.

Batches depend only on ``(seed, step)`` and the initialisation only on ``seed``, so a resumed
run reproduces the uninterrupted one (``train.loop``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.config import TeacherParams
from voice2mesh.evaluation.stats import bootstrap_indices, percentile_ci
from voice2mesh.facemodel.bfm import N_POSE, N_SHAPE
from voice2mesh.models.mobilenet import crops_to_input
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.distributed import shard
from voice2mesh.train.loop import Schedule, Task, Trained, digest, final, fit, seeded, settings


def one_cycle_lr(step: int, cycle: int, peak: float) -> float:
    """The learning rate of ``step`` (0-based) under a one-cycle schedule of ``cycle`` steps
    (module docstring); past the cycle it stays at the floor. The cycle is its own param, not
    ``iterations``, so a run resumed with more iterations reproduces a longer one."""
    warm = max(1, round(0.3 * cycle))
    if step < warm:
        low, t = peak / 25, step / warm
        return low + (peak - low) * (1 - math.cos(math.pi * t)) / 2
    low, t = peak / 1e4, (step - warm) / max(1, cycle - warm)
    return low + (peak - low) * (1 + math.cos(math.pi * min(t, 1.0))) / 2


def loss_weights(std: np.ndarray, kind: str) -> np.ndarray:
    """(62,) per-coordinate weights of the whitened MSE (module docstring)."""
    weights = np.ones(len(std))
    if kind == "vertex":
        for block in (slice(N_POSE, N_POSE + N_SHAPE), slice(N_POSE + N_SHAPE, len(std))):
            variance = np.asarray(std[block], np.float64) ** 2
            weights[block] = variance / variance.mean()
    elif kind != "whitened":
        raise ValueError(f"loss_weights must be 'whitened' or 'vertex', got {kind!r}")
    return weights


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


def shape_ratio_interval(
    teacher: Teacher,
    crops: np.ndarray,
    labels: np.ndarray,
    identities: np.ndarray,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, float | int] | None:
    """How sure the held-out ``shape_rmse_ratio`` is: an identity bootstrap of it.

    The ratio is the teacher's raw shape RMSE over that of predicting its training mean
    (``teacher.param_mean``) on the same crops; an identity's photos share one shape, so the
    unit resampled is the identity. Returns ``ratio`` (on all crops), ``ci_low``, ``ci_high``
    and ``n_identities``; None without crops.
    """
    if not len(crops):
        return None
    shape = slice(N_POSE, N_POSE + N_SHAPE)
    truth = np.asarray(labels, np.float64)[:, shape]
    mean = teacher.param_mean.cpu().numpy().astype(np.float64)[shape]
    error = np.sum((teacher.predict_params(crops)[:, shape] - truth) ** 2, axis=1)  # (N,)
    spread = np.sum((truth - mean) ** 2, axis=1)  # (N,) the mean predictor's
    names, owner = np.unique(np.asarray(identities, str), return_inverse=True)
    error, spread = np.bincount(owner, error), np.bincount(owner, spread)  # per identity
    drawn = bootstrap_indices(len(names), n_resamples, seed)  # (B, S)
    ratios = np.sqrt(error[drawn].sum(axis=1) / spread[drawn].sum(axis=1))
    low, high = percentile_ci(ratios, confidence)
    return {
        "ratio": float(np.sqrt(error.sum() / spread.sum())),
        "ci_low": low,
        "ci_high": high,
        "n_identities": len(names),
    }


class TeacherTask(Task):
    """MobileNetV1 regressing the whitened 62 parameters of each training crop."""

    shards = True  # step trains ``net`` on this rank's rows of each batch

    def __init__(
        self,
        cfg: TeacherParams,
        crops: np.ndarray,
        labels: np.ndarray,
        holdout: np.ndarray,
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        labels = np.asarray(labels, np.float32)
        holdout = np.asarray(holdout, bool)
        if labels.shape != (len(crops), 62) or holdout.shape != (len(crops),):
            raise ValueError(
                f"train_teacher: crops {np.shape(crops)}, labels {labels.shape} and holdout "
                f"{holdout.shape} must have the same N (labels (N, 62))"
            )
        self.train_rows = np.flatnonzero(~holdout)
        if not len(self.train_rows):
            raise ValueError("train_teacher: every row is held out; nothing to train on")
        self.mean, self.std = _whitening(labels[self.train_rows].astype(np.float64))
        teacher = seeded(
            seed,
            lambda: Teacher(
                cfg.widen_factor, self.mean, self.std, cfg.input_size, cfg.arch, cfg.widths
            ),
        )
        self.model = teacher.to(device)
        self.targets = teacher.normalise(torch.as_tensor(labels, device=device))  # (N, 62)
        weights = loss_weights(self.std, cfg.loss_weights)
        self.weights = torch.as_tensor(weights, dtype=torch.float32, device=device)
        self.optims = {"adam": torch.optim.Adam(teacher.parameters(), lr=cfg.lr)}
        self.settings = settings(cfg)
        self.crops, self.held_crops, self.held_labels = crops, crops[holdout], labels[holdout]
        self.batch = min(cfg.batch_size, len(self.train_rows))
        self.cfg, self.seed, self.device = cfg, seed, device

    def data(self) -> dict:
        return {"n_train": len(self.train_rows), "digest": digest(self.crops, self.targets)}

    def step(self, step: int) -> dict[str, float]:
        rng = np.random.default_rng([self.seed, step])
        rows = shard(np.sort(rng.choice(self.train_rows, self.batch, replace=False)))
        prediction = self.net(crops_to_input(self.crops[rows], self.device))  # (B, 62)
        target = self.targets[torch.as_tensor(rows, device=self.device)]
        loss = (self.weights * (prediction - target) ** 2).mean()
        for group in self.optims["adam"].param_groups:
            group["lr"] = one_cycle_lr(step, self.cfg.cycle_steps, self.cfg.lr)
        self.optims["adam"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["adam"].step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, float | None]:
        return evaluate_teacher(self.model, self.held_crops, self.held_labels)

    def metrics(self, history: list[dict]) -> dict:
        """Final metrics with the predict-the-training-mean baselines."""
        last = final(history, "loss", "val_mse", "shape_rmse")
        shape = self.held_labels[:, N_POSE : N_POSE + N_SHAPE].astype(np.float64)
        baseline = shape - self.mean[N_POSE : N_POSE + N_SHAPE]
        held_z = (self.held_labels - self.mean) / self.std
        return {
            "final_loss": last["loss"],
            "val_mse": last["val_mse"],
            "val_mse_mean_baseline": float(np.mean(held_z**2)) if len(held_z) else None,
            "shape_rmse": last["shape_rmse"],
            "shape_rmse_mean_baseline": float(np.sqrt(np.mean(baseline**2)))
            if len(shape)
            else None,
            "n_train": len(self.train_rows),
            "n_holdout": len(self.held_crops),
            "arch": self.cfg.arch,
            "input_size": self.cfg.input_size,
        }


def train_teacher(
    cfg: TeacherParams,
    crops: np.ndarray,
    labels: np.ndarray,
    holdout: np.ndarray,
    schedule: Schedule,
) -> Trained:
    """Regress the 62 fitted parameters of each crop.

    Args:
        cfg: the ``teacher`` params.
        crops: (N, 120, 120, 3) uint8 BGR crops (``build_teacher_dataset``).
        labels: (N, 62) raw parameters, rows as ``crops``.
        holdout: (N,) bool, rows only evaluated (e.g. ``splits != "train"``).
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the teacher (eval mode), one history row per evaluation
        ``{step, loss, val_mse, shape_rmse}``, final metrics.
    """
    task = TeacherTask(cfg, crops, labels, holdout, schedule)
    return fit(task, schedule)
