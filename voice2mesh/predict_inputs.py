"""What a model reads from a voice: its input tensor, the seconds of speech and warnings.

``voice_features``: a recording's normalised log-mel (Wen et al.'s front end, as the
``features`` stage); ``fbank_features``: an fbank ``.npy`` (the Voxceleb-3D release's);
``ge2e_input``: a recording's GE2E embedding (as the ``embed_ge2e`` stage). Recordings that
are truncated, clipped or do not look like speech give warnings (``audio_warnings``), not
errors; what the user must fix is a ``PredictError`` or ``AudioError`` naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from voice2mesh.audio.features import speech_features
from voice2mesh.audio.io import CLIP_WARN_FRACTION, MAX_SECONDS, AudioError, read_wav
from voice2mesh.audio.speechlike import not_speech_reasons
from voice2mesh.checkpoint import Checkpoint
from voice2mesh.encoders import EncoderUnavailable, embed_utterance, load_ge2e, speech_partials
from voice2mesh.release.fbank import read_fbank

SAMPLE_RATE = 16000
log = logging.getLogger(__name__)


class PredictError(ValueError):
    """A face that cannot be predicted or trusted; the message names the file and the fix."""


def audio_warnings(wav: Path | str, samples: np.ndarray, info: dict) -> dict[str, str]:
    """What is doubtful about a recording ``read_wav`` accepted: ``{code: message}``.

    Codes: ``truncated``, ``clipped`` (over ``CLIP_WARN_FRACTION`` of the samples at full
    scale), ``not_speech`` (``audio.speechlike``; the message lists its reason codes).

    Args:
        wav: the file, for the messages.
        samples: (L,) int16 at 16 kHz, as ``read_wav`` returned them.
        info: ``read_wav``'s info.
    """
    found = {}
    if info["truncated"]:
        found["truncated"] = (
            f"{wav}: truncated: the header declares {info['declared_duration_s']:.2f} s but the "
            f"file holds {info['duration_s']:.2f} s; only that part is used"
        )
    if info["clipped_fraction"] > CLIP_WARN_FRACTION:
        over = f", peaks at {info['peak']:.2g}× full scale" if info["peak"] > 1.0 else ""
        found["clipped"] = (
            f"{wav}: clipped: {info['clipped_fraction']:.1%} of the samples are at or beyond "
            f"full scale{over}; the face may be off: record at a lower level"
        )
    reasons = not_speech_reasons(samples, SAMPLE_RATE)
    if reasons:
        why = "; ".join(f"{code}: {message}" for code, message in reasons.items())
        found["not_speech"] = (
            f"{wav}: does not look like speech ({why}); "
            "the face will be meaningless unless this is a voice"
        )
    return found


def voice_features(
    wav: Path | str, min_speech_s: float = 0.5, max_seconds: float = MAX_SECONDS
) -> tuple[np.ndarray, float, dict[str, str]]:
    """The normalised log-mel the models were trained on, and warnings about the recording.

    The same front end as the ``features`` stage (``audio.features.utterance_features``), with
    the samples kept for ``audio_warnings``.

    Returns:
        ``(features, speech_s, warnings)``: (T, 64) float32, seconds of speech after VAD, and
        ``audio_warnings`` (logged here, but for ``truncated``: ``read_wav`` logged it).

    Raises:
        AudioError: unreadable, empty, silent, bad sample rate, over ``max_seconds``, or under
            ``min_speech_s`` of speech.
    """
    samples, warnings = _read_voice(wav, max_seconds)
    features, speech_s = speech_features(samples, wav, min_speech_s)
    return features, speech_s, warnings


def _read_voice(wav: Path | str, max_seconds: float) -> tuple[np.ndarray, dict[str, str]]:
    """(L,) int16 samples at 16 kHz and ``audio_warnings``, logged (``read_wav`` logs
    ``truncated``)."""
    samples, info = read_wav(wav, SAMPLE_RATE, max_seconds)
    warnings = audio_warnings(wav, samples, info)
    for code, message in warnings.items():
        if code != "truncated":
            log.warning("%s", message)
    return samples, warnings


def fbank_features(
    npy: Path | str, min_speech_s: float = 0.5
) -> tuple[np.ndarray, float, dict[str, str]]:
    """The features of an fbank ``.npy`` (the release's, or any (T, 64) float array), as
    ``voice_features`` returns a wav's.

    The release normalises per bin as the ``features`` stage does and repeats short utterances
    to 1000 frames as ``predict_face`` does (``release.fbank``), so the frames go to the encoder
    unchanged (one period of a repeated file, repeated again: the same 1000 frames). Frames that
    are not normalised per bin give a face with a ``not_normalised`` warning.

    Raises:
        ReleaseFileError: unreadable, not (T, 64) floats, empty or non-finite.
        AudioError: under ``min_speech_s`` seconds of frames (100 per second).
    """
    fbank = read_fbank(npy)  # (T, 64)
    warnings = {}
    if fbank.problem:
        warnings["not_normalised"] = (
            f"{npy}: {fbank.problem}; the face will be meaningless unless the frames are "
            "normalised per bin as the models were trained"
        )
        log.warning("%s", warnings["not_normalised"])
    if fbank.speech_s < min_speech_s:
        raise AudioError(
            npy,
            f"{fbank.speech_s:.2f} s of frames, under the {min_speech_s:g} s required",
            "too_little_speech",
        )
    return fbank.features, fbank.speech_s, warnings


def ge2e_input(
    wav: Path | str, checkpoint: Checkpoint, device: str, min_speech_s: float, max_seconds: float
) -> tuple[torch.Tensor, float, dict[str, str]]:
    """``voice_features`` for a ``supervised_ge2e`` model: the (1, 256) GE2E embedding of a
    recording as ``embed_ge2e`` computes it, with the weights the model was trained on.

    Raises:
        PredictError: an fbank ``.npy`` (GE2E reads the waveform), or the weights missing or
            other than the checkpoint's ``ge2e.weights_sha256``.
        AudioError: as ``voice_features`` (speech counted after GE2E's silence trimming).
    """
    if Path(wav).suffix.lower() == ".npy":
        raise PredictError(
            f"{checkpoint.path}: a GE2E model embeds the waveform; {wav} holds log-mel frames: "
            "give the recording, or use a log-mel model (e.g. --row supervised)"
        )
    pinned = (checkpoint.params.get("ge2e") or {}).get("weights_sha256")
    try:
        encoder = load_ge2e(device, pinned)
    except EncoderUnavailable as error:
        why = f"{checkpoint.path} needs the GE2E weights it was trained on: {error}"
        raise PredictError(why) from error
    samples, warnings = _read_voice(wav, max_seconds)  # (L,) int16
    mels, speech_s = speech_partials(samples, wav, min_speech_s)  # (P, 160, 40)
    x = torch.from_numpy(embed_utterance(encoder, mels))[None].to(device)  # (1, 256)
    return x, speech_s, warnings
