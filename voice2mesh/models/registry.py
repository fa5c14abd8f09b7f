"""Every kind of network a voice2mesh checkpoint holds: its architecture record and its builder.

A checkpoint stores a model's ``kind``, its ``arch`` (the plain dict below, enough to rebuild
the untrained network) and its weights; ``voice2mesh.checkpoint.load_model`` looks the kind up
here. A new model is one ``ModelKind`` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from voice2mesh.config.schema import as_dict
from voice2mesh.models.cascade import VoiceToParams
from voice2mesh.models.gan import GanConfig, VoiceToFaceGan
from voice2mesh.models.mobilenet import N_PARAMS
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.supervised_ge2e import Ge2eVoice2Mesh
from voice2mesh.models.teacher import Teacher
from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig


@dataclass(frozen=True)
class ModelKind:
    """One kind of checkpointed network.

    Attributes:
        name: the ``kind`` stored in checkpoints.
        title: what it is, for messages ("a teacher (stage pretrain_teacher)").
        cls: the network class ``build`` returns.
        arch: model -> plain dict of what ``build`` needs.
        build: that dict -> an untrained network of the same shape.
        predicts: maps a voice to 3DMM coefficients (``predict_raw``): usable by ``predict``
            and as an evaluation row.
        voice: what ``predict_raw`` reads: ``"logmel"``, a (B, 64, T) normalised log-mel
            (Wen et al.'s front end); ``"ge2e"``, a (B, 256) GE2E embedding (``encoders``).
    """

    name: str
    title: str
    cls: type[nn.Module]
    arch: Callable[[Any], dict]
    build: Callable[[dict], nn.Module]
    predicts: bool = False
    voice: Literal["logmel", "ge2e"] = "logmel"


def encoder_config(arch: dict) -> VoiceEncoderConfig:
    """A ``VoiceEncoderConfig`` from its ``as_dict`` form (lists back to tuples)."""
    return VoiceEncoderConfig(**{**arch, "channels": tuple(arch["channels"])})


def _gan_arch(model: VoiceToFaceGan) -> dict:
    return {
        "encoder": as_dict(model.encoder.config),
        "n_identities": model.classifier.linear.out_features,
        "gan": as_dict(model.config),
    }


def _build_gan(arch: dict) -> VoiceToFaceGan:
    gan = arch["gan"]
    config = GanConfig(
        embedding_dim=gan["embedding_dim"],
        generator_channels=tuple(gan["generator_channels"]),
        face_channels=tuple(gan["face_channels"]),
        batch_norm=gan.get("batch_norm", False),  # checkpoints before the switch: Wen's layout
        tanh=gan.get("tanh", False),
    )
    return VoiceToFaceGan(
        VoiceEncoder(encoder_config(arch["encoder"])), arch["n_identities"], config
    )


def _build_unsupervised(arch: dict) -> VoiceToParams:
    mean, std = torch.zeros(N_PARAMS), torch.ones(N_PARAMS)  # the saved buffers replace them
    student = MobileNetV2(arch["student_width"], input_size=arch.get("student_input", 120))
    return VoiceToParams(
        _build_gan(arch["gan"]), student, mean, std, arch["n_shape"], arch["n_expression"]
    )


KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            "voice_encoder",
            "a speaker-ID voice encoder (stage pretrain_voice)",
            SpeakerClassifier,
            lambda m: {"n_speakers": m.n_speakers, "encoder": as_dict(m.encoder.config)},
            lambda a: SpeakerClassifier(a["n_speakers"], encoder_config(a["encoder"])),
        ),
        ModelKind(
            "supervised",
            "a supervised voice-to-3DMM model (stage train_supervised)",
            SupervisedVoice2Mesh,
            lambda m: {
                "encoder": as_dict(m.encoder.config),
                "n_shape": m.n_shape,
                "n_expression": m.n_expression,
                "dropout": m.dropout.p,
            },
            lambda a: SupervisedVoice2Mesh(
                VoiceEncoder(encoder_config(a["encoder"])),
                a["n_shape"],
                a["n_expression"],
                a["dropout"],
            ),
            predicts=True,
        ),
        ModelKind(
            "supervised_ge2e",
            "a supervised GE2E-embedding-to-3DMM model (stage train_supervised_ge2e)",
            Ge2eVoice2Mesh,
            lambda m: {
                "n_shape": m.n_shape,
                "n_expression": m.n_expression,
                "dropout": m.dropout.p,
                "embedding_dim": m.embedding_dim,
            },
            lambda a: Ge2eVoice2Mesh(
                a["n_shape"], a["n_expression"], a["dropout"], a["embedding_dim"]
            ),
            predicts=True,
            voice="ge2e",
        ),
        ModelKind(
            "teacher",
            "an image-to-3DMM teacher (stage pretrain_teacher)",
            Teacher,
            lambda m: {
                "arch": m.arch,
                "widen_factor": m.widen_factor,
                "widths": list(m.widths),
                "input_size": m.input_size,
            },
            lambda a: Teacher(
                a["widen_factor"],
                input_size=a["input_size"],
                arch=a["arch"],
                widths=tuple(a["widths"]),
            ),
        ),
        ModelKind(
            "gan", "a voice-to-face GAN (stage train_gan)", VoiceToFaceGan, _gan_arch, _build_gan
        ),
        ModelKind(
            "unsupervised",
            "an unsupervised voice-to-3DMM model (stage kd_ablation)",
            VoiceToParams,
            lambda m: {
                "gan": _gan_arch(m.gan),
                "student_width": m.image_net.width_mult,
                "student_input": m.image_net.input_size,
                "n_shape": m.n_shape,
                "n_expression": m.n_expression,
            },
            _build_unsupervised,
            predicts=True,
        ),
    )
}
PREDICTING_KINDS = tuple(name for name, kind in KINDS.items() if kind.predicts)
