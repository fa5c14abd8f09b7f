"""3DMM fitting to 2D landmarks (batched MAP fits) and per-identity reference shapes."""

from voice2mesh.fitting.landmark_fit import FitResult, diverged_reasons, fit_landmarks
from voice2mesh.fitting.reference import (
    RULES,
    References,
    build_references,
    frontal_score,
    usable_fits,
)

__all__ = [
    "RULES",
    "FitResult",
    "References",
    "build_references",
    "diverged_reasons",
    "fit_landmarks",
    "frontal_score",
    "usable_fits",
]
