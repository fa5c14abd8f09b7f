"""Stage ``train_gan``: Wen et al.'s voice -> face GAN (the paper's baseline generator), per seed.

Reads:  params ``gan``, ``seed``, ``n_seeds``, ``device``, ``intersect.out``, ``features.out``,
        ``fit3dmm.out``, ``landmarks.out``, ``pretrain_voice.out``; the manifests, features,
        the training faces (cut and framed as the teacher's crops, 64 x 64) and, for seed
        ``k``, the voice encoder ``models/voice_encoder/seed_<k>.pt``.
Writes: ``models/gan_baseline/seed_<k>.pt`` for every seed ``k`` of ``Params.train_seeds`` (a
        ``gan`` model: encoder + GAN, identities; nothing else in the folder), their resume
        states ``<gan.resume_state>/seed_<k>.pt``, each seed's voice bank
        ``<gan.banks>/seed_<k>.npz`` (``train.voice_banks``: the kd_ablation stages read them
        instead of embedding the same crops again), ``metrics/train_gan.json`` (per seed and
        mean over seeds: final losses, discriminator and identity accuracies vs chance,
        counts; ``gender_agreement``: the share of faces generated from the validation
        identities' voices that an independent gender probe, trained on real training photos,
        gives the speaker's gender, beside ``probe_accuracy``, the probe's accuracy on the
        validation identities' real photos, and ``probe_accuracy_at_gan_resolution``, on the
        same photos drawn at the generator's resolution (``gender_probe.drawn_at``): what a GAN
        drawing the real photos would score, the ceiling of its agreement),
        ``reports/plots/train_gan.csv`` (a leading seed column) and
        ``reports/figures/gan_samples.png`` (the first seed's GAN; held-out speakers: a real
        face, then faces generated from their utterances).
Under ``torchrun`` (``distributed.nproc`` > 1) every rank trains every seed on its shard of
each batch (``train.global_batch``) and embeds its own voice banks; rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import save_model
from voice2mesh.config import Params, as_dict, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import atomic_dir
from voice2mesh.models.gan import GanConfig
from voice2mesh.report.gan_samples import sample_grid
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import is_main
from voice2mesh.train.face_data import to_tensor
from voice2mesh.train.gan import generate, train_gan
from voice2mesh.train.gender_probe import (
    agreement_by_speaker,
    drawn_at,
    probe_agreement,
    probe_correct,
    train_probe,
)
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.seeds import train_seeds, write_summary
from voice2mesh.train.teacher_data import build_teacher_dataset, gan_faces
from voice2mesh.train.voice_banks import VoiceBanks
from voice2mesh.train.voice_data import load_utterances

METRICS = Path("metrics/train_gan.json")
PLOT = Path("reports/plots/train_gan.csv")
COLUMNS = ["step", "d_loss", "g_loss", "d_real_acc", "d_fake_acc", "fake_id_accuracy"]

log = logging.getLogger("stages.train_gan")


def run(params: Params, metrics: Path = METRICS, plot: Path = PLOT, quiet: bool = False) -> dict:
    """Train the GAN on the training identities, once per seed (seed k on the voice encoder of
    seed k); write the models, metrics, curves and the first seed's samples."""
    p = params.gan
    device = training_device(params.device)
    accel = schedule_options(params.accelerator, device)  # bf16 / compile on a GPU
    manifests = read_manifests(Path(params.intersect.out))
    crops = build_teacher_dataset(params.fit3dmm.out, params.landmarks.out)
    faces = gan_faces(crops)
    store = FeatureStore(params.features.out)
    gender = manifests.identities.set_index(manifests.identities.identity.astype(str)).gender
    probe = train_probe(faces[0], gender.loc[faces[1]].to_numpy(str), params.seed, p.probe_steps)
    val_photos, val_owners = gan_faces(crops, "val")
    val_photos = to_tensor(val_photos)
    probe_accuracy = probe_agreement(probe, val_photos, gender.loc[val_owners])
    resolution = GanConfig(
        generator_channels=p.generator_channels, face_channels=p.face_channels
    ).resolution
    ceiling = probe_agreement(probe, drawn_at(val_photos, resolution), gender.loc[val_owners])
    identities = manifests.identities
    val_ids = set(identities.identity[identities.split == "val"].astype(str))
    val_rows = np.flatnonzero(store.index.identity.astype(str).isin(val_ids))
    val_voices = load_utterances(store, val_rows)
    val_speakers = store.index.identity.astype(str).iloc[val_rows].to_numpy(str)
    val_genders = gender.loc[val_speakers].to_numpy(str)
    agreeing: dict[int, np.ndarray] = {}  # per seed: which generated validation faces agree

    def train(seed: int, path: Path) -> Trained:
        schedule = Schedule.of(
            p, seed, device, f"train_gan seed {seed}", quiet, p.state_path(seed), **accel
        )
        trained = train_gan(p, inputs, params.pretrain_voice.model_path(seed), schedule)
        if is_main():  # the other ranks trained the same GAN
            save_model(path, "gan", trained.model, as_dict(p), {"seed": seed}, trained.meta)
        out = trained.metrics
        fake = to_tensor(generate(trained.model, val_voices))
        agreeing[seed] = probe_correct(probe, fake, val_genders)
        out["gender_agreement"] = float(agreeing[seed].mean()) if len(fake) else None
        out |= {
            "probe_accuracy": probe_accuracy,
            "probe_accuracy_at_gan_resolution": ceiling,
            "n_probe_voices": len(val_voices),
        }
        log.info(
            "%s: fake-face identity accuracy %s (chance %.4f), gender agreement %s",
            p.model_path(seed),
            out["fake_id_accuracy"],
            out["chance_accuracy"],
            out["gender_agreement"],
        )
        return trained

    main = is_main()
    writing = atomic_dir(p.banks, owns=("seed_*.npz",)) if main else contextlib.nullcontext()
    with writing as banks:
        inputs = (store, manifests.voices, faces)
        inputs += (VoiceBanks(banks, write=True),) if main else ()  # the others embed theirs
        runs = train_seeds(params.train_seeds, p.out, train)
    if main:
        first = runs[params.train_seeds[0]].model
        sample_grid(first, store, manifests.voices, manifests.faces, Path(p.samples))
    e = params.evaluate  # the evaluation's bootstrap settings
    pooled = (
        {
            "gender_agreement_by_speaker": agreement_by_speaker(
                agreeing, val_speakers, e.n_resamples, params.seed, e.confidence
            )
        }
        if len(val_speakers)
        else {}
    )
    return write_summary(runs, metrics, plot, COLUMNS, pooled)


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
