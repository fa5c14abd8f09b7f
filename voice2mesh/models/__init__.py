"""Neural networks: the voice encoder (and, later, the face-coefficient heads)."""

from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig

__all__ = ["SpeakerClassifier", "VoiceEncoder", "VoiceEncoderConfig"]
