"""Attention transfer: match the normalised spatial attention maps of student and teacher.

Zagoruyko & Komodakis, *Paying More Attention to Attention: Improving the Performance of
Convolutional Neural Networks via Attention Transfer*, ICLR 2017, Eq. (2) with the activation-
based mapping F(A) = mean_c |A_c|^p (p = 2):

    Q = vec(F(A)),    L_AT = ‖ Q_s/‖Q_s‖₂ − Q_t/‖Q_t‖₂ ‖²

averaged over batch and positions, as in the authors' code (the β = 10³ of the paper is a loss
weight and belongs to the trainer).

How it is applied here: on a mid-level map the attention is the channel-mean of |A|^p over
H×W; when student and teacher resolutions differ, the larger map is average-pooled to the
smaller size first (RepDistiller does the same). A pooled embedding (B, C) has no spatial axis,
so it is read as a one-channel map over C positions: Q = vec(|f|^p); when widths differ, the
longer |f|^p is average-pooled along C to the shorter width. The method is parameter-free.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, match_spatial


class AttentionLoss(DistillLoss):
    """Attention transfer (AT) between two feature maps or two embeddings.

    Args:
        s_channels: student feature channels Cs.
        t_channels: teacher feature channels Ct.
        p: exponent of the attention mapping (the paper uses 2).
    """

    def __init__(self, s_channels: int, t_channels: int, *, p: float = 2.0) -> None:
        super().__init__(s_channels, t_channels)
        self.p = p

    def attention(self, f: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H·W) or (B, C) -> (B, C): un-normalised |f|^p attention."""
        a = f.abs().pow(self.p)
        return a.mean(dim=1).flatten(1) if f.dim() == 4 else a

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        f_s, f_t = match_spatial(f_s, f_t)
        q_s, q_t = self.attention(f_s), self.attention(f_t)  # (B, N_s), (B, N_t)
        n = min(q_s.shape[1], q_t.shape[1])
        if q_s.shape[1] != n:
            q_s = F.adaptive_avg_pool1d(q_s.unsqueeze(1), n).squeeze(1)
        if q_t.shape[1] != n:
            q_t = F.adaptive_avg_pool1d(q_t.unsqueeze(1), n).squeeze(1)
        return (F.normalize(q_s, dim=1) - F.normalize(q_t, dim=1)).pow(2).mean()
