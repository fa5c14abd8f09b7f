"""What the synthetic world contains: the ``synth`` params section and the planned identities
(no heavy imports here: the config layer and the truth reader import this module).

``voice2mesh.config`` builds ``SynthParams`` from params.yaml; the generator reads the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageNuisance:
    """Ranges of the per-image nuisance variation."""

    yaw: float = 40.0  # degrees, uniform in ±yaw
    pitch: float = 15.0  # degrees
    roll: float = 10.0  # degrees
    expression_scale: float = 0.6  # expression coefficients ~ N(0, (scale * std)^2)
    neutral_fraction: float = 0.2  # images with a neutral expression
    face_fraction: float = 0.5  # landmark (jaw contour) width / image width (±10 %)
    shift: float = 0.05  # face centre jitter as a fraction of the image size


@dataclass(frozen=True)
class SynthParams:
    """The synthetic Voxceleb-3D world (docs/synthetic_world.md)."""

    root: str = "data/synthetic"  # output folder
    n_identities: int = 320  # identities in total (voices and/or faces)
    voice_only: int = 12  # identities with voices but no face folder
    face_only: int = 8  # identities with face photos but no VoxCeleb entry
    images_per_identity: tuple[int, int] = (4, 8)  # inclusive range
    videos_per_identity: tuple[int, int] = (1, 3)
    utterances_per_identity: tuple[int, int] = (4, 8)
    duration_s: tuple[float, float] = (3.0, 8.0)  # utterance length range
    image_size: int = 128  # JPEG side in pixels
    landmark_noise_px: float = 1.5  # simulated detector noise on the .pts landmarks
    voice_coupling: float = 0.8  # share of voice-trait variance explained by face geometry
    jpeg_quality: int = 92
    workers: int = 2  # processes; the output does not depend on it
    preview_identities: int = 6  # rows of reports/figures/synthetic_world.png
    nuisance: ImageNuisance = field(default_factory=ImageNuisance)

    def __post_init__(self) -> None:
        if not 0.0 <= self.voice_coupling <= 1.0:
            raise ValueError(f"synth.voice_coupling must be in [0, 1], got {self.voice_coupling}")
        if self.voice_only + self.face_only >= self.n_identities:
            raise ValueError("synth.voice_only + synth.face_only must be < synth.n_identities")
        for name in (
            "images_per_identity",
            "videos_per_identity",
            "utterances_per_identity",
            "duration_s",
        ):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"synth.{name} must be a range 0 < low <= high, got {lo, hi}")


@dataclass(frozen=True)
class Identity:
    """One planned identity of the world (``world.plan_identities``)."""

    index: int
    name: str
    gender: str
    nationality: str
    voxceleb_id: str | None  # None: face only
    has_face: bool
    shape: np.ndarray  # (Ks,) true shape coefficients
    anatomy_z: dict[str, float]
