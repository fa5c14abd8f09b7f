"""68-point facial landmarks: backends behind one interface, and the batch runner."""

from voice2mesh.landmarks.base import LandmarkBackend, LandmarkResult, detect_landmarks
from voice2mesh.landmarks.fan import FAN_WEIGHTS, FanBackend
from voice2mesh.landmarks.pts_backend import PtsBackend

BACKENDS = {"pts": PtsBackend, "fan": FanBackend}

__all__ = [
    "BACKENDS",
    "FAN_WEIGHTS",
    "FanBackend",
    "LandmarkBackend",
    "LandmarkResult",
    "PtsBackend",
    "detect_landmarks",
]
