"""Stage ``train_unsupervised`` (and ``kd_ablation@<method>``): joint GAN + student training.

Reads:  params ``kd``, ``gan``, ``seed``, ``device``, ``intersect.out``, ``features.out``,
        ``fit3dmm.out``, ``landmarks.out``, ``teacher.out``; the manifests, features, the
        training faces (teacher crops, 64 x 64), ``models/gan_baseline.pt`` and
        ``models/teacher.pt``.
Writes: ``kd.out`` (``models/unsupervised.pt``, method ``kd.method``) with
        ``metrics/train_unsupervised.json`` and ``reports/plots/train_unsupervised.csv``; or,
        with ``--method M`` (the ``kd_ablation@M`` stages, Table 5), ``<kd.ablation_out>/M.pt``
        with ``metrics/kd_ablation/M.json`` and ``reports/plots/kd_ablation/M.csv``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.distill import REGISTRY
from voice2mesh.io import write_json, write_rows
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.determinism import make_deterministic
from voice2mesh.train.teacher_data import build_teacher_dataset, gan_faces
from voice2mesh.train.unsupervised import UnsupervisedConfig, train_unsupervised

METRICS, PLOTS = Path("metrics"), Path("reports/plots")
COLUMNS = ["step", "student_loss", "param_loss", "kd_loss", "d_loss", "g_loss", "distill_mse"]

log = logging.getLogger("stages.train_unsupervised")


def outputs(
    params: Params, method: str | None, metrics: Path = METRICS, plots: Path = PLOTS
) -> tuple[str, Path, Path, Path]:
    """``(method, checkpoint, metrics, plot)`` of the unsupervised model or of an ablation."""
    if method is None:
        name = "train_unsupervised"
        return (
            params.kd.method,
            Path(params.kd.out),
            metrics / f"{name}.json",
            plots / f"{name}.csv",
        )
    return (
        method,
        Path(params.kd.ablation_out) / f"{method}.pt",
        metrics / "kd_ablation" / f"{method}.json",
        plots / "kd_ablation" / f"{method}.csv",
    )


def run(
    params: Params,
    method: str | None = None,
    quiet: bool = False,
    metrics_dir: Path = METRICS,
    plots_dir: Path = PLOTS,
) -> dict:
    """Train one model (``method`` None: the unsupervised model of ``kd.method``)."""
    p = params.kd
    method, out, metrics, plot = outputs(params, method, metrics_dir, plots_dir)
    if method not in REGISTRY or method not in p.weights:
        raise ValueError(
            f"KD method {method!r}: need one of {', '.join(REGISTRY)} with a weight in "
            f"kd.weights (params.yaml)"
        )
    cfg = UnsupervisedConfig(
        iterations=p.iterations,
        batch_size=p.batch_size,
        lr=p.lr,
        gan_lr=params.gan.lr,
        noise=params.gan.noise,
        voice_crops=params.gan.voice_crops,
        student_width=p.student_width,
        kd_method=method,
        kd_weight=p.weights[method],
        param_weight=p.param_weight,
        eval_every=p.eval_every,
        seed=params.seed,
    )
    make_deterministic()
    device = resolve_device(params.device)
    images, identities = gan_faces(build_teacher_dataset(params.fit3dmm.out, params.landmarks.out))
    bar = lambda it: tqdm(it, desc=f"train_unsupervised[{method}]", disable=quiet)  # noqa: E731
    _, history, result = train_unsupervised(
        cfg,
        FeatureStore(params.features.out),
        read_manifests(Path(params.intersect.out)).voices,
        images,
        identities,
        Path(params.gan.out),
        Teacher.load(params.teacher.out, device),
        device,
        bar,
        out,
        p.resume,
    )
    log.info("%s: held-out student-teacher MSE %s", out, result["distill_mse"])
    write_json(metrics, result)
    write_rows(plot, history, COLUMNS)
    return result


def _method_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=list(REGISTRY),
        default=None,
        help="train the Table 5 ablation model of this KD method instead of the unsupervised model",
    )


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv, _method_option)
    run(load_params(args.params), args.method, quiet=args.quiet)


if __name__ == "__main__":
    main()
