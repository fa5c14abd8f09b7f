"""Inference on one recording: voice → 3DMM coefficients → mesh (and a rendered preview).

    features = utterance_features(wav)         # VAD + Wen et al.'s 64-bin log-mel, normalised
    shape, expression = model.predict_raw(x)   # a train_supervised checkpoint
    vertices = face_model.reconstruct(shape, expression)

The checkpoint records the ``face_model`` params its references were fitted with, so the mesh is
rebuilt with the same model (a BFM or SFM file must still be where those params point).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voice2mesh.audio.features import utterance_features
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import FaceModelParams
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.render import fit_pose, render
from voice2mesh.render.draw import image_grid
from voice2mesh.train.pretrain_voice import load_checkpoint
from voice2mesh.train.supervised import load_supervised
from voice2mesh.train.voice_data import MIN_FRAMES

VIEWS = (("front", 0.0), ("three-quarter", 40.0), ("profile", 90.0))


@dataclass(frozen=True)
class Prediction:
    """One voice's predicted face.

    Attributes:
        shape: (Ks,) raw shape coefficients.
        expression: (Ke,) raw expression coefficients.
        vertices: (N, 3) mesh vertices, mm, the model's canonical frame.
        model: the face model (triangles for export and rendering).
        speech_s: seconds of speech the VAD kept.
    """

    shape: np.ndarray
    expression: np.ndarray
    vertices: np.ndarray
    model: MorphableModel
    speech_s: float


def checkpoint_face_model(checkpoint: Path | str) -> FaceModelParams:
    """The ``face_model`` params stored in a ``train_supervised`` checkpoint."""
    saved = load_checkpoint(checkpoint)["config"].get("face_model")
    if not saved:
        raise ValueError(
            f"{checkpoint} does not record its face model (trained before that was stored); "
            "retrain it with `dvc repro train_supervised`"
        )
    return FaceModelParams(**saved)


@torch.no_grad()
def predict_face(
    wav: Path | str, checkpoint: Path | str, device: str = "cpu", min_speech_s: float = 0.5
) -> Prediction:
    """Predict the face of the speaker of ``wav`` with a ``train_supervised`` checkpoint.

    Raises:
        AudioError: unreadable, empty or silent audio, or under ``min_speech_s`` of speech.
        FileNotFoundError: the checkpoint (or the face-model file it names) is missing.
    """
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(
            f"{checkpoint}: no such model; run `dvc repro train_supervised` or pass --model"
        )
    features, info = utterance_features(wav, min_speech_s)  # (T, 64)
    net = load_supervised(checkpoint, device)
    x = torch.from_numpy(repeat_to(features, MIN_FRAMES).T.copy())[None].to(device)  # (1,64,T)
    shape, expression = (t[0].cpu().numpy().astype(np.float64) for t in net.predict_raw(x))
    model = load_from_params(checkpoint_face_model(checkpoint))
    vertices = model.reconstruct(shape[None], expression[None])[0]
    return Prediction(shape, expression, vertices, model, float(info["speech_s"]))


def preview(prediction: Prediction, size: int = 256) -> np.ndarray:
    """(H, W, 3) uint8: the predicted mesh from the front, at three-quarter view and in profile."""
    model, mean = prediction.model, prediction.model.mean_vertices()
    tiles = [
        render(
            prediction.vertices,
            model.triangles,
            fit_pose(mean, (size, size), yaw=yaw, margin=0.16),
            (size, size),
        ).image
        for _, yaw in VIEWS
    ]
    return image_grid([tiles], col_labels=[name for name, _ in VIEWS])
