"""Stage ``pretrain_voice``: speaker-ID pretraining of Wen et al.'s voice encoder.

Reads:  params ``pretrain_voice``, ``seed``, ``device``, ``intersect.out``, ``features.out``;
        ``data/manifest/voices.csv`` and ``data/features/``.
Writes: ``models/voice_encoder.pt`` (weights + optimizer + step + resolved config + speakers),
        ``metrics/pretrain_voice.json`` (held-out speaker accuracy, chance level, final loss,
        counts) and ``reports/plots/pretrain_voice.csv`` (step, loss, val_accuracy).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json, write_rows
from voice2mesh.models.voice_encoder import VoiceEncoderConfig
from voice2mesh.train.determinism import make_deterministic
from voice2mesh.train.pretrain_voice import PretrainVoiceConfig, pretrain_voice

METRICS = Path("metrics/pretrain_voice.json")
PLOT = Path("reports/plots/pretrain_voice.csv")

log = logging.getLogger("stages.pretrain_voice")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities; write the checkpoint, metrics and plot data."""
    p = params.pretrain_voice
    cfg = PretrainVoiceConfig(
        iterations=p.iterations,
        batch_size=p.batch_size,
        lr=p.lr,
        crop_frames=p.crop_frames,
        eval_every=p.eval_every,
        seed=params.seed,
        encoder=VoiceEncoderConfig(channels=p.channels),
    )
    make_deterministic()
    device = resolve_device(params.device)
    voices = read_manifests(Path(params.intersect.out)).voices
    bar = lambda it: tqdm(it, desc="pretrain_voice", disable=quiet)  # noqa: E731
    _, history, counts = pretrain_voice(
        cfg,
        FeatureStore(params.features.out),
        voices,
        device,
        progress=bar,
        checkpoint=Path(p.out),
        resume=p.resume,
    )
    log.info(
        "%s: held-out speaker accuracy %s (chance %.4f) over %d utterances of %d speakers",
        p.out,
        counts["val_accuracy"],
        counts["chance_accuracy"],
        counts["n_val_utterances"],
        counts["n_speakers"],
    )
    write_json(metrics, counts)
    write_rows(plot, history, ["step", "loss", "val_accuracy"])
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
