"""A z-buffered triangle rasterizer with Lambertian shading.

Projection, normals and shading are vectorised numpy; only the per-triangle scan conversion
is a numba loop (numpy cannot vectorise it without materialising every triangle's bounding
box). The camera is the scaled orthographic one of :mod:`voice2mesh.render.camera`; a pixel is
covered when its centre lies inside a triangle (edges inclusive), and the larger depth wins.

Triangles are double-sided: either winding renders, and the interpolated normal is flipped
towards the camera before shading, so meshes with clockwise faces light correctly too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from voice2mesh.render.camera import project
from voice2mesh.render.visibility import landmark_visibility

SKIN_TONE: tuple[float, float, float] = (0.86, 0.71, 0.62)
DEFAULT_BACKGROUND: tuple[int, int, int] = (255, 255, 255)


@dataclass(frozen=True)
class Light:
    """A directional light in the camera frame (x right, y up, z towards the camera).

    Attributes:
        direction: vector pointing *towards* the light; normalised on construction.
        ambient: intensity added everywhere.
        diffuse: Lambertian weight: intensity = ambient + diffuse * max(0, n . direction).
    """

    direction: tuple[float, float, float] = (0.3, 0.4, 1.0)
    ambient: float = 0.35
    diffuse: float = 0.7

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, np.float64)
        norm = float(np.sqrt((d * d).sum())) if d.shape == (3,) else 0.0  # no BLAS: see below
        if norm == 0.0 or not np.isfinite(norm):
            raise ValueError(
                f"Light.direction must be a finite non-zero 3-vector, got {self.direction!r}"
            )
        if self.ambient < 0 or self.diffuse < 0:
            raise ValueError(
                f"Light ambient/diffuse must be >= 0, got {self.ambient}, {self.diffuse}"
            )
        object.__setattr__(self, "direction", tuple(float(x) for x in d / norm))


DEFAULT_LIGHT = Light()


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered view.

    Attributes:
        image: (H, W, 3) uint8 shaded render over the background.
        depth: (H, W) float32 z-buffer (pose units, larger = closer); -inf where empty.
        mask: (H, W) bool, True where a triangle covers the pixel centre.
        face_index: (H, W) int32 visible triangle per pixel; -1 where empty.
        landmarks_2d: (68, 2) float64 (x, row) image coordinates, NaN where unmapped;
            None when no landmarks were given.
        landmarks_visible: (68,) bool mapped, inside the image and not occluded; None when no
            landmarks were given.
        pose: (3, 4) pose used.
    """

    image: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    face_index: np.ndarray
    landmarks_2d: np.ndarray | None
    landmarks_visible: np.ndarray | None
    pose: np.ndarray = field(repr=False)


@njit(cache=True)
def _scan(x, row, z, triangles, depth, face_index, bary):  # pragma: no cover - compiled
    """Scan-convert triangles into the z-buffer in place.

    x, row, z: (N,) float64 image column, image row and depth of each vertex; triangles (F, 3)
    int64; depth (H, W) float64 initialised to -inf; face_index (H, W) int32 initialised to
    -1; bary (3, H, W) float64 barycentric weights of the visible triangle's corners.
    """
    H, W = depth.shape
    for f in range(triangles.shape[0]):
        i0, i1, i2 = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        x0, y0, x1, y1, x2, y2 = x[i0], row[i0], x[i1], row[i1], x[i2], row[i2]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if not (abs(area) > 1e-12) or not math.isfinite(area):  # degenerate or NaN
            continue
        inv = 1.0 / area
        # Pixel c is covered when c + 0.5 is in [min, max]; clip before int() to stay in range.
        c0 = max(math.ceil(min(max(min(x0, x1, x2), -1.0), W + 1.0) - 0.5), 0)
        c1 = min(math.floor(min(max(max(x0, x1, x2), -1.0), W + 1.0) - 0.5), W - 1)
        r0 = max(math.ceil(min(max(min(y0, y1, y2), -1.0), H + 1.0) - 0.5), 0)
        r1 = min(math.floor(min(max(max(y0, y1, y2), -1.0), H + 1.0) - 0.5), H - 1)
        z0, z1, z2 = z[i0], z[i1], z[i2]
        for r in range(r0, r1 + 1):
            py = r + 0.5
            for c in range(c0, c1 + 1):
                px = c + 0.5
                w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) * inv
                w1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < -1e-9 or w1 < -1e-9 or w2 < -1e-9:
                    continue
                zz = w0 * z0 + w1 * z1 + w2 * z2
                if zz > depth[r, c]:
                    depth[r, c] = zz
                    face_index[r, c] = f
                    bary[0, r, c] = w0
                    bary[1, r, c] = w1
                    bary[2, r, c] = w2


def vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (following the triangles' winding).

    Args:
        points: (N, 3) vertices.
        triangles: (F, 3) vertex ids.

    Returns:
        (N, 3) unit normals; zero for vertices not used by any non-degenerate triangle.
    """
    corners = np.ascontiguousarray(np.asarray(triangles, np.int64).T)
    return _normals_planar(np.ascontiguousarray(np.asarray(points, np.float64).T), corners).T


def _normals_planar(q: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Vertex normals in planar layout: q (3, N) coordinates, corners (3, F) -> (3, N).

    Planar (component-major) arrays and ``np.take`` avoid numpy's slow multi-dimensional fancy
    indexing, which dominates the render time otherwise.
    """
    a, b, c = (np.take(q, corners[k], axis=1) for k in range(3))  # (3, F) each
    u, v = b - a, c - a
    face = np.stack(
        [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
    )  # (3, F), length = twice the area
    face = np.nan_to_num(face, nan=0.0, posinf=0.0, neginf=0.0)
    n = q.shape[1]
    normals = np.stack(
        [sum(np.bincount(corners[k], face[j], minlength=n) for k in range(3)) for j in range(3)]
    )  # (3, N)
    length = np.sqrt((normals**2).sum(axis=0))
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def _interpolate(values: np.ndarray, corners: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Barycentric interpolation: values (C, N), corners (3, M) ids, weights (3, M) -> (C, M)."""
    return sum(np.take(values, corners[k], axis=1) * weights[k] for k in range(3))


def render(
    vertices: np.ndarray,
    triangles: np.ndarray,
    pose: np.ndarray,
    size: tuple[int, int] = (256, 256),
    *,
    colors: np.ndarray | None = None,
    light: Light | None = None,
    background: tuple[int, int, int] | np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> RenderResult:
    """Render a shaded mesh with a z-buffer.

    Args:
        vertices: (N, 3) canonical vertices.
        triangles: (F, 3) vertex ids, either winding.
        pose: (3, 4) scaled-orthographic pose (see :mod:`voice2mesh.render.camera`).
        size: (H, W) image size.
        colors: (N, 3) per-vertex albedo in [0, 1]; default a uniform ``SKIN_TONE``.
        light: shading light; default ``Light()`` (``DEFAULT_LIGHT``).
        background: RGB tuple or an (H, W, 3) uint8 image to draw over; default white.
        landmarks: (68,) vertex ids, -1 = unmapped.

    Returns:
        A :class:`RenderResult`.
    """
    H, W = int(size[0]), int(size[1])
    light = DEFAULT_LIGHT if light is None else light
    triangles = _check_triangles(triangles, len(vertices))
    points = project(vertices, pose)  # (N, 3)
    q = np.ascontiguousarray(points.T)  # (3, N) x, height up, depth
    row = H - q[1]  # (N,)
    depth = np.full((H, W), -np.inf)
    face_index = np.full((H, W), -1, np.int32)
    bary = np.zeros((3, H, W))
    _scan(q[0], row, q[2], triangles, depth, face_index, bary)
    image = _background(background, H, W)
    pixels = np.flatnonzero(face_index.reshape(-1) >= 0)  # (M,) covered flat pixel ids
    corners = np.ascontiguousarray(triangles.T)  # (3, F)
    pixel_corners = np.take(corners, face_index.reshape(-1)[pixels], axis=1)  # (3, M)
    weights = np.take(bary.reshape(3, -1), pixels, axis=1)  # (3, M)
    normal = _interpolate(_normals_planar(q, corners), pixel_corners, weights)  # (3, M)
    normal *= np.where(normal[2] < 0, -1.0, 1.0)  # double-sided: face the camera
    # Dot products summed elementwise in a fixed order: BLAS picks its kernel (and so its
    # rounding) by CPU, which made the synthetic world's photos differ between machines.
    d = light.direction
    cosine = (d[0] * normal[0] + d[1] * normal[1] + d[2] * normal[2]) / np.maximum(
        np.sqrt((normal**2).sum(axis=0)), 1e-12
    )  # (M,)
    intensity = light.ambient + light.diffuse * np.clip(cosine, 0.0, None)
    rgb = _interpolate(_albedo(colors, len(vertices)), pixel_corners, weights) * intensity
    flat = image.reshape(-1, 3)
    for k in range(3):
        flat[pixels, k] = np.round(np.clip(rgb[k], 0.0, 1.0) * 255.0)
    lm_2d = lm_vis = None
    if landmarks is not None:
        lm_2d, lm_vis = landmark_visibility(np.asarray(landmarks), points, (H, W), triangles)
    pose = np.asarray(pose, np.float64).copy()
    mask = face_index >= 0
    return RenderResult(image, depth.astype(np.float32), mask, face_index, lm_2d, lm_vis, pose)


def render_many(
    vertices: Sequence[np.ndarray] | np.ndarray,
    triangles: np.ndarray,
    poses: Sequence[np.ndarray] | np.ndarray,
    size: tuple[int, int] = (256, 256),
    **kwargs,
) -> list[RenderResult]:
    """Render several meshes sharing one topology.

    Args:
        vertices: B arrays of (N, 3) (or one (B, N, 3) array).
        triangles: (F, 3) shared vertex ids.
        poses: B poses of (3, 4) (or one (B, 3, 4) array).
        size: (H, W) image size.
        **kwargs: passed to :func:`render` (colors, light, background, landmarks).

    Returns:
        B render results in order.
    """
    if len(vertices) != len(poses):
        raise ValueError(f"got {len(vertices)} meshes but {len(poses)} poses")
    return [render(v, triangles, p, size, **kwargs) for v, p in zip(vertices, poses, strict=True)]


def _check_triangles(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must be (F, 3), got {triangles.shape}")
    if triangles.size and (triangles.min() < 0 or triangles.max() >= n_vertices):
        raise ValueError(
            f"triangle vertex ids must be in [0, {n_vertices}), got "
            f"[{triangles.min()}, {triangles.max()}]"
        )
    return triangles


def _albedo(colors: np.ndarray | None, n: int) -> np.ndarray:
    """(3, N) planar per-vertex albedo."""
    if colors is None:
        return np.repeat(np.asarray(SKIN_TONE)[:, None], n, axis=1)
    colors = np.asarray(colors, np.float64)
    if colors.shape != (n, 3):
        raise ValueError(f"colors must be (N, 3) = ({n}, 3) floats in [0, 1], got {colors.shape}")
    return np.ascontiguousarray(colors.T)


def _background(background, H: int, W: int) -> np.ndarray:
    if background is None:
        background = DEFAULT_BACKGROUND
    background = np.asarray(background)
    if background.shape == (3,):
        image = np.empty((H, W, 3), np.uint8)
        image[:] = background
        return image
    if background.shape != (H, W, 3):
        raise ValueError(
            f"background must be RGB or an ({H}, {W}, 3) image, got {background.shape}"
        )
    return background.astype(np.uint8, copy=True)
