"""Unsupervised Voice2Mesh: the authors' joint GAN + student training, distilled from a teacher.

Wu et al. 2022, Sec. 4.2 (unsupervised setting), as their ``gan_train_cascade.py`` runs it: no
voice <-> 3D pairs. The voice -> face GAN (initialised from ``train_gan``) and a fresh
MobileNetV2 student are trained together. Each step draws a voice batch (anchors), a
same-speaker positive and an other-speaker negative per anchor (``gan_data.sample_triplets``)
and a batch of real faces, then

    critics F + D + C:  Wen et al.'s update on real faces and G(anchor).detach() (``critic_step``)
    x, x+, x- = up(G(anchor)), up(G(positive)), up(G(negative))   # no detach
    L = BCE(D(F(G(a))), 1) + CE(C(F(G(a))), speaker)                # Wen et al.'s G terms
      + param_weight * MSE(T(x), S(x))                              # 62 whitened parameters
      + kd_weight * (KD(s_pool, t_pool) + KD(s_mid, t_mid))         # the method of the row
      + triplet_weight * TripletMargin(S(x), S(x+), S(x-), margin)
    one Adam (kd.lr, gan.betas) over the generator, the student and the KD connectors.

Defaults are the authors' weights (``param_weight`` 0.5, PKT 10000, triplet 1.5, margin 1,
lr 2e-4, betas (0.5, 0.999)). The teacher is frozen (eval mode, no parameter updates) but not
cut from the graph: as in the authors' code, the MSE term's gradient reaches the generator
through both the student and the teacher. The KD terms' teacher features are fixed targets
(``distill.base`` detaches them; the authors' PKT does not), and the student sees anchors,
positives and negatives in one batch (theirs: three calls, three batch-norm batches).

``KD`` is ``distill.REGISTRY[kd_method]``, on the pooled embeddings and on the mid-level feature
maps, as the paper's code distils both; its learnable connectors (KD, CRD, VID, correlation)
train with the student. CRD's memory bank is indexed by the voice's row in the voice bank.

Under ``torchrun`` (``global_batch``) each rank generates and trains on its shard of the
anchors, positives, negatives and faces; the KD terms are computed on the gathered global batch
(in its one-process row order, the same value on every rank, CRD drawing the one-process
negatives), the other terms are shard means, and both optimizers step on gradients averaged
over the ranks.

Held-out measure: the student-teacher whitened-parameter MSE on faces generated from held-out
utterances of the training identities (``distill_mse``; the teacher's own spread is the
``distill_mse_mean_baseline`` of predicting its mean).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.checkpoint import build_model, read_model
from voice2mesh.config import KD_METHODS, FaceModelParams, GanParams, KdParams, as_dict
from voice2mesh.distill import build_loss
from voice2mesh.models.cascade import N_SHAPE_3DDFA, VoiceToParams, gan_to_image_net
from voice2mesh.models.gan import perturb_embedding
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.distributed import shard
from voice2mesh.train.gan import GanInputs, critic_step, gan_data, gan_optimizers, generator_losses
from voice2mesh.train.gan_data import CHUNK, data_summary, sample_batch, sample_triplets, sampling
from voice2mesh.train.global_batch import SelfAveragingTask, gather, same_randomness, update
from voice2mesh.train.loop import RUN_KEYS, Schedule, Trained, final, fit, seeded, settings

CURVE_KEYS = (  # what each evaluation row of the history holds, in the curve's order
    "joint_loss",
    "param_loss",
    "kd_loss",
    "triplet_loss",
    "d_loss",
    "g_d_fake",
    "g_c_fake",
    "distill_mse",
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


class UnsupervisedTask(SelfAveragingTask):
    """The GAN (from ``train_gan``) and a fresh student of the frozen teacher, jointly."""

    def __init__(
        self,
        config: tuple[KdParams, GanParams, str, FaceModelParams],
        inputs: GanInputs,
        models: tuple[Path | str, Teacher],
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        kd, gan, method, face_model = config
        gan_path, teacher = models
        self.teacher = teacher.to(device).eval().requires_grad_(False)
        gan_checkpoint = read_model(gan_path, ("gan",), "the unsupervised training")
        student = seeded(seed, lambda: MobileNetV2(kd.student_width, input_size=kd.student_input))
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
        joint = [*self.model.gan.generator.parameters(), *net.parameters(), *self.kd.parameters()]
        self.optims = {
            "d": gan_optimizers(self.model.gan, gan)["d"],
            "joint": torch.optim.Adam(joint, lr=kd.lr, betas=gan.betas),
        }
        self.triplet = nn.TripletMarginLoss(margin=kd.triplet_margin)
        self.config, self.seed, self.device = kd_config(kd, gan, method), seed, device
        self.settings = {k: v for k, v in self.config.items() if k not in RUN_KEYS}
        self.sampling = sampling(gan, seed, kd.batch_size)
        self.spread: float | None = None  # the teacher's spread at the last evaluation

    def modules(self) -> dict:
        return {"model": self.model, "kd": self.kd}

    def train_mode(self, mode: bool) -> None:
        super().train_mode(mode)
        self.teacher.eval()

    def data(self) -> dict:
        return data_summary(self.gan_data)

    def step(self, step: int) -> dict[str, float]:
        batch = sample_batch(self.gan_data, step, **self.sampling)
        voice, voice_labels, faces, face_labels = (shard(t) for t in batch.to(self.device))
        noise = self.sampling["noise"]
        triplet = sample_triplets(self.gan_data, batch, seed=self.seed, step=step, noise=noise)
        gan, b = self.model.gan, len(voice)  # b: this rank's anchors
        fake = gan.generator(torch.cat([voice, *(shard(t).to(self.device) for t in triplet)]))
        terms = critic_step(gan, self.optims["d"], fake[:b], faces, face_labels)
        g_d, g_c = generator_losses(gan, fake[:b], voice_labels)
        index = shard(batch.voice_index).to(self.device)
        student = self._student_terms(gan_to_image_net(fake), b, index)
        loss = g_d + g_c + student.pop("loss")
        self.optims["joint"].zero_grad(set_to_none=True)
        loss.backward()
        update(self.optims["joint"])
        out = terms | {k: v.item() for k, v in student.items()}
        return out | {"g_d_fake": g_d.item(), "g_c_fake": g_c.item(), "joint_loss": loss.item()}

    def _student_terms(self, x: torch.Tensor, b: int, index: torch.Tensor) -> dict:
        """The student's weighted loss (``loss``) and its terms on (3b, 3, 120, 120) images:
        anchors, positives, negatives (module docstring); the KD terms of the global batch."""
        t_mid, t_pool = self.teacher.features(x[:b])
        p_t = self.teacher.net.head(t_pool)  # (b, 62) whitened; gradient flows to x
        s_mid, s_pool = self.model.image_net.features(x)
        p_s = self.model.image_net.head(s_pool)  # (3b, 62)
        param = F.mse_loss(p_s[:b], p_t)
        index = gather(index)  # (B,) the global batch's rows in the bank
        with same_randomness():  # CRD's negatives: the same on every rank
            distill = self.kd[0](
                gather(s_pool[:b]), gather(t_pool.detach()), index=index
            ) + self.kd[1](gather(s_mid[:b]), gather(t_mid.detach()), index=index)
        triplet = self.triplet(p_s[:b], p_s[b : 2 * b], p_s[2 * b :])
        c = self.config
        loss = c["param_weight"] * param + c["weight"] * distill + c["triplet_weight"] * triplet
        return {"loss": loss, "param_loss": param, "kd_loss": distill, "triplet_loss": triplet}

    def evaluate(self) -> dict[str, float | None]:
        mse, self.spread = distill_mse(self.model, self.teacher, self.gan_data.val)
        return {"distill_mse": mse}

    def meta(self) -> dict:
        return {"identities": list(self.gan_data.speakers)}

    def metrics(self, history: list[dict]) -> dict:
        """Final losses, the held-out student-teacher MSE and the teacher's own spread (from the
        last step's evaluation: ``fit`` always evaluates it; recomputed after a resume that
        had no step left)."""
        spread = self.spread
        if spread is None:
            spread = distill_mse(self.model, self.teacher, self.gan_data.val)[1]
        return final(history, *CURVE_KEYS) | {
            "distill_mse_mean_baseline": spread,
            "kd_method": self.config["method"],
            "kd_weight": self.config["weight"],
            "n_identities": len(self.gan_data.speakers),
            "n_train_faces": len(self.gan_data.images),
            "n_val_utterances": len(self.gan_data.val),
        }


def train_unsupervised(
    config: tuple[KdParams, GanParams, str, FaceModelParams],
    inputs: GanInputs,
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
