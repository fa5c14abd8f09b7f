"""The common interface of every distillation loss and the feature-shape helpers they share.

Every loss is called as ``loss(f_s, f_t, *, index=None) -> scalar`` where ``f_s`` is the
student's feature and ``f_t`` the teacher's, both either pooled embeddings ``(B, C)`` or
feature maps ``(B, C, H, W)``. Channel counts (and spatial sizes) of student and teacher may
differ. The teacher feature is detached here, once, so no loss can send a gradient into the
teacher; learnable connectors owned by a loss are trained with the student.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


class DistillLoss(nn.Module):
    """Base class: validates the feature pair, detaches the teacher, delegates to ``compute``.

    Subclasses take ``(s_channels, t_channels, **hyperparameters)`` in ``__init__`` and
    implement ``compute``.
    """

    def __init__(self, s_channels: int, t_channels: int) -> None:
        super().__init__()
        if s_channels < 1 or t_channels < 1:
            raise ValueError(
                f"{type(self).__name__}: channel counts must be >= 1, "
                f"got s_channels={s_channels}, t_channels={t_channels}"
            )
        self.s_channels = s_channels
        self.t_channels = t_channels

    def forward(
        self, f_s: torch.Tensor, f_t: torch.Tensor, *, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Distillation loss of the student feature towards the (constant) teacher feature.

        Args:
            f_s: student feature, (B, Cs) or (B, Cs, Hs, Ws).
            f_t: teacher feature, (B, Ct) or (B, Ct, Ht, Wt); detached here.
            index: (B,) int64 dataset indices of the batch; only CRD uses them.

        Returns:
            A scalar tensor.
        """
        self._check_pair(f_s, f_t)
        return self.compute(f_s, f_t.detach(), index)

    def compute(
        self, f_s: torch.Tensor, f_t: torch.Tensor, index: torch.Tensor | None
    ) -> torch.Tensor:
        """The loss itself; ``f_t`` is already detached."""
        raise NotImplementedError

    def _check_pair(self, f_s: torch.Tensor, f_t: torch.Tensor) -> None:
        name = type(self).__name__
        if f_s.dim() not in (2, 4) or f_s.dim() != f_t.dim():
            raise ValueError(
                f"{name}: expected student and teacher features both (B, C) or both "
                f"(B, C, H, W), got shapes {tuple(f_s.shape)} and {tuple(f_t.shape)}"
            )
        if f_s.shape[0] != f_t.shape[0]:
            raise ValueError(
                f"{name}: student and teacher batch sizes differ: {f_s.shape[0]} vs {f_t.shape[0]}"
            )
        if f_s.shape[1] != self.s_channels or f_t.shape[1] != self.t_channels:
            raise ValueError(
                f"{name}: built for s_channels={self.s_channels}, t_channels={self.t_channels} "
                f"but got features with {f_s.shape[1]} and {f_t.shape[1]} channels"
            )


def flatten(f: torch.Tensor) -> torch.Tensor:
    """(B, C) or (B, C, H, W) -> (B, C) or (B, C·H·W); maps keep their spatial layout."""
    return f.reshape(f.shape[0], -1)


def pool(f: torch.Tensor) -> torch.Tensor:
    """(B, C) or (B, C, H, W) -> (B, C): maps are global-average-pooled, vectors pass through."""
    return f.mean(dim=(2, 3)) if f.dim() == 4 else f


def match_spatial(f_s: torch.Tensor, f_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger of two (B, C, H, W) maps to the smaller one's size.

    Follows the AT / VID reference code (RepDistiller), which pools the larger map with
    ``adaptive_avg_pool2d`` when student and teacher resolutions differ. Vectors pass through.
    """
    if f_s.dim() != 4 or f_s.shape[2:] == f_t.shape[2:]:
        return f_s, f_t
    size = (min(f_s.shape[2], f_t.shape[2]), min(f_s.shape[3], f_t.shape[3]))
    return F.adaptive_avg_pool2d(f_s, size), F.adaptive_avg_pool2d(f_t, size)
