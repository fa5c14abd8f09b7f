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

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import build_model, read_model
from voice2mesh.config import KD_METHODS, FaceModelParams, GanParams, KdParams, as_dict
from voice2mesh.distill import build_loss
from voice2mesh.models.cascade import N_SHAPE_3DDFA, VoiceToParams, gan_to_image_net
from voice2mesh.models.gan import perturb_embedding
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.gan import data_summary, gan_data, gan_optimizers, gan_step, sampling
from voice2mesh.train.gan_data import CHUNK, sample_batch
from voice2mesh.train.loop import (
    RUN_KEYS,
    Schedule,
    Task,
    Trained,
    final,
    fit,
    seeded,
    settings,
)

GAN_KEYS = ("lr", "betas", "noise", "crop_frames", "voice_crops", "flip")  # gan params used here


def kd_config(kd: KdParams, gan: GanParams, method: str) -> dict:
    """What one method's model is trained with: the ``kd`` params for ``method`` (its weight and
    options, not the other methods'; not ``kd.method``, which only picks the main row) and the
    ``gan`` params the joint training keeps using."""
    if method not in KD_METHODS:
        raise ValueError(f"KD method {method!r}; allowed: one of {', '.join(KD_METHODS)}")
    own = {k: v for k, v in as_dict(kd).items() if k not in ("method", "weights", "options")}
    return own | {
        "method": method,
        "weight": kd.weights[method],
        "options": dict(kd.options.get(method, {})),
        "gan": {k: v for k, v in settings(gan).items() if k in GAN_KEYS},
    }


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


class UnsupervisedTask(Task):
    """The GAN (from ``train_gan``) and a fresh student of the frozen teacher, jointly."""

    def __init__(
        self,
        config: tuple[KdParams, GanParams, str, FaceModelParams],
        inputs: tuple[FeatureStore, pd.DataFrame, tuple[np.ndarray, np.ndarray]],
        models: tuple[Path | str, Teacher],
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        kd, gan, method, face_model = config
        gan_path, teacher = models
        self.teacher = teacher.to(device).eval().requires_grad_(False)
        gan_checkpoint = read_model(gan_path, ("gan",), "the unsupervised training")
        student = seeded(seed, lambda: MobileNetV2(kd.student_width))
        self.model = VoiceToParams(
            build_model(gan_checkpoint),
            student,
            teacher.param_mean.cpu(),
            teacher.param_std.cpu(),
            min(face_model.n_shape, N_SHAPE_3DDFA),
            min(face_model.n_expression, 10),
        ).to(device)
        self.gan_data = gan_data(gan, seed, inputs, self.model.gan.encoder, device)
        if list(gan_checkpoint.meta.get("identities", [])) != list(self.gan_data.speakers):
            raise ValueError(
                f"{gan_path} was trained on other identities than these voices and faces; "
                "re-run train_gan on the same data (dvc repro train_gan)"
            )
        options = dict(kd.options.get(method, {}))
        if method == "crd":
            options.setdefault("n_data", len(self.gan_data.bank))
        net, t_net = self.model.image_net, teacher.net
        self.kd = seeded(
            seed + 1,
            lambda: nn.ModuleList(
                [
                    build_loss(method, net.embedding_dim, t_net.embedding_dim, **options),
                    build_loss(method, net.mid_channels, t_net.mid_channels, **options),
                ]
            ),
        ).to(device)
        student_params = [*net.parameters(), *self.kd.parameters()]
        self.optims = gan_optimizers(self.model.gan, gan) | {
            "s": torch.optim.Adam(student_params, lr=kd.lr)
        }
        self.config, self.seed, self.device = kd_config(kd, gan, method), seed, device
        self.settings = {k: v for k, v in self.config.items() if k not in RUN_KEYS}
        self.sampling = sampling(gan, seed, kd.batch_size)

    def modules(self) -> dict:
        return {"model": self.model, "kd": self.kd}

    def train_mode(self, mode: bool) -> None:
        super().train_mode(mode)
        self.teacher.eval()

    def data(self) -> dict:
        return data_summary(self.gan_data)

    def step(self, step: int) -> dict[str, float]:
        batch = sample_batch(self.gan_data, step, **self.sampling)
        terms = gan_step(self.model.gan, self.optims["g"], self.optims["d"], *batch.to(self.device))
        voice, index = batch.voice.to(self.device), batch.voice_index
        return terms | self._student_step(voice, index)

    def _student_step(self, voice: torch.Tensor, index: torch.Tensor) -> dict[str, float]:
        """One student update on faces generated from ``voice`` (B, E) (module docstring)."""
        with torch.no_grad():
            x = gan_to_image_net(self.model.gan.generator(voice).clamp(-1, 1))  # (B, 3, 120, 120)
            t_mid, t_pool = self.teacher.features(x)
            p_t = self.teacher.net.head(t_pool)  # (B, 62) whitened
        s_mid, s_pool = self.model.image_net.features(x)
        p_s = self.model.image_net.head(s_pool)
        param = F.mse_loss(p_s, p_t)
        distill = self.kd[0](s_pool, t_pool, index=index) + self.kd[1](s_mid, t_mid, index=index)
        loss = self.config["param_weight"] * param + self.config["weight"] * distill
        optimizer = self.optims["s"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"param_loss": param.item(), "kd_loss": distill.item(), "student_loss": loss.item()}

    def evaluate(self) -> dict[str, float | None]:
        return {"distill_mse": distill_mse(self.model, self.teacher, self.gan_data.val)[0]}

    def meta(self) -> dict:
        return {"identities": list(self.gan_data.speakers)}

    def metrics(self, history: list[dict]) -> dict:
        """Final losses, the held-out student-teacher MSE and the teacher's own spread."""
        _, spread = distill_mse(self.model, self.teacher, self.gan_data.val)
        keys = ("student_loss", "param_loss", "kd_loss", "d_loss", "g_loss", "distill_mse")
        return final(history, *keys) | {
            "distill_mse_mean_baseline": spread,
            "kd_method": self.config["method"],
            "kd_weight": self.config["weight"],
            "n_identities": len(self.gan_data.speakers),
            "n_train_faces": len(self.gan_data.images),
            "n_val_utterances": len(self.gan_data.val),
        }


def train_unsupervised(
    config: tuple[KdParams, GanParams, str, FaceModelParams],
    inputs: tuple[FeatureStore, pd.DataFrame, tuple[np.ndarray, np.ndarray]],
    models: tuple[Path | str, Teacher],
    schedule: Schedule,
) -> Trained:
    """Jointly train the GAN and a student of the teacher with one KD method.

    Args:
        config: ``(kd, gan, method, face_model)``: the ``kd`` and ``gan`` params, the KD method
            (a ``distill.REGISTRY`` key) and the face model (its coefficient counts).
        inputs: ``(store, voices, (face_images, face_identities))`` as for ``train_gan``.
        models: ``(gan_path, teacher)``: a ``train_gan`` model (same identities, same voice
            encoder) and the frozen image -> 3DMM teacher.
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the GAN + student (eval mode), one row per evaluation
        (GAN terms, student terms, ``distill_mse``), final metrics, the identities (``meta``).
    """
    task = UnsupervisedTask(config, inputs, models, schedule)
    return fit(task, schedule)
