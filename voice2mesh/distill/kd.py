"""Vanilla knowledge distillation on temperature-softened feature distributions.

Hinton, Vinyals, Dean, *Distilling the Knowledge in a Neural Network*, NIPS Deep Learning
Workshop 2015 (arXiv:1503.02531), Sec. 2: soft targets ``q_i = exp(z_i/T) / Σ_j exp(z_j/T)``;
the student matches them by cross-entropy, whose gradient scales as 1/T², hence the T² factor:

    L_KD = T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) )        (averaged over the batch)

How it is applied here: both networks regress 3DMM parameters, so there are no class logits.
We treat a feature vector as the logits instead: the trainer distils intermediate features
(the pooled embedding and a mid-level map), so softened softmaxes over feature channels carry
the teacher's relative channel activations, the "dark knowledge" analogue for a regressor.
Maps (B, C, H, W) are global-average-pooled to (B, C) first (a softmax over C·H·W positions
would mix spatial and channel evidence and depend on resolution). When student and teacher
widths differ, a learnable linear connector projects the student vector onto the teacher's
width (as in FitNets-style hints); when they match the student vector is used directly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, pool


class KDLoss(DistillLoss):
    """Hinton KD: T²-scaled KL between softened teacher and student feature distributions.

    Args:
        s_channels: student feature channels Cs.
        t_channels: teacher feature channels Ct.
        T: softmax temperature (Hinton et al.; 4 is RepDistiller's default).
    """

    def __init__(self, s_channels: int, t_channels: int, *, T: float = 4.0) -> None:
        super().__init__(s_channels, t_channels)
        if T <= 0:
            raise ValueError(f"KDLoss: temperature T must be > 0, got {T}")
        self.T = T
        self.connector: nn.Module = (
            nn.Linear(s_channels, t_channels) if s_channels != t_channels else nn.Identity()
        )

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        z_s = self.connector(pool(f_s))  # (B, Ct)
        z_t = pool(f_t)  # (B, Ct)
        log_p_s = F.log_softmax(z_s / self.T, dim=1)
        log_p_t = F.log_softmax(z_t / self.T, dim=1)
        kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
        return kl * self.T**2
