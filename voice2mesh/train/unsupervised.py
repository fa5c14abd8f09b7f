"""Unsupervised Voice2Mesh: joint GAN + student training, distilled from a frozen teacher.

Wu et al. 2022, Sec. 4.2 (unsupervised setting): no voice <-> 3D pairs. The voice -> face GAN
(initialised from ``train_gan``) keeps training with Wen et al.'s losses (``gan.gan_step``), and
on every batch of generated faces a MobileNetV2 student learns the frozen image -> 3DMM teacher:

    x = gan_to_image_net(G(voice))               # detached: the student loss does not move G
    L_student = param_weight * ||S(x) - T(x)||^2  # 62 whitened parameters
              + kd_weight * (KD(s_pool, t_pool) + KD(s_mid, t_mid))

``KD`` is ``distill.REGISTRY[kd_method]``, applied to the pooled embeddings and to the mid-level
feature maps (8 x 8), as the paper's code distils both; its learnable connectors (KD, CRD, VID)
train with the student. CRD's memory bank is indexed by the voice's row in the voice bank.
The generated faces are detached for the student: the paper trains both jointly, and letting
the student loss move the generator would reward faces that are merely easy to agree on.

Held-out measure: the student-teacher whitened-parameter MSE on faces generated from held-out
utterances of the training identities (``distill_mse``; the teacher's own spread is the
``distill_mse_mean_baseline`` of predicting its mean).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import as_dict
from voice2mesh.distill import REGISTRY, build_loss
from voice2mesh.models.cascade import VoiceToParams, gan_to_image_net
from voice2mesh.models.gan import perturb_embedding
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.gan import gan_from_config, gan_step, load_gan
from voice2mesh.train.gan_data import CHUNK, prepare_gan_data, sample_batch
from voice2mesh.train.pretrain_voice import load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class UnsupervisedConfig:
    """Joint training; CPU-sized defaults (the paper: batch 128, 50K iterations, lr 2e-4)."""

    iterations: int = 200  # optimizer steps in total (also when resuming)
    batch_size: int = 16  # voices and faces per step, each
    lr: float = 2e-4  # Adam learning rate of the student (and its KD connectors)
    gan_lr: float = 2e-4  # Adam learning rate of the GAN (Wen et al.'s betas below)
    betas: tuple[float, float] = (0.5, 0.999)
    noise: float = 0.05  # std of the voice-embedding perturbation
    crop_frames: tuple[int, int] = (300, 800)
    voice_crops: int = 2  # crops embedded per training utterance (frozen encoder)
    flip: bool = True
    student_width: float = 0.5  # MobileNetV2 width multiplier (the paper: 1.0)
    kd_method: str = "pkt"  # a key of distill.REGISTRY (the paper's choice: pkt)
    kd_weight: float = 30000.0  # weight of the KD terms
    kd_options: dict = field(default_factory=dict)  # constructor options of the KD loss
    param_weight: float = 1.0  # weight of ||p_s - p_t||^2
    eval_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kd_method not in REGISTRY:
            raise ValueError(f"kd_method {self.kd_method!r} is not one of {', '.join(REGISTRY)}")


def _student_step(
    model: VoiceToParams,
    teacher: Teacher,
    kd: nn.ModuleList,
    optimizer: torch.optim.Optimizer,
    voice: torch.Tensor,
    index: torch.Tensor,
    cfg: UnsupervisedConfig,
) -> dict[str, float]:
    """One student update on faces generated from ``voice`` (B, E) (module docstring)."""
    with torch.no_grad():
        x = gan_to_image_net(model.gan.generator(voice).clamp(-1, 1))  # (B, 3, 120, 120)
        t_mid, t_pool = teacher.features(x)
        p_t = teacher.net.head(t_pool)  # (B, 62) whitened
    s_mid, s_pool = model.image_net.features(x)
    p_s = model.image_net.head(s_pool)
    param = F.mse_loss(p_s, p_t)
    distill = kd[0](s_pool, t_pool, index=index) + kd[1](s_mid, t_mid, index=index)
    loss = cfg.param_weight * param + cfg.kd_weight * distill
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"param_loss": param.item(), "kd_loss": distill.item(), "student_loss": loss.item()}


@torch.no_grad()
def distill_mse(
    model: VoiceToParams, teacher: Teacher, embeddings: torch.Tensor
) -> tuple[float | None, float | None]:
    """Student-teacher whitened MSE on faces generated from (N, E) raw embeddings, and the
    teacher's own variance on them (the MSE of predicting the teacher's mean)."""
    if len(embeddings) == 0:
        return None, None
    was_training = model.training
    model.eval()
    student, target = [], []
    device = model.param_mean.device
    for k in range(0, len(embeddings), CHUNK):
        voice = perturb_embedding(embeddings[k : k + CHUNK].to(device))
        x = gan_to_image_net(model.gan.generator(voice).clamp(-1, 1))
        student.append(model.image_net(x).cpu())
        target.append(teacher(x).cpu())
    model.train(was_training)
    s, t = torch.cat(student), torch.cat(target)  # (N, 62)
    return float(((s - t) ** 2).mean()), float(t.var(dim=0, unbiased=False).mean())


def build_model(
    gan_checkpoint: Path | str, teacher: Teacher, cfg: UnsupervisedConfig, device: str
) -> VoiceToParams:
    """The GAN of ``gan_checkpoint`` + a fresh student (seeded) in the teacher's whitening."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        student = MobileNetV2(cfg.student_width)
    gan = load_gan(gan_checkpoint)
    return VoiceToParams(gan, student, teacher.param_mean.cpu(), teacher.param_std.cpu()).to(device)


