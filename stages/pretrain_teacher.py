"""Stage ``pretrain_teacher``: the image -> 3DMM teacher (3DDFA-V2 MobileNetV1).

Reads:  params ``teacher``, ``seed``, ``device``, ``face_model``, ``fit3dmm.out``,
        ``landmarks.out``; the fits, the landmarks and the face images they name (never the
        synthetic truth).
Writes: ``models/teacher.pt`` (a ``teacher`` model), its resume state
        ``teacher.resume_state``, ``metrics/pretrain_teacher.json`` (held-out
        whitened-parameter MSE and shape-coefficient RMSE against the fits, with their
        predict-the-mean baselines; counts) and ``reports/plots/pretrain_teacher.csv``. With
        ``teacher.checkpoint`` set, a 3DDFA-V2 checkpoint is converted instead of trained and
        measured on the same held-out crops.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.common import stage_args
from voice2mesh.checkpoint import save_model
from voice2mesh.config import ConfigError, Params, as_dict, load_params
from voice2mesh.io import write_json, write_rows
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.determinism import training_device
from voice2mesh.train.loop import Schedule
from voice2mesh.train.teacher import evaluate_teacher, train_teacher
from voice2mesh.train.teacher_data import build_teacher_dataset

METRICS = Path("metrics/pretrain_teacher.json")
PLOT = Path("reports/plots/pretrain_teacher.csv")

log = logging.getLogger("stages.pretrain_teacher")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train (or convert) the teacher; write it, its held-out accuracy and its curve."""
    p = params.teacher
    device = training_device(params.device)
    data = build_teacher_dataset(params.fit3dmm.out, params.landmarks.out)
    holdout = data.splits == "val"  # the validation identities; test (A–E) is never read
    used = {"seed": params.seed, "face_model": as_dict(params.face_model)}
    if p.checkpoint is not None:
        if p.param_mean_std is None:
            raise ConfigError("teacher.checkpoint needs teacher.param_mean_std (3DDFA-V2's .pkl)")
        teacher = Teacher.from_3ddfa_checkpoint(p.checkpoint, p.param_mean_std, p.widen_factor)
        history = []
        out = evaluate_teacher(teacher.to(device), data.crops[holdout], data.labels[holdout])
        save_model(p.out, "teacher", teacher, as_dict(p), used, {"source": str(p.checkpoint)})
    else:
        schedule = Schedule.of(p, params.seed, device, "pretrain_teacher", quiet)
        trained = train_teacher(p, data.crops, data.labels, holdout, schedule)
        history, out = trained.history, trained.metrics
        save_model(p.out, "teacher", trained.model, as_dict(p), used, {"source": "trained"})
    out |= {
        "n_images": len(data.crops),
        "n_holdout": int(np.sum(holdout)),
        "n_unreadable_images": len(data.skipped),
    }
    out["source"] = p.checkpoint or "trained"
    log.info(
        "%s: held-out shape RMSE %s (mean prediction %s)",
        p.out,
        out.get("shape_rmse"),
        out.get("shape_rmse_mean_baseline"),
    )
    write_json(metrics, out)
    write_rows(plot, history, ["step", "loss", "val_mse", "shape_rmse"])
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
