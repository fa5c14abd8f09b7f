"""The mean mesh of the procedural synthetic face: base head + anatomical relief."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice2mesh.facemodel.synthetic.grid import BaseGrid, build_base, grid_triangles
from voice2mesh.facemodel.synthetic.relief import (
    eye_relief,
    mouth_relief,
    nose_relief,
    skeleton_relief,
)


@dataclass(frozen=True)
class SyntheticMesh:
    """The synthetic mean face and the grid bookkeeping the bases are built from.

    Attributes:
        vertices: (N, 3) float64 mean face in mm, exactly left-right symmetric.
        triangles: (F, 3) int64, counter-clockwise seen from outside.
        base: the base head on the (R, C) grid (N = R * C, row-major).
        normals: (N, 3) unit vertex normals of the mean face.
        mirror: (N,) int64 id of each vertex's mirror image (x -> -x).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    base: BaseGrid
    normals: np.ndarray
    mirror: np.ndarray

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(R, C) rows and columns of the vertex grid."""
        return self.base.phi.shape


def build_mesh(resolution: int) -> SyntheticMesh:
    """Base head plus relief, symmetrised exactly about x = 0."""
    base = build_base(resolution)
    n_rows, n_cols = base.phi.shape
    x, y = base.points[..., 0], base.points[..., 1]
    ax = np.abs(x)
    front = np.clip(base.normals[..., 2], 0.0, None)  # z-relief only where the face looks ahead
    along_normal = skeleton_relief(ax, y)
    along_z = (eye_relief(ax, y) + nose_relief(ax, y) + mouth_relief(ax, y, base.seam)) * front
    points = base.points + along_normal[..., None] * base.normals
    points[..., 2] += along_z
    mirror = (np.arange(n_rows)[:, None] * n_cols + np.arange(n_cols)[::-1][None, :]).ravel()
    vertices = points.reshape(-1, 3)
    vertices = 0.5 * (vertices + vertices[mirror] * np.array([-1.0, 1.0, 1.0]))
    triangles = grid_triangles(n_rows, n_cols)
    normals = _vertex_normals(vertices, triangles)
    return SyntheticMesh(vertices, triangles, base, normals, mirror)


def _vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) area-weighted unit vertex normals."""
    a, b, c = (points[triangles[:, k]] for k in range(3))
    face = np.cross(b - a, c - a)  # (F, 3)
    normals = np.zeros_like(points)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
