"""Stage ``kd_ablation@<method>``: joint GAN + student training with one KD method, per seed.

One model per ``distill.REGISTRY`` key and seed (Table 5); the unsupervised row of Tables 1-4
is the model of ``kd.method`` (the paper's: pkt), so choosing another method retrains nothing.

Reads:  params ``kd`` (not ``kd.method``), ``gan``, ``seed``, ``n_seeds``, ``device``,
        ``face_model``, ``intersect.out``, ``features.out``, ``fit3dmm.out``,
        ``landmarks.out``, ``teacher.out``; the manifests, features, the training faces
        (teacher crops, 64 x 64), the one teacher ``models/teacher.pt`` and, for seed ``k``,
        the GAN ``models/gan_baseline/seed_<k>.pt`` and its voice bank
        ``<gan.banks>/seed_<k>.npz`` (used only if embedded from these very inputs).
Writes: ``<kd.out>/<method>/seed_<k>.pt`` for every seed ``k`` of ``Params.train_seeds`` (an
        ``unsupervised`` model; nothing else in the folder), their resume states
        ``<kd.resume_state>/<method>/seed_<k>.pt``, ``metrics/kd_ablation/<method>.json`` (per
        seed and mean over seeds) and ``reports/plots/kd_ablation/<method>.csv`` (a leading
        seed column).
Under ``torchrun`` (``distributed.nproc`` > 1) every rank trains every seed on its shard of
each batch, the KD losses on the gathered global batch (``train.global_batch``); rank 0 alone
writes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import load_model, save_model
from voice2mesh.config import KD_METHODS, Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.seeds import train_seeds, write_summary
from voice2mesh.train.teacher_data import build_teacher_dataset, gan_faces
from voice2mesh.train.unsupervised import CURVE_KEYS, kd_config, train_unsupervised
from voice2mesh.train.voice_banks import VoiceBanks

METRICS, PLOTS = Path("metrics/kd_ablation"), Path("reports/plots/kd_ablation")
COLUMNS = ["step", *CURVE_KEYS]

log = logging.getLogger("stages.kd_ablation")


def run(
    params: Params,
    method: str,
    quiet: bool = False,
    metrics_dir: Path = METRICS,
    plots_dir: Path = PLOTS,
) -> dict:
    """Train ``method``'s model once per seed (seed k from the GAN of seed k); write the models,
    their metrics and curves."""
    kd = params.kd
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    inputs = (
        FeatureStore(params.features.out),
        read_manifests(Path(params.intersect.out)).voices,
        gan_faces(build_teacher_dataset(params.fit3dmm.out, params.landmarks.out)),
        VoiceBanks(params.gan.banks),  # train_gan's: the same crops, embedded once
    )
    teacher = load_model(params.teacher.out, device, ("teacher",), "the unsupervised training")
    config = (kd, params.gan, method, params.face_model)
    own = kd_config(kd, params.gan, method)
    used = {"face_model": as_dict(params.face_model)}

    def train(seed: int, path: Path) -> Trained:
        name = f"kd_ablation@{method} seed {seed}"
        schedule = Schedule.of(kd, seed, device, name, quiet, kd.state_path(method, seed), **accel)
        models = (params.gan.model_path(seed), teacher)
        trained = train_unsupervised(config, inputs, models, schedule)
        if is_main():  # the other ranks trained the same model
            save_model(
                path, "unsupervised", trained.model, own, {"seed": seed} | used, trained.meta
            )
        out = trained.metrics
        log.info(
            "%s: held-out student-teacher MSE %s", kd.model_path(method, seed), out["distill_mse"]
        )
        return trained

    runs = train_seeds(params.train_seeds, kd.model_folder(method), train)
    return write_summary(runs, metrics_dir / f"{method}.json", plots_dir / f"{method}.csv", COLUMNS)


def _method_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", choices=list(KD_METHODS), required=True, help="the KD method to train with"
    )


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv, _method_option)
    run(load_params(args.params), args.method, quiet=args.quiet)


if __name__ == "__main__":
    main()
