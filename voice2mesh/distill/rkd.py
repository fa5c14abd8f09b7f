"""Relational KD: match pairwise distances and triplet angles of the batch's embeddings.

Park, Kim, Lu, Cho, *Relational Knowledge Distillation*, CVPR 2019.
Distance-wise potential, Eqs. (3)–(4): ψ_D(t_i, t_j) = ‖t_i − t_j‖₂ / μ with μ the mean
distance over distinct pairs of the batch; L_D = Σ l_δ(ψ_D(t_i, t_j), ψ_D(s_i, s_j)).
Angle-wise potential, Eqs. (5)–(6): ψ_A(t_i, t_j, t_k) = ⟨e_ij, e_kj⟩ with
e_ij = (t_i − t_j)/‖t_i − t_j‖₂; L_A = Σ l_δ(ψ_A(t), ψ_A(s)). l_δ is the Huber loss (δ = 1),
averaged over pairs / triplets here (as in the authors' code), and

    L_RKD = w_d · L_D + w_a · L_A,     w_d = 25, w_a = 50 (RepDistiller's defaults).

How it is applied here: maps (B, C, H, W) are flattened to (B, C·H·W), embeddings used as they
are. Distances and angles are width-free, so mismatched features need no connector.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, flatten


def _pairwise_distance(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, D) -> (B, B) Euclidean distances, zero on the diagonal, stable at zero."""
    sq = x.pow(2).sum(dim=1)
    d2 = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2.0 * x @ x.t()).clamp(min=eps)
    d = d2.sqrt()
    return d * (1.0 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device))


class RKDLoss(DistillLoss):
    """Relational KD (distance + angle).

    Args:
        s_channels: student feature channels Cs (unused; the loss is width-free).
        t_channels: teacher feature channels Ct (unused).
        distance_weight: w_d, weight of the distance-wise term.
        angle_weight: w_a, weight of the angle-wise term.
    """

    def __init__(
        self,
        s_channels: int,
        t_channels: int,
        *,
        distance_weight: float = 25.0,
        angle_weight: float = 50.0,
    ) -> None:
        super().__init__(s_channels, t_channels)
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight

    @staticmethod
    def distances(x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, B) distances divided by their mean over distinct pairs (ψ_D)."""
        d = _pairwise_distance(x)
        b = x.shape[0]
        mu = d.sum() / max(b * (b - 1), 1)
        return d / mu.clamp(min=1e-12)

    @staticmethod
    def angles(x: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, B, B) cosines ⟨e_ij, e_kj⟩ indexed [j, i, k] (ψ_A)."""
        e = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), dim=2)  # (B, B, D): e[j, i] = x_i - x_j
        return e @ e.transpose(1, 2)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        s, t = flatten(f_s), flatten(f_t)
        loss_d = F.smooth_l1_loss(self.distances(s), self.distances(t))
        loss_a = F.smooth_l1_loss(self.angles(s), self.angles(t))
        return self.distance_weight * loss_d + self.angle_weight * loss_a
