"""Batched scaled-orthographic camera estimation from 2D-3D correspondences (torch).

Conventions follow ``voice2mesh.render.camera``: a pose ``[sR | t]`` maps canonical points X
to ``p = s R[:2] X + t[:2]`` with ``p = (column, height up)``; the third row of R is the
viewing direction in model coordinates (depth). Everything here works on a leading batch
dimension M and is vectorised: the 2x3 and 3x3 algebra is written out in closed form instead
of calling batched LAPACK, whose per-matrix overhead dominates for matrices this small.
"""

from __future__ import annotations

import numpy as np
import torch

_EPS = 1e-12


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cross product of (..., 3) tensors."""
    return torch.linalg.cross(a, b, dim=-1)


def weighted_affine_camera(
    X: torch.Tensor, q: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted least-squares affine camera ``q ≈ A X + b`` (Hartley & Zisserman, alg. 7.2).

    Args:
        X: (M, 3, L) model points (coordinate-major).
        q: (M, 2, L) image points (height-up).
        w: (M, L) non-negative weights (0 drops a point); at least 4 non-coplanar points with
            positive weight are needed for a unique answer.

    Returns:
        ``(A, b)``: (M, 2, 3) linear part and (M, 2) offset.
    """
    wsum = w.sum(1, keepdim=True).clamp_min(_EPS)  # (M, 1)
    Xw = X * w[:, None]
    X_sum = Xw.sum(2)  # (M, 3)
    X_bar = X_sum / wsum
    q_bar = (q * w[:, None]).sum(2) / wsum  # (M, 2)
    # Centred second moments from the raw ones, Σ w (Z − Z̄)(X − X̄)ᵀ = Σ w Z Xᵀ − Z̄ (Σ w X)ᵀ:
    # one product for S and N and no centred copies of the points.
    moments = torch.cat([X, q], 1) @ Xw.transpose(1, 2)  # (M, 5, 3)
    moments = moments - torch.cat([X_bar, q_bar], 1)[:, :, None] * X_sum[:, None, :]
    S, N = moments[:, :3], moments[:, 3:]  # (M, 3, 3) and (M, 2, 3)
    ridge = 1e-10 * S.diagonal(dim1=1, dim2=2).sum(-1)
    S = S + ridge[:, None, None] * torch.eye(3, dtype=S.dtype, device=S.device)
    # Inverse of the symmetric 3x3 S by its adjugate: rows a, b, c -> columns b×c, c×a, a×b.
    a, b, c = S[:, 0], S[:, 1], S[:, 2]
    adj = torch.stack([_cross(b, c), _cross(c, a), _cross(a, b)], dim=2)  # (M, 3, 3)
    det = (a * _cross(b, c)).sum(-1)
    A = N @ adj / det[:, None, None]
    return A, q_bar - (A @ X_bar[..., None])[..., 0]


def nearest_scaled_rotation(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The scaled rotation ``s R[:2]`` nearest (Frobenius) to each 2x3 affine camera.

    With ``A = U Σ Vᵀ``, the nearest matrix with orthonormal rows is the polar factor
    ``U Vᵀ = (A Aᵀ)^(-1/2) A`` and the best scale is ``(σ1 + σ2) / 2``. Both come in closed
    form from the 2x2 ``S = A Aᵀ``: ``σ1 σ2 = √det S``, ``σ1 + σ2 = √(tr S + 2√det S)`` and
    ``S^(1/2) = (S + √det S · I) / (σ1 + σ2)`` — the batched-SVD answer without the SVD.
    The third row of R is ``r1 × r2``, so det R = +1.

    Args:
        A: (M, 2, 3) affine cameras.

    Returns:
        ``(s, R)``: (M,) scales and (M, 3, 3) rotations.
    """
    S = A @ A.transpose(1, 2)  # (M, 2, 2)
    tr = S[:, 0, 0] + S[:, 1, 1]
    root_det = (S[:, 0, 0] * S[:, 1, 1] - S[:, 0, 1] ** 2).clamp_min(0).sqrt()
    root_det = torch.maximum(root_det, 1e-9 * tr)  # rank-deficient A: keep it invertible
    total = (tr + 2 * root_det).sqrt()  # σ1 + σ2
    adj = torch.stack(
        [
            torch.stack([S[:, 1, 1] + root_det, -S[:, 0, 1]], -1),
            torch.stack([-S[:, 1, 0], S[:, 0, 0] + root_det], -1),
        ],
        1,
    )  # adjugate of S + √det S · I
    Q = adj @ A / (root_det * total)[:, None, None]  # (M, 2, 3) orthonormal rows
    R = torch.cat([Q, _cross(Q[:, 0], Q[:, 1])[:, None]], 1)
    return total / 2, R


def so3_exp(omega: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotation matrices (M, 3, 3) of axis-angle vectors (M, 3) in radians."""
    theta2 = (omega**2).sum(-1)
    theta = theta2.sqrt()
    small = theta2 < 1e-12
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1 - theta2 / 6, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(safe)) / safe**2)
    zero = torch.zeros_like(theta)
    wx, wy, wz = omega.unbind(-1)
    Kx = torch.stack(
        [
            torch.stack([zero, -wz, wy], -1),
            torch.stack([wz, zero, -wx], -1),
            torch.stack([-wy, wx, zero], -1),
        ],
        1,
    )
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)
    return eye + a[:, None, None] * Kx + b[:, None, None] * (Kx @ Kx)


def rotation_angles_batch(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched ``voice2mesh.render.camera.rotation_angles``: (yaw, pitch, roll) degrees.

    Args:
        R: (M, 3, 3) rotations.

    Returns:
        Three (M,) float64 arrays: yaw, pitch, roll in degrees (camera-module convention).
    """
    R = np.asarray(R, np.float64)
    pitch = np.arcsin(np.clip(R[:, 1, 2], -1.0, 1.0))
    yaw = np.arctan2(R[:, 0, 2], R[:, 2, 2])
    roll = np.arctan2(R[:, 1, 0], R[:, 1, 1])
    return np.rad2deg(yaw), np.rad2deg(pitch), np.rad2deg(roll)
