"""Stage ``train_supervised_ge2e``: the supervised regressor on GE2E embeddings, once per seed.

Reads:  params ``supervised_ge2e``, ``seed``, ``n_seeds``, ``device``, ``face_model``,
        ``intersect.out``, ``intersect.source``, ``fit3dmm.out``, ``ge2e.out``;
        ``data/manifest/voices.csv``, the ``embed_ge2e`` folder and ``data/fits/references.*``.
Writes: ``models/supervised_ge2e/seed_<k>.pt`` for every seed ``k`` of ``Params.train_seeds``
        (a ``supervised_ge2e`` model: weights + target statistics, config, the ``face_model``
        and ``ge2e`` params (the weights' hash: ``predict`` embeds with the same), identities),
        their resume states ``<supervised_ge2e.resume_state>/seed_<k>.pt``,
        ``metrics/train_supervised_ge2e.json`` (per seed and mean over seeds: final loss,
        held-out val_mse and its mean-prediction baseline, counts) and
        ``reports/plots/train_supervised_ge2e.csv`` (seed, step, loss, val_mse).
Skips:  voices without waveforms (``intersect.source: release``; ``embed_ge2e`` embedded
        none): no model (an empty ``supervised_ge2e.out``), a header-only plot and metrics
        ``{"skipped": why}``; ``evaluate`` leaves the row out for the same reason.
Runs in ``distributed.nproc`` processes (``python -m voice2mesh.train.launch``; DDP, each rank
a shard of every batch, rank 0 writes; docs/distributed.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.checkpoint import save_model
from voice2mesh.config import Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.encoders.store import EmbeddingStore
from voice2mesh.fitting.store import read_references
from voice2mesh.io import atomic_dir, write_json, write_rows
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.seeds import train_seeds, write_summary
from voice2mesh.train.supervised import held_out_summary
from voice2mesh.train.supervised_ge2e import train_supervised_ge2e

METRICS = Path("metrics/train_supervised_ge2e.json")
PLOT = Path("reports/plots/train_supervised_ge2e.csv")
COLUMNS = ["step", "loss", "val_mse"]

log = logging.getLogger("stages.train_supervised_ge2e")


def skip(params: Params, reason: str, metrics: Path, plot: Path) -> dict:
    """Write the outputs of a run with nothing to train on: no model, no curve, the reason."""
    p = params.supervised_ge2e
    with atomic_dir(p.out, owns=("seed_*.pt",)):
        pass  # no model: an older run's would not match these voices
    Path(p.resume_state).mkdir(parents=True, exist_ok=True)
    write_rows(plot, [], ["seed", *COLUMNS])
    log.warning("skipped, no model in %s: %s", p.out, reason)
    out = {"skipped": reason}
    write_json(metrics, out)
    return out


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train on the train-split identities' embeddings, once per seed; write the models,
    metrics, plot (or skip: module docstring)."""
    p = params.supervised_ge2e
    reason = params.intersect.no_waveforms
    if reason is not None:
        return skip(params, reason, metrics, plot) if is_main() else {"skipped": reason}
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    references, reference_shape = read_references(Path(params.fit3dmm.out))
    voices = read_manifests(Path(params.intersect.out)).voices
    store = EmbeddingStore(params.ge2e.out)
    data = (store, voices, references, reference_shape)
    used = {"face_model": as_dict(params.face_model), "ge2e": as_dict(params.ge2e)}

    def train(seed: int, path: Path) -> Trained:
        name = f"train_supervised_ge2e seed {seed}"
        schedule = Schedule.of(p, seed, device, name, quiet, p.state_path(seed), **accel)
        trained = train_supervised_ge2e(p, params.face_model, data, schedule)
        meta = trained.meta | {"encoder": store.encoder}
        if is_main():  # the other ranks trained the same model
            save_model(
                path, "supervised_ge2e", trained.model, as_dict(p), {"seed": seed} | used, meta
            )
        log.info("%s: %s", p.model_path(seed), held_out_summary(trained.metrics))
        return trained

    runs = train_seeds(params.train_seeds, p.out, train)
    return write_summary(runs, metrics, plot, COLUMNS)


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
