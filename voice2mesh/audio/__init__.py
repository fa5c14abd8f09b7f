"""Wen et al.'s audio front end: reading, VAD, 64-bin log-mel, and the sharded feature store."""

from voice2mesh.audio.features import FeatureError, FeatureStore, extract_features
from voice2mesh.audio.io import AudioError, read_wav
from voice2mesh.audio.logmel import log_mel, log_mel_batch, mel_filterbank, normalize, repeat_to
from voice2mesh.audio.vad import vad, voiced_segments

__all__ = [
    "AudioError",
    "FeatureError",
    "FeatureStore",
    "extract_features",
    "log_mel",
    "log_mel_batch",
    "mel_filterbank",
    "normalize",
    "read_wav",
    "repeat_to",
    "vad",
    "voiced_segments",
]
