"""Scaled-orthographic camera poses (the 3DDFA-V2 convention).

A pose is a (3, 4) matrix ``P = [sR | t]``. Canonical vertices ``X`` (N, 3) (mm; x to the
image-right, y up, z towards the camera) project to ``p = X @ P[:, :3].T + P[:, 3]`` where

* ``p[:, 0]`` is the column in pixels from the image's left edge,
* ``p[:, 1]`` is the height in pixels measured *up* from the image's bottom edge,
* ``p[:, 2]`` is depth in the same pixel units; larger is closer to the camera.

The image row is therefore ``H - p[:, 1]``. Pixel ``(row r, column c)`` covers
``[c, c + 1) x [r, r + 1)`` in (x, row) coordinates, so its centre is ``(c + 0.5, r + 0.5)``.

Angles are in degrees and the rotation is ``R = R_yaw @ R_pitch @ R_roll`` acting on column
vectors (roll first, yaw last, in the camera frame):

* positive **yaw** (about y) turns the face to the image-right: the nose tip moves to +x;
* positive **pitch** (about x) tilts the face up: the nose tip moves to +y (up the image);
* positive **roll** (about z) turns the face counter-clockwise in the image: +x moves to +y.

Trigonometry comes from ``voice2mesh.portable`` and products are summed elementwise in a fixed
order (no BLAS): poses, projections and angles are the same bits on every CPU.
"""

from __future__ import annotations

import numpy as np

from voice2mesh import portable as pm


