"""Stage ``train_supervised``: the supervised voice -> 3DMM coefficient regressor, once per seed.

Reads:  params ``supervised``, ``seed``, ``n_seeds``, ``device``, ``face_model``,
        ``intersect.out``, ``features.out``, ``fit3dmm.out``, ``pretrain_voice.out``;
        ``data/manifest/voices.csv``, ``data/features/``, ``data/fits/references.*`` and, for
        seed ``k``, the voice encoder ``models/voice_encoder/seed_<k>.pt``.
Writes: ``models/supervised/seed_<k>.pt`` for every seed ``k`` of ``Params.train_seeds`` (a
        ``supervised`` model: weights + target statistics, config, the ``face_model`` params,
        identities; nothing else in the folder), their resume states
        ``<supervised.resume_state>/seed_<k>.pt``, ``metrics/train_supervised.json`` (per seed
        and mean over seeds: final loss, held-out val_mse and its mean-prediction baseline,
        counts) and ``reports/plots/train_supervised.csv`` (seed, step, loss, val_mse).
Runs in ``distributed.nproc`` processes (``python -m voice2mesh.train.launch``; DDP, each rank
a shard of every batch, rank 0 writes; docs/distributed.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import save_model
from voice2mesh.config import Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.fitting.store import read_references
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.seeds import train_seeds, write_summary
from voice2mesh.train.supervised import held_out_summary, train_supervised

METRICS = Path("metrics/train_supervised.json")
PLOT = Path("reports/plots/train_supervised.csv")

log = logging.getLogger("stages.train_supervised")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities with references, once per seed (seed k on the voice
    encoder of seed k); write the models, metrics, plot."""
    p = params.supervised
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    references, reference_shape = read_references(Path(params.fit3dmm.out))
    voices = read_manifests(Path(params.intersect.out)).voices
    data = (FeatureStore(params.features.out), voices, references, reference_shape)
    face_model = as_dict(params.face_model)

    def train(seed: int, path: Path) -> Trained:
        name = f"train_supervised seed {seed}"
        schedule = Schedule.of(p, seed, device, name, quiet, p.state_path(seed), **accel)
        encoder = params.pretrain_voice.model_path(seed)
        trained = train_supervised(p, params.face_model, data, encoder, schedule)
        used = {"seed": seed, "face_model": face_model}
        if is_main():  # the other ranks trained the same model
            save_model(path, "supervised", trained.model, as_dict(p), used, trained.meta)
        log.info("%s: %s", p.model_path(seed), held_out_summary(trained.metrics))
        return trained

    runs = train_seeds(params.train_seeds, p.out, train)
    return write_summary(runs, metrics, plot, ["step", "loss", "val_mse"])


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
