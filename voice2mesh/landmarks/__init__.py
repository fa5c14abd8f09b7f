"""68-point facial landmarks: backends behind one interface, and the batch runner."""

from voice2mesh.landmarks.base import Face, LandmarkBackend, LandmarkResult, detect_landmarks
from voice2mesh.landmarks.dlib_backend import DlibBackend
from voice2mesh.landmarks.fan import FAN_WEIGHTS, FanBackend
from voice2mesh.landmarks.pts_backend import PtsBackend

BACKENDS = {"pts": PtsBackend, "fan": FanBackend, "dlib": DlibBackend}

__all__ = [
    "BACKENDS",
    "FAN_WEIGHTS",
    "DlibBackend",
    "Face",
    "FanBackend",
    "LandmarkBackend",
    "LandmarkResult",
    "PtsBackend",
    "detect_landmarks",
]
