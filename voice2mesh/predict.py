"""Inference on one recording: voice → 3DMM coefficients → mesh (and a rendered preview).

    model, checkpoint = load_predictor(path)   # a supervised or unsupervised checkpoint
    samples = read_wav(wav)                    # bounded, with truncation/clipping reported
    features = speech_features(samples)        # VAD + Wen et al.'s log-mel, as the features stage
    features = read_fbank(npy).features        # or the Voxceleb-3D release's (T, 64) fbank .npy
    x = embed_utterance(ge2e, partials)        # or, for a supervised_ge2e model, its GE2E vector
    shape, expression = model.predict_raw(x)
    vertices = face_model.reconstruct(shape, expression)

The checkpoint records the ``face_model`` params its references were fitted with, so the mesh is
rebuilt with the same model (a BFM or SFM file must still be where those params point). Every
problem the user can fix is a ``PredictError``, ``CheckpointError`` or ``AudioError`` whose
message names the file; recordings that are truncated, clipped or do not look like speech still
give a face, with warnings (logged and in ``Prediction.warnings``). Non-finite coefficients or
vertices are refused, never written.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from voice2mesh.audio.io import MAX_SECONDS
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.checkpoint import Checkpoint, load_predictor
from voice2mesh.config import FaceModelParams
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.models.registry import KINDS
from voice2mesh.predict_inputs import (
    PredictError,
    audio_warnings,
    fbank_features,
    ge2e_input,
    voice_features,
)
from voice2mesh.render import fit_pose, render
from voice2mesh.render.draw import image_grid
from voice2mesh.train.voice_data import MIN_FRAMES

__all__ = [
    "PredictError",
    "Prediction",
    "audio_warnings",
    "fbank_features",
    "ge2e_input",
    "predict_face",
    "preview",
    "voice_features",
]

MAX_SIGMAS = 100.0  # |coefficient| / prior std beyond which a prediction is no face (see below)
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
        warnings: what is doubtful about the recording, ``{code: message}`` (codes
            ``truncated``, ``clipped``, ``not_speech``; ``not_normalised`` for an fbank
            ``.npy``); each message names the file.
    """

    shape: np.ndarray
    expression: np.ndarray
    vertices: np.ndarray
    model: MorphableModel
    speech_s: float
    warnings: dict[str, str] = field(default_factory=dict)


def checkpoint_face_model(checkpoint: Checkpoint) -> FaceModelParams:
    """The ``face_model`` params stored in a predicting checkpoint."""
    saved = checkpoint.params.get("face_model")
    if not saved:
        raise PredictError(
            f"{checkpoint.path}: does not record the face model it predicts for "
            "(params['face_model'] is missing); retrain it with `dvc repro`"
        )
    try:
        return FaceModelParams(**saved)
    except (TypeError, ValueError) as error:
        raise PredictError(
            f"{checkpoint.path}: its recorded face_model params are invalid ({error}); "
            "retrain it with `dvc repro`"
        ) from error


def load_face_model(checkpoint: Checkpoint) -> MorphableModel:
    """The face model ``checkpoint`` was trained for, cut to its component counts."""
    cfg = checkpoint_face_model(checkpoint)
    try:
        return load_from_params(cfg)
    except (OSError, ValueError, KeyError, TypeError, ImportError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PredictError(
            f"{checkpoint.path}: cannot load the {cfg.kind!r} face model it was trained with "
            f"({reason}); put that model at face_model.path = {cfg.path!r} or retrain"
        ) from err


def _check_finite(values: np.ndarray, what: str, where: Path, wav: Path | str) -> None:
    """Refuse NaN or infinity in ``values`` (a model that diverged for this input)."""
    if not np.isfinite(values).all():
        raise PredictError(f"{where}: {what} for {wav} are not finite (NaN or infinity); {_BROKEN}")


_BROKEN = "the model is numerically broken: retrain it (e.g. with a lower lr)"


def _check_plausible(
    shape: np.ndarray, expression: np.ndarray, model: MorphableModel, where: Path, wav: Path | str
) -> None:
    """Refuse coefficients ``MAX_SIGMAS`` prior std from the mean face.

    A trained regressor stays within a few σ (it shrinks towards the mean); finite weights of
    ~1e38 give coefficients of ~1e37, whose float64 mesh is finite but no face.
    """
    std = np.concatenate([model.shape_std, model.expression_std]).astype(np.float64)
    z = np.abs(np.concatenate([shape, expression]))[std > 0] / std[std > 0]
    if z.size and z.max() > MAX_SIGMAS:
        raise PredictError(
            f"{where}: predicted coefficients for {wav} reach {z.max():.3g} prior standard "
            f"deviations from the mean face (limit {MAX_SIGMAS:g}); {_BROKEN}"
        )


@torch.no_grad()
def predict_face(
    wav: Path | str,
    checkpoint: Path | str,
    device: str = "cpu",
    min_speech_s: float = 0.5,
    max_seconds: float = MAX_SECONDS,
) -> Prediction:
    """Predict the face of the speaker of ``wav`` with a supervised or unsupervised checkpoint.

    ``wav`` is a recording, or an fbank ``.npy`` (``fbank_features``; not for a GE2E model,
    which embeds the recording: ``ge2e_input``). The model and its face model are loaded first,
    so a wrong file fails before the audio is read.

    Raises:
        CheckpointError: missing, unreadable, wrong-kind or damaged checkpoint.
        PredictError: no or unloadable face model; non-finite or implausible (over
            ``MAX_SIGMAS``) coefficients, or non-finite vertices.
        AudioError: as ``voice_features``, ``fbank_features`` or ``ge2e_input``.
        ReleaseFileError: as ``fbank_features``.
    """
    net, stored = load_predictor(checkpoint, device)
    model = load_face_model(stored)
    if KINDS[stored.kind].voice == "ge2e":
        x, speech_s, warnings = ge2e_input(wav, stored, device, min_speech_s, max_seconds)
    else:
        if Path(wav).suffix.lower() == ".npy":
            features, speech_s, warnings = fbank_features(wav, min_speech_s)  # (T, 64)
        else:
            features, speech_s, warnings = voice_features(wav, min_speech_s, max_seconds)
        x = torch.from_numpy(repeat_to(features, MIN_FRAMES).T.copy())[None].to(device)
    shape, expression = (t[0].cpu().numpy().astype(np.float64) for t in net.predict_raw(x))
    _check_finite(
        np.concatenate([shape, expression]), "the predicted coefficients", stored.path, wav
    )
    if (len(shape), len(expression)) != (model.n_shape, model.n_expression):
        raise PredictError(
            f"{stored.path}: predicts {len(shape)} shape / {len(expression)} expression "
            f"coefficients but its face model has {model.n_shape} / {model.n_expression}; "
            "the file is inconsistent: retrain it"
        )
    _check_plausible(shape, expression, model, stored.path, wav)
    vertices = model.reconstruct(shape[None], expression[None])[0]  # (N, 3)
    _check_finite(vertices, "the mesh vertices", stored.path, wav)
    return Prediction(shape, expression, vertices, model, speech_s, warnings)


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