def load_unsupervised(path: Path | str, device: str = "cpu") -> VoiceToParams:
    """The model of a ``train_unsupervised`` checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path, map_location="cpu")
    config = state["config"]
    gan = gan_from_config(config)
    student = MobileNetV2(config["student_width"])
    model = VoiceToParams(gan, student, torch.zeros(62), torch.ones(62))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def train_unsupervised(
    cfg: UnsupervisedConfig,
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    face_images: np.ndarray,
    face_identities: np.ndarray,
    gan_checkpoint: Path | str,
    teacher: Teacher,
    device: str = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    checkpoint: Path | str | None = None,
    resume: bool = False,
) -> tuple[VoiceToParams, list[dict], dict]:
    """Jointly train the GAN (from ``gan_checkpoint``) and a student of ``teacher``.

    Args:
        cfg: hyper-parameters.
        store, voices_manifest: the features and the voices table.
        face_images, face_identities: the GAN's real faces, as for ``train_gan``.
        gan_checkpoint: a ``train_gan`` checkpoint (same identities, same voice encoder).
        teacher: the frozen image -> 3DMM teacher.
        device: a resolved torch device.
        progress: wraps the step iterator (e.g. ``tqdm``).
        checkpoint: written at every evaluation and at the end, and resumed from.
        resume: continue from ``checkpoint`` when that file exists.

    Returns:
        ``(model, history, metrics)``: the GAN + student (eval mode, on ``device``); one dict
        per evaluation (GAN terms, student terms, ``distill_mse``); final metrics.
    """
    teacher = teacher.to(device).eval().requires_grad_(False)
    model = build_model(gan_checkpoint, teacher, cfg, device)
    data = prepare_gan_data(
        cfg, store, voices_manifest, face_images, face_identities, model.gan.encoder, device
    )
    saved_ids = load_checkpoint(gan_checkpoint)["extra"].get("identities")
    if saved_ids is not None and list(saved_ids) != list(data.speakers):
        raise ValueError(
            f"{gan_checkpoint} was trained on other identities than these voices and faces; "
            "re-run train_gan on the same data"
        )
    net = model.image_net
    options = dict(cfg.kd_options)
    if cfg.kd_method == "crd":
        options.setdefault("n_data", len(data.bank))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1)
        kd = nn.ModuleList(
            [
                build_loss(cfg.kd_method, net.embedding_dim, teacher.net.embedding_dim, **options),
                build_loss(cfg.kd_method, net.mid_channels, teacher.net.mid_channels, **options),
            ]
        ).to(device)
    critics = [model.gan.face_net, model.gan.discriminator, model.gan.classifier]
    g_optimizer = torch.optim.Adam(model.gan.generator.parameters(), cfg.gan_lr, betas=cfg.betas)
    d_optimizer = torch.optim.Adam(
        [p for c in critics for p in c.parameters()], cfg.gan_lr, betas=cfg.betas
    )
    s_optimizer = torch.optim.Adam([*net.parameters(), *kd.parameters()], lr=cfg.lr)
    optimizers = {"g": g_optimizer, "d": d_optimizer, "s": s_optimizer}
    config_dict = as_dict(cfg) | load_checkpoint(gan_checkpoint)["config"]
    config_dict |= {"kd_method": cfg.kd_method, "student_width": cfg.student_width}
    start, history = 0, []
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        keys = ("kd_method", "student_width", "gan", "encoder", "n_identities")
        saved = {k: state["config"].get(k) for k in keys}
        if saved != {k: config_dict[k] for k in keys}:
            raise ValueError(f"{checkpoint}: saved for {saved}; delete it or set resume to false")
        model.load_state_dict(state["model"])
        kd.load_state_dict(state["extra"]["kd"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["extra"]["optimizers"][name])
        start, history = int(state["step"]), list(state["extra"]["history"])

    model.train()
    teacher.eval()
    window: list[dict[str, float]] = []
    cuda = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # per-step seeds (CRD's negatives), global RNG kept
        for step in progress(range(start, cfg.iterations)):
            torch.manual_seed(cfg.seed * 1_000_003 + step)
            batch = sample_batch(data, cfg, step)
            terms = gan_step(model.gan, g_optimizer, d_optimizer, *batch.to(device))
            voice = batch.voice.to(device)
            terms |= _student_step(model, teacher, kd, s_optimizer, voice, batch.voice_index, cfg)
            window.append(terms)
            done = step + 1
            if done == cfg.iterations or (cfg.eval_every > 0 and done % cfg.eval_every == 0):
                means = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                mse, _ = distill_mse(model, teacher, data.val)
                history.append({"step": done} | means | {"distill_mse": mse})
                window = []
                if checkpoint is not None:
                    extra = {
                        "kd": kd.state_dict(),
                        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                        "identities": list(data.speakers),
                        "history": history,
                    }
                    save_checkpoint(checkpoint, model, None, done, config_dict, extra)

    _, spread = distill_mse(model, teacher, data.val)
    model.eval()
    last = history[-1] if history else {}
    keys = ("student_loss", "param_loss", "kd_loss", "d_loss", "g_loss", "distill_mse")
    metrics = {k: last.get(k) for k in keys} | {
        "distill_mse_mean_baseline": spread,
        "kd_method": cfg.kd_method,
        "kd_weight": cfg.kd_weight,
        "n_identities": len(data.speakers),
        "n_train_faces": len(data.images),
        "n_val_utterances": len(data.val),
        "iterations": cfg.iterations,
    }
    return model, history, metrics
