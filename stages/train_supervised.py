"""Stage ``train_supervised``: the supervised voice -> 3DMM coefficient regressor.

Reads:  params ``supervised``, ``seed``, ``device``, ``face_model``, ``intersect.out``,
        ``features.out``, ``fit3dmm.out``, ``pretrain_voice.out``; ``data/manifest/voices.csv``,
        ``data/features/``, ``data/fits/references.*`` and ``models/voice_encoder.pt``.
Writes: ``models/supervised.pt`` (a ``supervised`` model: weights + target statistics, config,
        the ``face_model`` params, identities), its resume state
        ``supervised.resume_state``, ``metrics/train_supervised.json`` (final loss, held-out
        val_mse and its mean-prediction baseline, counts) and
        ``reports/plots/train_supervised.csv`` (step, loss, val_mse).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import save_model
from voice2mesh.config import Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.fitting.store import read_fits
from voice2mesh.io import write_json, write_rows
from voice2mesh.train.determinism import training_device
from voice2mesh.train.loop import Schedule
from voice2mesh.train.supervised import train_supervised

METRICS = Path("metrics/train_supervised.json")
PLOT = Path("reports/plots/train_supervised.csv")

log = logging.getLogger("stages.train_supervised")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities with references; write model, metrics, plot."""
    p = params.supervised
    device = training_device(params.device)
    fits = read_fits(Path(params.fit3dmm.out))
    voices = read_manifests(Path(params.intersect.out)).voices
    data = (FeatureStore(params.features.out), voices, fits.references, fits.reference_shape)
    schedule = Schedule.of(p, params.seed, device, "train_supervised", quiet)
    trained = train_supervised(p, params.face_model, data, params.pretrain_voice.out, schedule)
    used = {"seed": params.seed, "face_model": as_dict(params.face_model)}
    save_model(p.out, "supervised", trained.model, as_dict(p), used, trained.meta)
    out = trained.metrics
    log.info(
        "%s: held-out shape MSE %s (mean prediction %s) over %d utterances of %d identities",
        p.out,
        out["val_mse"],
        out["val_mse_mean_baseline"],
        out["n_val_utterances"],
        out["n_train_identities"],
    )
    write_json(metrics, out)
    write_rows(plot, trained.history, ["step", "loss", "val_mse"])
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
