"""The landmark fitter's per-image state and its objective (torch; batched over images).

Landmark arrays are coordinate-major, (M, C, L): torch only vectorises along the last axis,
and broadcasting over a trailing axis of 2 or 3 is several times slower. For the same reason
the tiny per-image products (a 2x3 camera times 3xL points) are written as broadcast sums
(``small_bmm``): a batched matmul of (M, 2, 3) by (M, 3, L) costs 2-3 times as much on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from voice2mesh.fitting.landmark_basis import LandmarkBasis


@dataclass(frozen=True)
class FitState:
    """Per-image parameters in normalised units.

    Attributes:
        R: (M, 3, 3) rotations.
        s: (M,) scales (normalised units per mm).
        t: (M, 2) translations (normalised units).
        y: (M, K) whitened rotated coefficients.
    """

    R: torch.Tensor
    s: torch.Tensor
    t: torch.Tensor
    y: torch.Tensor

    def where(self, take: torch.Tensor, other: FitState) -> FitState:
        """Per image: this state where ``take`` (M,) is True, else ``other``."""
        return FitState(
            torch.where(take[:, None, None], self.R, other.R),
            torch.where(take, self.s, other.s),
            torch.where(take[:, None], self.t, other.t),
            torch.where(take[:, None], self.y, other.y),
        )


def small_bmm(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``A @ X`` for (M, a, b) by (M, b, N) with a tiny inner size b (2 or 3), by broadcasting."""
    out = A[:, :, 0:1] * X[:, None, 0]  # (M, a, N)
    for j in range(1, A.shape[2]):
        out.addcmul_(A[:, :, j : j + 1], X[:, None, j])
    return out


def landmarks_3d(basis: LandmarkBasis, y: torch.Tensor) -> torch.Tensor:
    """(M, 3, L) model-frame landmarks of coefficients y (M, K)."""
    flat = torch.addmm(basis.mean.reshape(1, -1), y, basis.flat.T)  # (M, 3L)
    return flat.view(y.shape[0], 3, basis.mean.shape[1])


def objective(
    basis: LandmarkBasis, q: torch.Tensor, w: torch.Tensor, state: FitState, sigma: float
) -> torch.Tensor:
    """(M,) MAP objective ``E`` of ``state`` (``solver`` docstring); q (M, 2, L), w (M, L)."""
    P2 = state.s[:, None, None] * state.R[:, :2]
    r = (small_bmm(P2, landmarks_3d(basis, state.y)) + state.t[..., None] - q) * w[:, None]
    return (r**2).sum((1, 2)) / sigma**2 + (state.y**2).sum(1)
