"""Stage ``pretrain_teacher``: the image -> 3DMM teacher, trained on the teacher corpus.

Reads:  params ``teacher``, ``teacher_corpus.root``, ``seed``, ``device``, ``face_model``,
        ``fit3dmm.out``, ``landmarks.out``, ``evaluate.n_resamples``, ``evaluate.confidence``;
        the teacher corpus (photos + labels of a separate population, as 3DDFA's 300W-LP),
        and the validation identities' fits, landmarks and photos (never a test identity,
        never the synthetic truth).
Writes: ``models/teacher.pt`` (a ``teacher`` model), its resume state ``teacher.resume_state``,
        ``metrics/pretrain_teacher.json`` (on the corpus's held-out identities: whitened-parameter
        MSE and shape-coefficient RMSE with their predict-the-mean baselines and their ratio,
        ``shape_rmse_ratio_by_identity`` its identity-bootstrap interval (the evaluation's
        resamples and confidence);
        ``vs_fits``: the same against the fits of the Voxceleb-3D validation identities' photos,
        those with a pose: an imported release's have none, counted as ``n_without_pose``;
        counts) and ``reports/plots/pretrain_teacher.csv``. With ``teacher.checkpoint`` set, a
        3DDFA-V2 checkpoint is converted instead of trained and measured the same way.
Runs in ``distributed.nproc`` processes (``python -m voice2mesh.train.launch``; DDP, each rank
a shard of every batch, rank 0 writes; docs/distributed.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.common import stage_args
from voice2mesh.checkpoint import save_model
from voice2mesh.config import ConfigError, Params, as_dict, load_params
from voice2mesh.facemodel.bfm import N_POSE, N_SHAPE
from voice2mesh.io import write_json, write_rows
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Schedule
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.teacher import evaluate_teacher, shape_ratio_interval, train_teacher
from voice2mesh.train.teacher_data import build_corpus_dataset, build_teacher_dataset

METRICS = Path("metrics/pretrain_teacher.json")
PLOT = Path("reports/plots/pretrain_teacher.csv")

log = logging.getLogger("stages.pretrain_teacher")


def _mean_baseline(labels: np.ndarray, mean: np.ndarray) -> float | None:
    """Shape RMSE of predicting ``mean`` (the teacher's training mean) for ``labels`` (N, 62)."""
    shape = slice(N_POSE, N_POSE + N_SHAPE)
    return float(np.sqrt(np.mean((labels[:, shape] - mean[shape]) ** 2))) if len(labels) else None


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train (or convert) the teacher; write it, its held-out accuracy and its curve."""
    p = params.teacher
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    corpus = build_corpus_dataset(params.teacher_corpus.root)
    holdout = corpus.splits == "val"  # the corpus's own held-out identities
    used = {"seed": params.seed, "face_model": as_dict(params.face_model)}
    if p.checkpoint is not None:
        if p.param_mean_std is None:
            raise ConfigError("teacher.checkpoint needs teacher.param_mean_std (3DDFA-V2's .pkl)")
        teacher = Teacher.from_3ddfa_checkpoint(p.checkpoint, p.param_mean_std, p.widen_factor)
        teacher = teacher.to(device)
        history = []
        out = evaluate_teacher(teacher, corpus.crops[holdout], corpus.labels[holdout])
        out["shape_rmse_mean_baseline"] = _mean_baseline(
            corpus.labels[holdout], teacher.param_mean.cpu().numpy()
        )
        if is_main():  # every rank holds the same teacher
            save_model(p.out, "teacher", teacher, as_dict(p), used, {"source": str(p.checkpoint)})
    else:
        schedule = Schedule.of(p, params.seed, device, "pretrain_teacher", quiet, **accel)
        trained = train_teacher(p, corpus.crops, corpus.labels, holdout, schedule)
        teacher, history, out = trained.model, trained.history, trained.metrics
        if is_main():  # every rank holds the same teacher
            save_model(p.out, "teacher", teacher, as_dict(p), used, {"source": "trained"})
    fits = build_teacher_dataset(params.fit3dmm.out, params.landmarks.out, splits=("val",))
    posed = np.isfinite(fits.labels).all(axis=1)  # an imported release's fits have no pose
    vs_fits = evaluate_teacher(teacher, fits.crops[posed], fits.labels[posed])
    vs_fits["shape_rmse_mean_baseline"] = _mean_baseline(
        fits.labels[posed], teacher.param_mean.cpu().numpy()
    )
    baseline = out.get("shape_rmse_mean_baseline")
    out |= {
        "shape_rmse_ratio": out["shape_rmse"] / baseline if baseline else None,
        "shape_rmse_ratio_by_identity": shape_ratio_interval(
            teacher,
            corpus.crops[holdout],
            corpus.labels[holdout],
            corpus.identities[holdout],
            params.evaluate.n_resamples,
            params.seed,
            params.evaluate.confidence,
        ),
        "vs_fits": vs_fits | {"n_images": int(posed.sum()), "n_without_pose": int((~posed).sum())},
        "n_images": len(corpus.crops),
        "n_holdout": int(np.sum(holdout)),
        "n_unreadable_images": len(corpus.skipped) + len(fits.skipped),
        "source": p.checkpoint or "trained",
    }
    log.info(
        "%s: held-out corpus shape RMSE %s (mean prediction %s)",
        p.out,
        out.get("shape_rmse"),
        baseline,
    )
    if is_main():
        write_json(metrics, out)
        write_rows(plot, history, ["step", "loss", "val_mse", "shape_rmse"])
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
