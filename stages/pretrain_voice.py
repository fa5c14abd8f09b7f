"""Stage ``pretrain_voice``: speaker-ID pretraining of Wen et al.'s voice encoder, once per seed.

Reads:  params ``pretrain_voice``, ``seed``, ``n_seeds``, ``device``, ``intersect.out``,
        ``features.out``; ``data/manifest/voices.csv`` and ``data/features/``.
Writes: ``models/voice_encoder/seed_<k>.pt`` for every seed ``k`` of ``Params.train_seeds``
        (a ``voice_encoder`` model: weights, config, speakers; nothing else in the folder),
        their resume states ``<pretrain_voice.resume_state>/seed_<k>.pt``,
        ``metrics/pretrain_voice.json`` (per seed and mean over seeds: held-out speaker
        accuracy, chance level, final loss, counts) and ``reports/plots/pretrain_voice.csv``
        (seed, step, loss, val_accuracy).
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
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.pretrain_voice import pretrain_voice
from voice2mesh.train.seeds import train_seeds, write_summary

METRICS = Path("metrics/pretrain_voice.json")
PLOT = Path("reports/plots/pretrain_voice.csv")

log = logging.getLogger("stages.pretrain_voice")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities, once per seed; write the models, metrics, plot."""
    p = params.pretrain_voice
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    voices = read_manifests(Path(params.intersect.out)).voices
    store = FeatureStore(params.features.out)

    def train(seed: int, path: Path) -> Trained:
        name = f"pretrain_voice seed {seed}"
        schedule = Schedule.of(p, seed, device, name, quiet, p.state_path(seed), **accel)
        trained = pretrain_voice(p, store, voices, schedule)
        if is_main():  # the other ranks trained the same model
            save_model(
                path, "voice_encoder", trained.model, as_dict(p), {"seed": seed}, trained.meta
            )
        out = trained.metrics
        log.info(
            "%s: held-out speaker accuracy %s (chance %.4f) over %d utterances of %d speakers",
            p.model_path(seed),
            out["val_accuracy"],
            out["chance_accuracy"],
            out["n_val_utterances"],
            out["n_speakers"],
        )
        return trained

    runs = train_seeds(params.train_seeds, p.out, train)
    return write_summary(runs, metrics, plot, ["step", "loss", "val_accuracy"])


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
