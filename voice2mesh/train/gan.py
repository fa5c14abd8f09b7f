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
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import as_dict
from voice2mesh.models.gan import GanConfig, VoiceToFaceGan, perturb_embedding
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig
from voice2mesh.train.face_data import to_tensor, to_uint8
from voice2mesh.train.gan_data import CHUNK, prepare_gan_data, sample_batch
from voice2mesh.train.pretrain_voice import load_checkpoint, load_voice_encoder, save_checkpoint
from voice2mesh.train.voice_data import MIN_FRAMES


@dataclass(frozen=True)
class TrainGanConfig:
    """GAN training; CPU-sized defaults, about a minute on one CPU thread for the default
    synthetic world. The paper's: batch 128, 50K iterations (Wen et al.'s code: 30K), lr 2e-4,
    and ``gan=GanConfig(PAPER_GENERATOR_CHANNELS, PAPER_FACE_CHANNELS)``."""

    iterations: int = 200  # optimizer steps in total (also when resuming); paper: 50_000
    batch_size: int = 16  # voices and faces per step, each; paper: 128
    lr: float = 2e-4  # Adam learning rate, both optimizers
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas (DCGAN's)
    noise: float = 0.05  # std of the perturbation of the unit voice embeddings
    crop_frames: tuple[int, int] = (300, 800)  # crop length range, one length per round
    voice_crops: int = 2  # crops embedded per training utterance (the encoder is frozen)
    flip: bool = True  # mirror each face with probability 0.5
    eval_every: int = 50  # steps between evaluations (0: only at the end)
    seed: int = 0  # init, crops, batches, flips, noise
    gan: GanConfig = field(default_factory=GanConfig)


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
    critics = (model.face_net, model.discriminator, model.classifier)
    fake = model.generator(voice)  # (B, 3, 64, 64)
    real_embedding = model.face_net(faces)  # (B', E, 1, 1)
    real_logit = model.discriminator(real_embedding)[:, 0]  # (B',)
    fake_logit = model.discriminator(model.face_net(fake.detach()))[:, 0]  # (B,)
    d_real = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
    d_fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    c_real = F.cross_entropy(model.classifier(real_embedding), face_labels)
    d_optimizer.zero_grad(set_to_none=True)
    (d_real + d_fake + c_real).backward()
    d_optimizer.step()

    for net in critics:  # G's gradients only: the critics' are not needed
        net.requires_grad_(False)
    fake_embedding = model.face_net(fake)
    g_logit = model.discriminator(fake_embedding)[:, 0]
    g_d = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
    g_c = F.cross_entropy(model.classifier(fake_embedding), voice_labels)
    g_optimizer.zero_grad(set_to_none=True)
    (g_d + g_c).backward()
    g_optimizer.step()
    for net in critics:
        net.requires_grad_(True)
    terms = {"d_real": d_real, "d_fake": d_fake, "c_real": c_real, "g_d_fake": g_d, "g_c_fake": g_c}
    out = {k: v.item() for k, v in terms.items()}
    return out | {
        "d_loss": out["d_real"] + out["d_fake"] + out["c_real"],
        "g_loss": out["g_d_fake"] + out["g_c_fake"],
        "d_real_acc": (real_logit > 0).float().mean().item(),
        "d_fake_acc": (fake_logit < 0).float().mean().item(),
    }


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


def gan_from_config(config: dict) -> VoiceToFaceGan:
    """An untrained encoder + GAN shaped as a saved ``config`` (``encoder``, ``gan``,
    ``n_identities`` entries of a ``train_gan`` checkpoint's config)."""
    encoder_cfg = config["encoder"]
    encoder = VoiceEncoder(
        VoiceEncoderConfig(**{**encoder_cfg, "channels": tuple(encoder_cfg["channels"])})
    )
    gan = config["gan"]
    gan_cfg = GanConfig(
        embedding_dim=gan["embedding_dim"],
        generator_channels=tuple(gan["generator_channels"]),
        face_channels=tuple(gan["face_channels"]),
    )
    return VoiceToFaceGan(encoder, config["n_identities"], gan_cfg)


def load_gan(path: Path | str, device: str = "cpu") -> VoiceToFaceGan:
    """The encoder + GAN of a ``train_gan`` checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path, map_location=device)
    model = gan_from_config(state["config"])
    model.load_state_dict(state["model"])
    return model.to(device).eval()


@torch.no_grad()
def generate(model: VoiceToFaceGan, utterances: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 64, 64, 3) uint8 faces from whole (T, 64) log-mel utterances (repeated to 10 s)."""
    device = next(model.parameters()).device
    faces = [
        model(torch.from_numpy(repeat_to(u, MIN_FRAMES).T.copy())[None].to(device))
        for u in utterances
    ]
    return to_uint8(torch.cat(faces)) if faces else np.empty((0, 64, 64, 3), np.uint8)


def train_gan(
    cfg: TrainGanConfig,
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    face_images: np.ndarray,
    face_identities: np.ndarray,
    encoder_checkpoint: Path | str,
    device: str = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    checkpoint: Path | str | None = None,
    resume: bool = False,
) -> tuple[VoiceToFaceGan, list[dict], dict]:
    """Train the GAN on the train-split identities that have both voices and faces.

    Args:
        cfg: hyper-parameters.
        store: the features of every utterance.
        voices_manifest: the voices table (``identity``, ``split``).
        face_images: (N, 64, 64, 3) uint8 RGB training faces (e.g. ``face_data.load_faces``
            of the train-split images, or the teacher's face crops resized to 64).
        face_identities: (N,) identity of each face; faces of identities without training
            utterances are left out.
        encoder_checkpoint: a ``pretrain_voice`` checkpoint; its encoder stays frozen.
        device: a resolved torch device ("cpu", "cuda", ...).
        progress: wraps the step iterator (e.g. ``tqdm``).
        checkpoint: written at every evaluation and at the end, and resumed from; None: not
            saved.
        resume: continue from ``checkpoint`` when that file exists.

    Returns:
        ``(model, history, metrics)``: the encoder + GAN (eval mode, on ``device``); one dict
        per evaluation (``step``, means since the previous evaluation of ``gan_step``'s terms,
        ``fake_id_accuracy``); final metrics (losses, accuracies, chance, counts).
    """
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(cfg.seed)
        encoder = load_voice_encoder(encoder_checkpoint)
    data = prepare_gan_data(
        cfg, store, voices_manifest, face_images, face_identities, encoder, device
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = VoiceToFaceGan(encoder, len(data.speakers), cfg.gan).to(device)

    critics = [model.face_net, model.discriminator, model.classifier]
    g_optimizer = torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=cfg.betas)
    d_optimizer = torch.optim.Adam(
        [p for net in critics for p in net.parameters()], lr=cfg.lr, betas=cfg.betas
    )
    config_dict = as_dict(cfg) | {
        "encoder": as_dict(encoder.config),
        "n_identities": len(data.speakers),
    }
    start, history = 0, []
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        saved = {k: state["config"].get(k) for k in ("gan", "encoder", "n_identities")}
        wanted = {k: config_dict[k] for k in saved}
        if saved != wanted:
            raise ValueError(
                f"{checkpoint}: saved for {saved}, not {wanted}; delete it or set resume to false"
            )
        model.load_state_dict(state["model"])
        g_optimizer.load_state_dict(state["optimizer"])
        d_optimizer.load_state_dict(state["extra"]["d_optimizer"])
        start, history = int(state["step"]), list(state["extra"].get("history", []))

    model.train()
    window: list[dict[str, float]] = []
    for step in progress(range(start, cfg.iterations)):
        batch = sample_batch(data, cfg, step)
        window.append(gan_step(model, g_optimizer, d_optimizer, *batch.to(device)))
        done = step + 1
        if done == cfg.iterations or (cfg.eval_every > 0 and done % cfg.eval_every == 0):
            accuracy = identity_accuracy(
                model, fake_faces(model, data.val, device), data.val_labels, device
            )
            means = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            history.append({"step": done} | means | {"fake_id_accuracy": accuracy})
            window = []
            if checkpoint is not None:  # a crashed run resumes from its last evaluation
                extra = {
                    "d_optimizer": d_optimizer.state_dict(),
                    "identities": list(data.speakers),
                    "history": history,
                }
                save_checkpoint(checkpoint, model, g_optimizer, done, config_dict, extra)

    model.eval()
    last = history[-1] if history else {}
    final = ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "fake_id_accuracy")
    metrics = {k: last.get(k) for k in final} | {
        "real_face_accuracy": identity_accuracy(
            model, to_tensor(data.images), data.face_labels, device
        ),
        "chance_accuracy": 1.0 / len(data.speakers),
        "n_identities": len(data.speakers),
        "n_train_faces": len(data.images),
        "n_train_utterances": data.n_train_utterances,
        "n_voice_embeddings": len(data.bank),
        "n_val_utterances": len(data.val),
        "iterations": cfg.iterations,
    }
    return model, history, metrics
