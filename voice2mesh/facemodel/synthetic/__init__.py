"""The procedural synthetic face model: the embedded default 3DMM (no files needed).

A deterministic, left-right symmetric human face (forehead to chin, ear to ear, no back of the
head, like the BFM's noneck mesh) built from a grid over the front of a head plus smooth
anatomical relief (``grid``, ``relief``), with 68 ibug landmarks
(``landmarks``), BFM-equivalent measurement pairs and part regions
(``semantics``), 40 named identity components (``shape``), 10 named expression
components (``expression``) and male/female mean shapes.

Frame: millimetres, x to the image-right, y up, z towards the camera; the origin lies on the
midline at the height of the outer eye corners and at the depth of the ear junctions.
The bases have orthonormal columns; ``std / sqrt(N)`` is the per-vertex RMS displacement (mm)
of one standard deviation (see ``basis``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.semantics import derive_pairs, derive_regions
from voice2mesh.facemodel.synthetic.basis import build_basis
from voice2mesh.facemodel.synthetic.expression import (
    EXPRESSION_COMPONENT_NAMES,
    expression_components,
)
from voice2mesh.facemodel.synthetic.landmarks import find_landmarks
from voice2mesh.facemodel.synthetic.mesh import build_mesh
from voice2mesh.facemodel.synthetic.shape import SHAPE_COMPONENT_NAMES, shape_components

__all__ = [
    "EXPRESSION_COMPONENT_NAMES",
    "GENDER_SHAPE_SIGMA",
    "SHAPE_COMPONENT_NAMES",
    "build_synthetic_model",
    "mirror_index",
]

DEFAULT_RESOLUTION = 104
# Male mean shape in standard deviations of each component (the female mean is its negative):
# men larger overall with a wider jaw, bigger nose, stronger brow ridge and a longer face.
GENDER_SHAPE_SIGMA: dict[str, float] = {
    "face_width": 1.1,
    "face_length": 1.2,
    "jaw_width": 1.0,
    "chin": 0.8,
    "forehead": 0.6,
    "nose_size": 1.2,
    "eye_spacing": 0.5,
    "cheek_fullness": -0.6,
    "nose_width": 0.8,
    "lip_thickness": -0.7,
    "brow_ridge": 1.5,
    "cheekbone_height": -0.3,
    "jaw_angle": 0.8,
    "face_depth": 0.6,
    "mouth_width": 0.4,
}


@lru_cache(maxsize=8)
def build_synthetic_model(
    n_shape: int = 40, n_expression: int = 10, resolution: int = DEFAULT_RESOLUTION
) -> MorphableModel:
    """Build (once per argument set; cached) the procedural synthetic face model.

    Args:
        n_shape: number of identity components, 1-40 (the first ``n_shape`` of
            ``SHAPE_COMPONENT_NAMES``; the basis of a smaller model is a prefix of a larger).
        n_expression: number of expression components, 1-10 (``EXPRESSION_COMPONENT_NAMES``).
        resolution: grid cells across the face (even, 40-200); the default gives 13,335
            vertices and 26,208 triangles.

    Returns:
        A ``MorphableModel`` named ``"synthetic"``; identical arrays on every call, all of them
        read-only (the instance is shared through the cache).

    Raises:
        ValueError: for component counts or a resolution outside the ranges above.
    """
    if not 1 <= n_shape <= len(SHAPE_COMPONENT_NAMES):
        raise ValueError(f"n_shape must be in 1..{len(SHAPE_COMPONENT_NAMES)}, got {n_shape}")
    if not 1 <= n_expression <= len(EXPRESSION_COMPONENT_NAMES):
        raise ValueError(
            f"n_expression must be in 1..{len(EXPRESSION_COMPONENT_NAMES)}, got {n_expression}"
        )
    if resolution % 2 or not 40 <= resolution <= 200:
        raise ValueError(f"resolution must be an even number in 40..200, got {resolution}")
    mesh = build_mesh(resolution)
    landmarks = find_landmarks(mesh)
    shape_basis, shape_std = build_basis(mesh, shape_components()[:n_shape])
    exp_basis, exp_std = build_basis(mesh, expression_components()[:n_expression], decreasing=False)
    male = (
        np.array([GENDER_SHAPE_SIGMA.get(name, 0.0) for name in SHAPE_COMPONENT_NAMES[:n_shape]])
        * shape_std
    )
    regions = {k: _frozen(v) for k, v in derive_regions(mesh.vertices, landmarks).items()}
    return MorphableModel(
        name="synthetic",
        mean=mesh.vertices.astype(np.float32),
        shape_basis=shape_basis.astype(np.float32),
        shape_std=_frozen(shape_std.astype(np.float32)),
        expression_basis=exp_basis.astype(np.float32),
        expression_std=_frozen(exp_std.astype(np.float32)),
        triangles=_frozen(mesh.triangles),
        landmarks=_frozen(landmarks),
        pairs=derive_pairs(mesh.vertices, landmarks),
        regions=regions,
        gender_shape={
            "male": _frozen(male.astype(np.float32)),
            "female": _frozen((-male).astype(np.float32)),
        },
        source=None,
        shape_names=SHAPE_COMPONENT_NAMES[:n_shape],
        expression_names=EXPRESSION_COMPONENT_NAMES[:n_expression],
        dense=True,
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def mirror_index(model: MorphableModel, tol: float = 1e-3) -> np.ndarray:
    """(N,) permutation taking each vertex to its mirror image (x -> -x) on the mean face.

    Args:
        model: a model whose mean face is left-right symmetric about x = 0.
        tol: largest allowed distance (mm) between a mirrored vertex and its partner.

    Raises:
        ValueError: when some vertex has no mirror partner within ``tol``.
    """
    mean = np.asarray(model.mean, np.float64)
    dist, index = cKDTree(mean).query(mean * np.array([-1.0, 1.0, 1.0]))
    if dist.max() > tol or len(np.unique(index)) != len(index):
        raise ValueError(
            f"model {model.name!r} is not left-right symmetric: a vertex is "
            f"{dist.max():.3g} mm from the nearest mirror partner (tol {tol})"
        )
    return index.astype(np.int64)
