"""Correlation congruence: match the batch's kernel correlation matrices.

Peng, Jin, Liu, Li, Wu, Liu, Zhou, Zhang, *Correlation Congruence for Knowledge Distillation*,
ICCV 2019. Eq. (6): L_CC = 1/n² · ‖ψ(F_t) − ψ(F_s)‖_F², with ψ(F) the (n, n) correlation
matrix under a Gaussian RBF kernel, approximated by its P-order Taylor series (Eq. 9):

    k(x, y) = exp(−γ‖x − y‖²) ≈ Σ_{p=0..P} exp(−2γ) (2γ)^p / p! · (xᵀy)^p

which assumes ‖x‖ = ‖y‖ = 1, so features are L2-normalised first. Defaults γ = 0.4 and P = 2
follow the paper's CIFAR/ImageNet settings.

How it is applied here: maps (B, C, H, W) are flattened to (B, C·H·W) and embeddings used as
they are, then L2-normalised. Because ψ is (B, B), student and teacher widths never need to
match, so — unlike RepDistiller's CC variant, which learns linear embeddings on *both* sides
and can then shrink the teacher target — this loss has no learnable connector.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, flatten


class CorrelationLoss(DistillLoss):
    """Correlation congruence (CC) with the Taylor-expanded Gaussian kernel.

    Args:
        s_channels: student feature channels Cs (unused; the loss is width-free).
        t_channels: teacher feature channels Ct (unused).
        gamma: RBF kernel width γ.
        order: Taylor expansion order P.
    """

    def __init__(
        self, s_channels: int, t_channels: int, *, gamma: float = 0.4, order: int = 2
    ) -> None:
        super().__init__(s_channels, t_channels)
        if gamma <= 0 or order < 0:
            raise ValueError(
                f"CorrelationLoss: need gamma > 0 and order >= 0, got {gamma}, {order}"
            )
        self.gamma = gamma
        self.order = order

    def correlation(self, f: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, B) approximate RBF kernel matrix of the L2-normalised features."""
        x = F.normalize(flatten(f), dim=1)  # (B, D)
        cos = x @ x.t()  # (B, B)
        two_g = 2.0 * self.gamma
        terms = [
            math.exp(-two_g) * two_g**p / math.factorial(p) * cos.pow(p)
            for p in range(self.order + 1)
        ]
        return torch.stack(terms).sum(dim=0)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        b = f_s.shape[0]
        return (self.correlation(f_t) - self.correlation(f_s)).pow(2).sum() / b**2
