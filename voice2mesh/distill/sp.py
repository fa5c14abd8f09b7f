"""Similarity-preserving KD: match the batch's row-normalised Gram matrices.

Tung & Mori, *Similarity-Preserving Knowledge Distillation*, ICCV 2019, Eqs. (2)–(4):

    G = Q Qᵀ,  G̃[i] = G[i] / ‖G[i]‖₂,    L_SP = 1/b² · ‖ G̃_t − G̃_s ‖_F²

with Q the activations reshaped to (b, c·h·w).

How it is applied here: exactly as in the paper — maps (B, C, H, W) are flattened to
(B, C·H·W), embeddings are used as they are. The (B, B) Gram matrices do not depend on the
feature widths, so mismatched channels or resolutions need no connector; parameter-free.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, flatten


class SPLoss(DistillLoss):
    """Similarity-preserving loss between (B, B) batch similarity matrices.

    Args:
        s_channels: student feature channels Cs (unused; the loss is width-free).
        t_channels: teacher feature channels Ct (unused).
    """

    @staticmethod
    def similarity(f: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, B) row-L2-normalised Gram matrix (Eq. 2–3)."""
        q = flatten(f)  # (B, D)
        return F.normalize(q @ q.t(), dim=1)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        b = f_s.shape[0]
        diff = self.similarity(f_t) - self.similarity(f_s)  # (B, B)
        return diff.pow(2).sum() / b**2
