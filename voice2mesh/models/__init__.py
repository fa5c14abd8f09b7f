"""Neural networks: the voice encoder (and, later, the face-coefficient heads)."""

from voice2mesh.models.gan import GanConfig, VoiceToFaceGan
from voice2mesh.models.mobilenet import MobileNetV1
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.teacher import Teacher
from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig

__all__ = [
    "GanConfig",
    "MobileNetV1",
    "MobileNetV2",
    "SpeakerClassifier",
    "Teacher",
    "VoiceEncoder",
    "VoiceEncoderConfig",
    "VoiceToFaceGan",
]
