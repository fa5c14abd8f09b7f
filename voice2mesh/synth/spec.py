"""What the synthetic world contains: the ``synth`` params section and the planned identities
(no heavy imports here: the config layer and the truth reader import this module).

``voice2mesh.config`` builds ``SynthParams`` from params.yaml; the generator reads the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import numpy as np

from voice2mesh.config.schema import Range, Section

# synth.voice_coupling multiplies each voice-face link's literature within-sex r; at
# 1 / min |r| (f0_hz's -0.12 in voice_traits.COUPLED_TRAITS) every link reaches r = 1.
MAX_VOICE_COUPLING = 1 / 0.12


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
class SynthParams(Section):
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
    # Scale on every voice-face link's literature r (voice_traits): 0 none, 1 the literature.
    voice_coupling: Annotated[float, Range(0.0, MAX_VOICE_COUPLING)] = 1.0
    jpeg_quality: int = 92
    workers: int = 2  # processes; the output does not depend on it
    preview_identities: int = 6  # rows of reports/figures/synthetic_world.png
    nuisance: ImageNuisance = field(default_factory=ImageNuisance)

    def __post_init__(self) -> None:
        super().__post_init__()  # the Annotated ranges
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
class CorpusParams(Section):
    """The teacher's pretraining corpus (``synth.corpus``, stage ``teacher_corpus``).

    A 300W-LP analogue: face photos of a population drawn apart from the world's identities,
    labelled with their own 3DMM parameters, as 300W-LP's images carry their fitted ones.
    """

    root: str = "data/teacher_corpus"  # output folder
    n_identities: Annotated[int, Range(2)] = 600  # at least one train and one val identity
    images_per_identity: tuple[int, int] = (4, 4)  # inclusive range
    val_fraction: Annotated[float, Range(0, 1, open_low=True, open_high=True)] = 0.1  # held out
    image_size: int = 128
    landmark_noise_px: float = 1.5  # the .pts a detector would give (crop boxes come from them)
    jpeg_quality: int = 92
    workers: int = 2  # processes; the output does not depend on it
    nuisance: ImageNuisance = field(default_factory=ImageNuisance)

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = self.images_per_identity
        if not 0 < lo <= hi:
            raise ValueError(
                f"teacher_corpus.images_per_identity must be 0 < low <= high, got {lo, hi}"
            )


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
