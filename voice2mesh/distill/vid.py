"""Variational information distillation: maximise a Gaussian lower bound on I(teacher; student).

Ahn, Hu, Damianou, Lawrence, Dai, *Variational Information Distillation for Knowledge
Transfer*, CVPR 2019, Eqs. (2)–(5): the teacher activation t is modelled as a Gaussian whose
mean μ(s) is regressed from the student and whose variance σ²_c is learned per channel,

    −log q(t | s) = Σ_{c,h,w} [ (t_{c,h,w} − μ_{c,h,w}(s))² / (2σ²_c) + ½ log σ²_c ] + const,
    σ²_c = log(1 + exp(α_c)) + ε      (softplus keeps the variance positive),

averaged over batch, channels and positions as in the authors' / RepDistiller's code. μ is the
paper's small regressor: 1×1 conv → ReLU → 1×1 conv → ReLU → 1×1 conv. α is initialised so
that σ² starts at ``init_pred_var`` (5.0), ε = 1e-5, hidden width = Ct by default.

How it is applied here: on maps the regressor is convolutional and, when resolutions differ,
the larger map is average-pooled to the smaller size first (as RepDistiller does). A pooled
embedding (B, C) is treated as a 1×1 map, so the same 1×1 convs act as linear layers.
The regressor and α are learnable connectors trained with the student.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.distill.base import DistillLoss, match_spatial


class VIDLoss(DistillLoss):
    """VID: Gaussian negative log-likelihood of the teacher feature given the student's.

    Args:
        s_channels: student feature channels Cs.
        t_channels: teacher feature channels Ct.
        mid_channels: hidden width of the mean regressor (default: Ct).
        init_pred_var: initial per-channel variance σ².
        eps: ε, the variance floor.
    """

    def __init__(
        self,
        s_channels: int,
        t_channels: int,
        *,
        mid_channels: int | None = None,
        init_pred_var: float = 5.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__(s_channels, t_channels)
        if init_pred_var <= eps:
            raise ValueError(f"VIDLoss: init_pred_var must exceed eps={eps}, got {init_pred_var}")
        mid = mid_channels or t_channels
        self.eps = eps
        self.regressor = nn.Sequential(
            nn.Conv2d(s_channels, mid, kernel_size=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(mid, mid, kernel_size=1, bias=False),
            nn.ReLU(),
            nn.Conv2d(mid, t_channels, kernel_size=1, bias=False),
        )
        # softplus(alpha) + eps == init_pred_var  <=>  alpha = log(exp(init_pred_var - eps) - 1)
        alpha0 = math.log(math.expm1(init_pred_var - eps))
        self.log_scale = nn.Parameter(torch.full((t_channels,), alpha0))

    def variance(self) -> torch.Tensor:
        """(Ct,) per-channel predictive variance σ²."""
        return F.softplus(self.log_scale) + self.eps

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        if f_s.dim() == 2:
            f_s, f_t = f_s[:, :, None, None], f_t[:, :, None, None]  # (B, C, 1, 1)
        f_s, f_t = match_spatial(f_s, f_t)
        mu = self.regressor(f_s)  # (B, Ct, H, W)
        var = self.variance().view(1, -1, 1, 1)
        nll = 0.5 * ((mu - f_t).pow(2) / var + var.log())
        return nll.mean()
