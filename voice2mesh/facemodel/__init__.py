"""3D Morphable Models: one interface (``MorphableModel``), loaders and semantics."""

from voice2mesh.facemodel.model import (
    GENDERS,
    PAIR_NAMES,
    REGION_NAMES,
    DenseBasisUnavailable,
    MorphableModel,
)

__all__ = ["GENDERS", "PAIR_NAMES", "REGION_NAMES", "DenseBasisUnavailable", "MorphableModel"]
