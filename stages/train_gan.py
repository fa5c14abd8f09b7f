"""Stage ``train_gan``: Wen et al.'s voice -> face GAN (the paper's baseline generator).

Reads:  params ``gan``, ``seed``, ``device``, ``intersect.out``, ``features.out``,
        ``fit3dmm.out``, ``landmarks.out``, ``pretrain_voice.out``; the manifests, features,
        the training faces (cut and framed as the teacher's crops, 64 x 64) and the encoder.
Writes: ``models/gan_baseline.pt`` (a ``gan`` model: encoder + GAN, identities), its resume
        state ``gan.resume_state``, ``metrics/train_gan.json`` (final losses, discriminator and
        identity accuracies vs chance, counts), ``reports/plots/train_gan.csv`` and
        ``reports/figures/gan_samples.png`` (test speakers: a real face, then faces generated
        from their utterances).
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
from voice2mesh.report.gan_samples import sample_grid
from voice2mesh.train.determinism import training_device
from voice2mesh.train.gan import train_gan
from voice2mesh.train.loop import Schedule
from voice2mesh.train.teacher_data import build_teacher_dataset, gan_faces

METRICS = Path("metrics/train_gan.json")
PLOT = Path("reports/plots/train_gan.csv")
COLUMNS = ["step", "d_loss", "g_loss", "d_real_acc", "d_fake_acc", "fake_id_accuracy"]

log = logging.getLogger("stages.train_gan")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train the GAN on the training identities; write model, metrics, curve, samples."""
    p = params.gan
    device = training_device(params.device)
    manifests = read_manifests(Path(params.intersect.out))
    faces = gan_faces(build_teacher_dataset(params.fit3dmm.out, params.landmarks.out))
    store = FeatureStore(params.features.out)
    schedule = Schedule.of(p, params.seed, device, "train_gan", quiet)
    trained = train_gan(p, (store, manifests.voices, faces), params.pretrain_voice.out, schedule)
    save_model(p.out, "gan", trained.model, as_dict(p), {"seed": params.seed}, trained.meta)
    sample_grid(trained.model, store, manifests.voices, manifests.faces, Path(p.samples))
    out = trained.metrics
    log.info(
        "%s: fake-face identity accuracy %s (chance %.4f)",
        p.out,
        out["fake_id_accuracy"],
        out["chance_accuracy"],
    )
    write_json(metrics, out)
    write_rows(plot, trained.history, COLUMNS)
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
