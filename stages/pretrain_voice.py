"""Stage ``pretrain_voice``: speaker-ID pretraining of Wen et al.'s voice encoder.

Reads:  params ``pretrain_voice``, ``seed``, ``device``, ``intersect.out``, ``features.out``;
        ``data/manifest/voices.csv`` and ``data/features/``.
Writes: ``models/voice_encoder.pt`` (a ``voice_encoder`` model: weights, config, speakers),
        its resume state ``pretrain_voice.resume_state``, ``metrics/pretrain_voice.json``
        (held-out speaker accuracy, chance level, final loss, counts) and
        ``reports/plots/pretrain_voice.csv`` (step, loss, val_accuracy).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import save_model
from voice2mesh.config import Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json, write_rows
from voice2mesh.train.determinism import training_device
from voice2mesh.train.loop import Schedule
from voice2mesh.train.pretrain_voice import pretrain_voice

METRICS = Path("metrics/pretrain_voice.json")
PLOT = Path("reports/plots/pretrain_voice.csv")

log = logging.getLogger("stages.pretrain_voice")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities; write the model, metrics and plot data."""
    p = params.pretrain_voice
    device = training_device(params.device)
    voices = read_manifests(Path(params.intersect.out)).voices
    schedule = Schedule.of(p, params.seed, device, "pretrain_voice", quiet)
    trained = pretrain_voice(p, FeatureStore(params.features.out), voices, schedule)
    save_model(
        p.out, "voice_encoder", trained.model, as_dict(p), {"seed": params.seed}, trained.meta
    )
    out = trained.metrics
    log.info(
        "%s: held-out speaker accuracy %s (chance %.4f) over %d utterances of %d speakers",
        p.out,
        out["val_accuracy"],
        out["chance_accuracy"],
        out["n_val_utterances"],
        out["n_speakers"],
    )
    write_json(metrics, out)
    write_rows(plot, trained.history, ["step", "loss", "val_accuracy"])
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
