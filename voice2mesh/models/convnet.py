"""A plain convolutional image -> 3DMM regressor: the teacher architecture that learns on a CPU.

3DDFA-V2's MobileNetV1 (``models.mobilenet``) is what its released checkpoints hold, and it is
the teacher for real data. Trained from scratch on the synthetic teacher corpus within a CPU
budget it barely learns: at widths 0.25, 0.5 and 1.0 (64 x 64 input, Adam 3e-3 one-cycle,
1,000 steps of 32) its held-out shape RMSE stayed at 0.93-1.0 x the predict-the-mean baseline,
while this eight-layer VGG-style network reached 0.75 x in 400 steps (docs/networks.md).

Layout: per width ``w`` of ``widths`` a block 3x3 conv -> BN -> ReLU -> 3x3 stride-2 conv -> BN
-> ReLU; then global average pooling and a linear layer ``fc_param`` onto the 62 whitened
parameters. ``features`` returns the output of the third block (the mid-level map; 8 x 8 for a
64 x 64 input, as the student's) and the pooled embedding, as ``MobileNetV1.features`` does, so
every distillation loss can use either network as its teacher.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from voice2mesh.models.mobilenet import N_PARAMS


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """Plain VGG-style regressor (module docstring); ``widths`` has at least three entries."""

    MID = 2  # the block whose output ``features`` returns as the mid-level map

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), n_params: int = N_PARAMS):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) <= self.MID or min(widths) < 1:
            raise ValueError(f"ConvNet: need >= {self.MID + 1} positive widths, got {widths}")
        self.widths = widths
        self.blocks = nn.ModuleList(
            _block(cin, cout) for cin, cout in zip((3, *widths[:-1]), widths, strict=True)
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = widths[-1]
        self.mid_channels = widths[self.MID]
        self.fc_param = nn.Linear(self.embedding_dim, n_params)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (mid-level map (B, widths[2], H/8, W/8), pooled (B, widths[-1]))."""
        mid = x
        for k, block in enumerate(self.blocks):
            x = block(x)
            if k == self.MID:
                mid = x
        return mid, self.avgpool(x).flatten(1)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, widths[-1]) pooled embedding -> (B, 62) whitened parameters."""
        return self.fc_param(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[1])