def rotation_matrix(yaw=0.0, pitch=0.0, roll=0.0) -> np.ndarray:
    """Rotation matrices from Euler angles in degrees (convention in the module docstring).

    Args:
        yaw: scalar or (...,) degrees about y; positive turns the face to the image-right.
        pitch: scalar or (...,) degrees about x; positive tilts the face up.
        roll: scalar or (...,) degrees about z; positive is counter-clockwise in the image.

    Returns:
        (..., 3, 3) float64 rotations (the angles broadcast together); (3, 3) for scalars.
    """
    a, b, g = np.broadcast_arrays(
        *(np.deg2rad(np.asarray(x, np.float64)) for x in (yaw, pitch, roll))
    )
    ca, sa, cb, sb, cg, sg = pm.cos(a), pm.sin(a), pm.cos(b), pm.sin(b), pm.cos(g), pm.sin(g)
    rows = [
        [ca * cg - sa * sb * sg, -ca * sg - sa * sb * cg, sa * cb],
        [cb * sg, cb * cg, sb],
        [-sa * cg - ca * sb * sg, sa * sg - ca * sb * cg, ca * cb],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def rotation_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_matrix`: (yaw, pitch, roll) in degrees of a (3, 3) rotation.

    Pitch is taken in [-90, 90]; at exactly +-90 degrees (gimbal lock) yaw and roll are not
    unique and one valid pair is returned.
    """
    R = np.asarray(rotation, np.float64)
    pitch = pm.arcsin(np.clip(R[1, 2], -1.0, 1.0))
    yaw = pm.arctan2(R[0, 2], R[2, 2])
    roll = pm.arctan2(R[1, 0], R[1, 1])
    return float(np.rad2deg(yaw)), float(np.rad2deg(pitch)), float(np.rad2deg(roll))


def pose_matrix(
    scale: float, rotation: np.ndarray, tx: float, ty: float, tz: float = 0.0
) -> np.ndarray:
    """Build ``P = [scale * R | (tx, ty, tz)]``.

    Args:
        scale: pixels per millimetre.
        rotation: (3, 3) rotation.
        tx: column offset in pixels from the image's left edge.
        ty: height offset in pixels up from the image's bottom edge.
        tz: depth offset (only shifts the depth buffer).

    Returns:
        (3, 4) float64 pose.
    """
    rotation = np.asarray(rotation, np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must be (3, 3), got {rotation.shape}")
    return np.concatenate([scale * rotation, np.array([[tx], [ty], [tz]], np.float64)], axis=1)


def decompose_pose(pose: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Split a pose into scale, rotation and translation.

    Args:
        pose: (3, 4) ``[sR | t]``; ``sR`` may be slightly non-orthogonal (e.g. regressed).

    Returns:
        ``(scale, R, t)``: scale is the mean row norm of ``sR``; R (3, 3) is the proper
        rotation nearest to ``sR / scale`` (SVD, det +1); t (3,).
    """
    pose = _check_pose(pose)
    sR = pose[:, :3]
    scale = float(np.linalg.norm(sR, axis=1).mean())
    if scale <= 0:
        raise ValueError("pose has a zero linear part; cannot decompose it")
    U, _, Vt = np.linalg.svd(sR / scale)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return scale, U @ fix @ Vt, pose[:, 3].copy()


def fit_pose(
    vertices: np.ndarray,
    size: tuple[int, int] = (256, 256),
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    margin: float = 0.08,
) -> np.ndarray:
    """A pose that rotates a mesh and frames it in the image.

    The bounding box (in x and y) of the rotated vertices is scaled uniformly so that it fits
    inside the image with ``margin * W`` free on the left/right and ``margin * H`` free at the
    top/bottom, and centred; the limiting dimension touches its margins.

    Args:
        vertices: (N, 3) canonical vertices (NaN rows are ignored).
        size: (H, W) image size in pixels.
        yaw, pitch, roll: head rotation in degrees (see :func:`rotation_matrix`).
        margin: free border as a fraction of the image size on each side, in [0, 0.5).

    Returns:
        (3, 4) pose; depth is left untranslated (tz = 0).
    """
    H, W = size
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    R = rotation_matrix(yaw, pitch, roll)
    rotated = _linear(np.asarray(vertices, np.float64), R)  # (N, 3)
    lo, hi = np.nanmin(rotated[:, :2], axis=0), np.nanmax(rotated[:, :2], axis=0)
    extent = hi - lo  # (2,) width, height in mm
    room = np.array([W, H], np.float64) * (1.0 - 2.0 * margin)
    with np.errstate(divide="ignore"):
        scales = np.where(extent > 0, room / np.where(extent > 0, extent, 1.0), np.inf)
    scale = float(scales.min())
    if not np.isfinite(scale):
        raise ValueError("cannot fit a pose: the rotated vertices have zero width and height")
    centre = (lo + hi) / 2.0
    return pose_matrix(scale, R, W / 2.0 - scale * centre[0], H / 2.0 - scale * centre[1])


def project(vertices: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Apply a pose: ``p = X @ P[:, :3].T + P[:, 3]``.

    Args:
        vertices: (..., N, 3) canonical vertices.
        pose: (3, 4) or (..., 3, 4) poses broadcasting against the vertices' batch dims.

    Returns:
        (..., N, 3) float64: column x, height y up from the bottom, depth z (larger = closer).
    """
    vertices = np.asarray(vertices, np.float64)
    pose = np.asarray(pose, np.float64)
    if pose.shape[-2:] != (3, 4):
        raise ValueError(f"pose must be (..., 3, 4), got {pose.shape}")
    return _linear(vertices, pose[..., :3]) + pose[..., None, :, 3]


def _linear(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points @ matrix.T`` for (..., N, 3) points and (..., 3, 3) matrices.

    The three products are added in a fixed order, elementwise: a BLAS matmul picks its kernel
    (and so its rounding) by CPU, which made the synthetic world differ between machines.
    """
    m = matrix[..., None, :, :]  # (..., 1, 3, 3)
    x, y, z = points[..., 0, None], points[..., 1, None], points[..., 2, None]  # (..., N, 1)
    return x * m[..., 0] + y * m[..., 1] + z * m[..., 2]


def to_pixels(projected: np.ndarray, height: int) -> np.ndarray:
    """Image (x, row) coordinates of projected points: ``(p[..., 0], height - p[..., 1])``.

    Args:
        projected: (..., N, 2+) output of :func:`project`.
        height: image height H in pixels.

    Returns:
        (..., N, 2) float64 (x, row); the centre of pixel (r, c) is (c + 0.5, r + 0.5).
    """
    projected = np.asarray(projected, np.float64)
    return np.stack([projected[..., 0], height - projected[..., 1]], axis=-1)


def _check_pose(pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, np.float64)
    if pose.shape != (3, 4):
        raise ValueError(f"pose must be a (3, 4) [sR | t] matrix, got shape {pose.shape}")
    return pose
