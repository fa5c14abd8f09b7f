"""Probabilistic knowledge transfer: match the batch's cosine-kernel neighbour distributions.

Passalis & Tefas, *Learning Deep Representations with Probabilistic Knowledge Transfer*,
ECCV 2018, Eqs. (8)–(10) with the cosine kernel K(a, b) = (aᵀb / (‖a‖‖b‖) + 1) / 2 ∈ [0, 1]:

    p_{j|i} = K(t_i, t_j) / Σ_k K(t_i, t_k),   q_{j|i} likewise for the student,
    L_PKT = Σ_{i,j} p_{j|i} · log((p_{j|i} + ε) / (q_{j|i} + ε))

This is the method the Cross-Modal Perceptionist paper chose. As in the authors' public code
(and RepDistiller's port), the kernel includes i = j, rows are normalised, ε = 1e-7 guards the
logarithm, and the sum is replaced by the mean over the B² entries (a constant 1/B² factor).

How it is applied here: maps (B, C, H, W) are flattened to (B, C·H·W), embeddings used as they
are. The (B, B) kernels do not depend on the widths, so no connector is needed.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, flatten


class PKTLoss(DistillLoss):
    """Probabilistic knowledge transfer with the [0, 1]-scaled cosine kernel.

    Args:
        s_channels: student feature channels Cs (unused; the loss is width-free).
        t_channels: teacher feature channels Ct (unused).
        eps: ε, guards the norms and the logarithm.
    """

    def __init__(self, s_channels: int, t_channels: int, *, eps: float = 1e-7) -> None:
        super().__init__(s_channels, t_channels)
        self.eps = eps

    def neighbours(self, f: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, B) row-normalised conditional probabilities from the cosine kernel."""
        x = F.normalize(flatten(f), dim=1, eps=self.eps)  # (B, D)
        k = (x @ x.t() + 1.0) / 2.0  # cosine kernel scaled to [0, 1]
        return k / k.sum(dim=1, keepdim=True)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        q, p = self.neighbours(f_s), self.neighbours(f_t)
        return (p * torch.log((p + self.eps) / (q + self.eps))).mean()
