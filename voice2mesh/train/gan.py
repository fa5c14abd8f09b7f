"""Training Wen et al.'s voice -> face GAN (``models.gan``) on the training identities.

Data: the train-split identities that have stored utterances and at least one face image (the
caller decodes them, e.g. ``face_data.load_faces``); one label list shared by voices and faces.
The voice encoder is the frozen ``pretrain_voice`` one, so voice embeddings are computed
**once**: ``voice_crops`` random 300-800-frame crops of every training utterance (one length
per round, as in ``voice_data.CropBatches``). Held-out utterances
(``voice_data.split_speakers``'s rule) are embedded from their first 10 s (repeated to 10 s
when shorter).

Step (Wen et al.'s ``gan_train.py``): a voice batch and a face batch drawn independently, each
with its labels; embeddings L2-normalised + 0.05 noise + normalised again -> fake faces.

    D/F/C:  BCE(D(F(real)), 1) + BCE(D(F(fake.detach())), 0) + CE(C(F(real)), face label)
    G:      BCE(D(F(fake)), 1) + CE(C(F(fake)), voice label)

Adam (lr 2e-4, betas (0.5, 0.999)) for G and for F+D+C. Sanity measure: the identity
classifier's top-1 accuracy on faces generated from held-out utterances of the training
identities (``fake_id_accuracy``) against chance (1 / identities).

Batches, flips and noise depend only on ``(seed, step)``, so a resumed run reproduces the
uninterrupted one (``train.loop``). Under ``torchrun`` each rank trains on its shard of the
batch and both optimizers step on gradients averaged over the ranks (``global_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import GanParams
from voice2mesh.models.gan import GanConfig, VoiceToFaceGan, perturb_embedding
from voice2mesh.train.distributed import shard
from voice2mesh.train.face_data import to_tensor, to_uint8
from voice2mesh.train.gan_data import (
    CHUNK,
    GanData,
    data_summary,
    prepare_gan_data,
    sample_batch,
    sampling,
)
from voice2mesh.train.global_batch import SelfAveragingTask, update
from voice2mesh.train.loop import Schedule, Trained, final, fit, seeded, settings
from voice2mesh.train.pretrain_voice import load_voice_encoder
from voice2mesh.train.sync_norm import local
from voice2mesh.train.voice_banks import VoiceBanks
from voice2mesh.train.voice_data import MIN_FRAMES

Faces = tuple[np.ndarray, np.ndarray]  # (N, 64, 64, 3) uint8 RGB faces, (N,) identities
# (features, voices table, faces[, the voice banks to read or write]): see ``gan_data``
GanInputs = (
    tuple[FeatureStore, pd.DataFrame, Faces] | tuple[FeatureStore, pd.DataFrame, Faces, VoiceBanks]
)


def critic_step(
    model: VoiceToFaceGan,
    d_optimizer: torch.optim.Optimizer,
    fake: torch.Tensor,
    faces: torch.Tensor,
    face_labels: torch.Tensor,
) -> dict[str, float]:
    """One update of the critics F + D + C on real faces and (detached) generated ones.

    Args:
        fake: (B, 3, 64, 64) generated faces (detached here).
        faces: (B', 3, 64, 64) real faces in [-1, 1]; face_labels: (B',) identities.

    Returns:
        ``d_real``, ``d_fake``, ``c_real``, their sum ``d_loss`` and the discriminator's accuracy.
    """
    real_embedding = model.face_net(faces)  # (B', E, 1, 1)
    real_logit = model.discriminator(real_embedding)[:, 0]  # (B',)
    fake_logit = model.discriminator(model.face_net(fake.detach()))[:, 0]  # (B,)
    d_real = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
    d_fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    c_real = F.cross_entropy(model.classifier(real_embedding), face_labels)
    d_optimizer.zero_grad(set_to_none=True)
    (d_real + d_fake + c_real).backward()
    update(d_optimizer)
    out = {"d_real": d_real.item(), "d_fake": d_fake.item(), "c_real": c_real.item()}
    return out | {
        "d_loss": out["d_real"] + out["d_fake"] + out["c_real"],
        "d_real_acc": (real_logit > 0).float().mean().item(),
        "d_fake_acc": (fake_logit < 0).float().mean().item(),
    }


def generator_losses(
    model: VoiceToFaceGan, fake: torch.Tensor, voice_labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """G's adversarial and identity terms ``(BCE(D(F(fake)), 1), CE(C(F(fake)), voice label))``.

    The critics' parameters are frozen meanwhile, so only the generator (and whatever else
    produced ``fake``'s graph) receives gradients.
    """
    critics = (model.face_net, model.discriminator, model.classifier)
    for net in critics:
        net.requires_grad_(False)
    try:
        fake_embedding = model.face_net(fake)
        g_logit = model.discriminator(fake_embedding)[:, 0]
        g_d = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
        g_c = F.cross_entropy(model.classifier(fake_embedding), voice_labels)
    finally:
        for net in critics:
            net.requires_grad_(True)
    return g_d, g_c


def gan_step(
    model: VoiceToFaceGan,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer,
    voice: torch.Tensor,
    voice_labels: torch.Tensor,
    faces: torch.Tensor,
    face_labels: torch.Tensor,
) -> dict[str, float]:
    """One D/F/C update then one G update (module doc).

    Args:
        voice: (B, E) perturbed unit voice embeddings; voice_labels: (B,) identities.
        faces: (B', 3, 64, 64) real faces in [-1, 1]; face_labels: (B',) identities.

    Returns:
        The loss terms, ``d_loss``/``g_loss`` (their sums) and the discriminator's accuracy.
    """
    fake = model.generator(voice)  # (B, 3, 64, 64)
    out = critic_step(model, d_optimizer, fake, faces, face_labels)
    g_d, g_c = generator_losses(model, fake, voice_labels)
    g_optimizer.zero_grad(set_to_none=True)
    (g_d + g_c).backward()
    update(g_optimizer)
    out |= {"g_d_fake": g_d.item(), "g_c_fake": g_c.item()}
    return out | {"g_loss": out["g_d_fake"] + out["g_c_fake"]}


@torch.no_grad()
def identity_accuracy(
    model: VoiceToFaceGan, images: torch.Tensor, labels: torch.Tensor, device: str
) -> float | None:
    """Top-1 accuracy of ``C(F(images))`` for (N, 3, 64, 64) images; None when N = 0."""
    if len(images) == 0:
        return None
    correct = 0
    for k in range(0, len(images), CHUNK):
        logits = model.classifier(model.face_net(images[k : k + CHUNK].to(device)))
        correct += int((logits.argmax(1).cpu() == labels[k : k + CHUNK]).sum())
    return correct / len(images)


@torch.no_grad()
def fake_faces(model: VoiceToFaceGan, embeddings: torch.Tensor, device: str) -> torch.Tensor:
    """(N, E) raw voice embeddings -> (N, 3, 64, 64) CPU faces in [-1, 1] (no noise)."""
    parts = [
        model.generator(perturb_embedding(embeddings[k : k + CHUNK].to(device))).clamp(-1, 1)
        for k in range(0, len(embeddings), CHUNK)
    ]
    return torch.cat(parts).cpu() if parts else torch.empty(0, 3, 64, 64)


def gan_optimizers(gan: VoiceToFaceGan, cfg: GanParams) -> dict[str, torch.optim.Optimizer]:
    """Adam for the generator (``g``) and for the critics F + D + C (``d``), Wen et al.'s."""
    critics = (gan.face_net, gan.discriminator, gan.classifier)
    return {
        "g": torch.optim.Adam(gan.generator.parameters(), lr=cfg.lr, betas=cfg.betas),
        "d": torch.optim.Adam(
            [p for net in critics for p in net.parameters()], lr=cfg.lr, betas=cfg.betas
        ),
    }


