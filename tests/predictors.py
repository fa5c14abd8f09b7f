"""Tiny valid checkpoints of every predicting kind, for the ``predict`` and CLI tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from voice2mesh.checkpoint import save_model
from voice2mesh.models.registry import KINDS
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig

FACE_MODEL = {"kind": "synthetic", "path": None, "n_shape": 6, "n_expression": 2}
ENCODER = VoiceEncoderConfig(channels=(16, 16))
UNSUPERVISED_ARCH = {
    "gan": {
        "encoder": {"in_channels": 64, "channels": [16, 16], "embedding_dim": 64},
        "n_identities": 3,
        "gan": {"embedding_dim": 64, "generator_channels": [8] * 5, "face_channels": [8] * 5},
    },
    "student_width": 0.25,
    "n_shape": 6,
    "n_expression": 2,
}


def supervised() -> SupervisedVoice2Mesh:
    """An untrained supervised model with non-trivial target statistics (6 shape, 2 expr.)."""
    torch.manual_seed(0)
    model = SupervisedVoice2Mesh(VoiceEncoder(ENCODER), n_shape=6, n_expression=2)
    model.set_target_stats(torch.linspace(-1, 1, 8), torch.full((8,), 0.5))
    return model


def unsupervised() -> nn.Module:
    """An untrained, narrow unsupervised (GAN + student) model."""
    torch.manual_seed(0)
    return KINDS["unsupervised"].build(UNSUPERVISED_ARCH)


def supervised_ge2e() -> nn.Module:
    """An untrained regressor on GE2E embeddings with the supervised model's statistics."""
    torch.manual_seed(0)
    model = KINDS["supervised_ge2e"].build(
        {"n_shape": 6, "n_expression": 2, "dropout": 0.2, "embedding_dim": 256}
    )
    model.set_target_stats(torch.linspace(-1, 1, 8), torch.full((8,), 0.5))
    return model


BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "supervised": supervised,
    "supervised_ge2e": supervised_ge2e,
    "unsupervised": unsupervised,
}


def save_predictor(
    path: Path,
    kind: str = "supervised",
    edit: Callable[[nn.Module], None] | None = None,
    params: dict | None = None,
) -> Path:
    """Save a ``kind`` model (``edit`` changes it first) predicting for ``FACE_MODEL``."""
    model = BUILDERS[kind]()
    if edit is not None:
        with torch.no_grad():
            edit(model)
    params = {"face_model": FACE_MODEL} if params is None else params
    save_model(path, kind, model, config={}, params=params)
    return path


def save_voice_encoder(path: Path) -> Path:
    """A speaker-ID voice encoder checkpoint: a valid model that ``predict`` must refuse."""
    save_model(path, "voice_encoder", SpeakerClassifier(5, ENCODER), config={})
    return path
