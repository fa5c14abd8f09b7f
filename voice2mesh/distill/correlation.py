"""Correlation congruence as the authors ran it: RepDistiller's ``Correlation``.

Peng et al., *Correlation Congruence for Knowledge Distillation* (ICCV 2019), in the form Tian
et al.'s RepDistiller (``distiller_zoo/CC.py``) implements and Wu et al.'s ``distiller_zoo.py``
copies for Table 5: with ``δ = |f_s − f_t|`` over the batch's rows (features flattened),

    L = mean_i Σ_d δ[i, d] · δ[i + 1, d]        (i = 0 .. B − 2: consecutive samples)

It is not the Gaussian-kernel correlation matrix of the paper's Eq. (6); Table 5's numbers come
from this form.

``δ`` needs the student and teacher features in one space. The authors' teacher and student are
the same network (SynergyNet), so theirs are; here a teacher MobileNetV1 and a student
MobileNetV2 differ in width, so the student feature goes through a learnable connector onto the
teacher's channels first (a linear layer for embeddings, a 1×1 convolution for maps, the larger
map average-pooled to the smaller size), trained with the student; the teacher's feature is the
fixed target. RepDistiller instead embeds *both* sides into 128 dimensions, which lets the
teacher's embedding shrink towards the student's; here it cannot. With equal widths the
connector is the identity, as in the authors' setting.
"""

from __future__ import annotations

import torch
from torch import nn

from voice2mesh.distill.base import DistillLoss, flatten, match_spatial


class CorrelationLoss(DistillLoss):
    """RepDistiller's ``Correlation`` on (connected) student and teacher features.

    Args:
        s_channels: student feature channels Cs.
        t_channels: teacher feature channels Ct.
    """

    def __init__(self, s_channels: int, t_channels: int) -> None:
        super().__init__(s_channels, t_channels)
        same = s_channels == t_channels
        self.linear = nn.Identity() if same else nn.Linear(s_channels, t_channels, bias=False)
        self.conv = (
            nn.Identity() if same else nn.Conv2d(s_channels, t_channels, kernel_size=1, bias=False)
        )

    def connect(self, f_s: torch.Tensor) -> torch.Tensor:
        """The student feature on the teacher's channels (identity when they are equal)."""
        return self.conv(f_s) if f_s.dim() == 4 else self.linear(f_s)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        if f_s.shape[0] < 2:
            raise ValueError("CorrelationLoss: needs a batch of at least 2 samples")
        f_s, f_t = match_spatial(self.connect(f_s), f_t)
        delta = (flatten(f_s) - flatten(f_t)).abs()  # (B, D)
        return (delta[:-1] * delta[1:]).sum(dim=1).mean()