def gan_data(
    cfg: GanParams,
    seed: int,
    inputs: GanInputs,
    encoder: torch.nn.Module,
    device: str,
) -> GanData:
    """``prepare_gan_data`` with the ``gan`` params' voice-bank settings; ``inputs`` may carry
    a fourth item, the ``VoiceBanks`` to read (and, for ``train_gan``, write)."""
    store, voices, faces = inputs[:3]
    return prepare_gan_data(
        store,
        voices,
        faces,
        encoder,
        device,
        crop_frames=cfg.crop_frames,
        voice_crops=cfg.voice_crops,
        seed=seed,
        banks=inputs[3] if len(inputs) > 3 else None,
    )


@torch.no_grad()
def generate(model: VoiceToFaceGan, utterances: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 64, 64, 3) uint8 faces from whole (T, 64) log-mel utterances (repeated to 10 s)."""
    device = next(model.parameters()).device
    faces = [
        model(torch.from_numpy(repeat_to(u, MIN_FRAMES).T.copy())[None].to(device))
        for u in utterances
    ]
    return to_uint8(torch.cat(faces)) if faces else np.empty((0, 64, 64, 3), np.uint8)


class GanTask(SelfAveragingTask):
    """Wen et al.'s GAN on the train-split identities that have both voices and faces (each
    rank on its shard of every batch under ``torchrun``)."""

    def __init__(
        self,
        cfg: GanParams,
        inputs: GanInputs,
        encoder_path: Path | str,
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        encoder = load_voice_encoder(encoder_path)
        self.gan_data = gan_data(cfg, seed, inputs, encoder, device)
        widths = GanConfig(
            generator_channels=cfg.generator_channels,
            face_channels=cfg.face_channels,
            batch_norm=cfg.batch_norm,
            tanh=cfg.tanh,
        )
        n = len(self.gan_data.speakers)
        self.model = seeded(seed, lambda: VoiceToFaceGan(encoder, n, widths)).to(device)
        self.optims = gan_optimizers(self.model, cfg)
        self.settings = settings(cfg)
        self.sampling = sampling(cfg, seed, cfg.batch_size)
        self.cfg, self.seed, self.device = cfg, seed, device

    def data(self) -> dict:
        return data_summary(self.gan_data)

    def step(self, step: int) -> dict[str, float]:
        batch = sample_batch(self.gan_data, step, **self.sampling)
        rows = (shard(t) for t in batch.to(self.device))  # this rank's rows
        return gan_step(self.model, self.optims["g"], self.optims["d"], *rows)

    def evaluate(self) -> dict[str, float | None]:
        with local():  # every rank: all held-out voices, BatchNorm in training mode as ever
            faces = fake_faces(self.model, self.gan_data.val, self.device)
        return {
            "fake_id_accuracy": identity_accuracy(
                self.model, faces, self.gan_data.val_labels, self.device
            )
        }

    def meta(self) -> dict:
        return {"identities": list(self.gan_data.speakers)}

    def metrics(self, history: list[dict]) -> dict:
        """Final losses and accuracies against chance, counts."""
        keys = ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "fake_id_accuracy")
        real = identity_accuracy(
            self.model, to_tensor(self.gan_data.images), self.gan_data.face_labels, self.device
        )
        return final(history, *keys) | {
            "real_face_accuracy": real,
            "chance_accuracy": 1.0 / len(self.gan_data.speakers),
            "n_identities": len(self.gan_data.speakers),
            "n_train_faces": len(self.gan_data.images),
            "n_train_utterances": self.gan_data.n_train_utterances,
            "n_voice_embeddings": len(self.gan_data.bank),
            "n_val_utterances": len(self.gan_data.val),
        }


def train_gan(
    cfg: GanParams,
    inputs: GanInputs,
    encoder_path: Path | str,
    schedule: Schedule,
) -> Trained:
    """Train the GAN on the train-split identities that have both voices and faces.

    Args:
        cfg: the ``gan`` params.
        inputs: ``(store, voices, (face_images, face_identities))``: the features, the
            manifest's voices table (``identity``, ``split``) and the (N, 64, 64, 3) uint8 RGB
            training faces with their identities (e.g. ``teacher_data.gan_faces``); faces of
            identities without training utterances are left out.
        encoder_path: a ``pretrain_voice`` model; its encoder stays frozen.
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the encoder + GAN (eval mode), one row per evaluation (means of
        ``gan_step``'s terms, ``fake_id_accuracy``), final metrics, the identities (``meta``).
    """
    task = GanTask(cfg, inputs, encoder_path, schedule)
    return fit(task, schedule)
