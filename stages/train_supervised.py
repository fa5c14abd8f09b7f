"""Stage ``train_supervised``: the supervised voice -> 3DMM coefficient regressor.

Reads:  params ``supervised``, ``seed``, ``device``, ``intersect.out``, ``features.out``,
        ``fit3dmm.out``, ``pretrain_voice.out``, ``face_model.n_shape``,
        ``face_model.n_expression``; ``data/manifest/voices.csv``, ``data/features/``,
        ``data/fits/references.*`` and ``models/voice_encoder.pt``.
Writes: ``models/supervised.pt`` (weights + target statistics + optimizer + step + resolved
        config + identities), ``metrics/train_supervised.json`` (final loss, held-out val_mse and
        its mean-prediction baseline, counts) and ``reports/plots/train_supervised.csv`` (step,
        loss, val_mse).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import Params, as_dict, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.fitting.store import read_fits
from voice2mesh.io import write_json, write_rows
from voice2mesh.train.determinism import make_deterministic
from voice2mesh.train.supervised import SupervisedConfig, train_supervised

METRICS = Path("metrics/train_supervised.json")
PLOT = Path("reports/plots/train_supervised.csv")

log = logging.getLogger("stages.train_supervised")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities with references; write checkpoint, metrics, plot."""
    p = params.supervised
    cfg = SupervisedConfig(
        iterations=p.iterations,
        batch_size=p.batch_size,
        lr=p.lr,
        crop_frames=p.crop_frames,
        dropout=p.dropout,
        freeze_encoder=p.freeze_encoder,
        eval_every=p.eval_every,
        n_shape=params.face_model.n_shape,
        n_expression=params.face_model.n_expression,
        seed=params.seed,
    )
    make_deterministic()
    device = resolve_device(params.device)
    fits = read_fits(Path(params.fit3dmm.out))
    bar = lambda it: tqdm(it, desc="train_supervised", disable=quiet)  # noqa: E731
    _, history, counts = train_supervised(
        cfg,
        FeatureStore(params.features.out),
        read_manifests(Path(params.intersect.out)).voices,
        fits.references,
        fits.reference_shape,
        Path(params.pretrain_voice.out),
        device,
        progress=bar,
        checkpoint=Path(p.out),
        resume=p.resume,
        face_model=as_dict(params.face_model),
    )
    log.info(
        "%s: held-out shape MSE %s (mean prediction %s) over %d utterances of %d identities",
        p.out,
        counts["val_mse"],
        counts["val_mse_mean_baseline"],
        counts["n_val_utterances"],
        counts["n_train_identities"],
    )
    write_json(metrics, counts)
    write_rows(plot, history, ["step", "loss", "val_mse"])
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
