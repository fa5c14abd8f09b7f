"""The 3DDFA-V2 MobileNetV1 (image -> 62 3DMM parameters) and the input preparation it expects.

Howard et al., *MobileNets* (2017), as 3DDFA-V2 (Guo et al., ECCV 2020, ``models/mobilenet_v1.py``)
lays it out: a strided 3x3 convolution, thirteen depthwise-separable blocks (``dw2_1`` ...
``dw6``), global average pooling and a linear layer ``fc_param`` onto the 62 whitened
parameters. The module and parameter names match 3DDFA-V2's checkpoints (``mb1_120x120.pth``,
``mb05_120x120.pth``) after stripping their ``module.`` prefix; their landmark head ``fc_lm`` is
not part of this network.

For a 120x120 input the spatial sizes are 60 (conv1), 30 (dw2_2), 15 (dw3_2), 8 (dw4_2 ...
dw5_5), 4 (dw5_6, dw6). ``features`` returns the 8x8 map after ``dw5_5`` (the same resolution as
the student's mid-level map) and the pooled embedding, so a distillation loss can use either.

Input: BGR crops (3DDFA-V2 reads images with OpenCV) normalised as ``(x - 127.5) / 128`` and laid
out (B, 3, 120, 120): ``crops_to_input``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

N_PARAMS = 62  # 12 pose + 40 shape + 10 expression
PIXEL_MEAN, PIXEL_STD = 127.5, 128.0  # 3DDFA-V2's NormalizeGjz


def crops_to_input(
    crops: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """(B, 120, 120, 3) uint8 BGR crops -> (B, 3, 120, 120) float32 network input on ``device``."""
    x = crops if isinstance(crops, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(crops))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"crops must be (B, H, W, 3) BGR images, got shape {tuple(x.shape)}")
    x = x.to(device).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    return (x - PIXEL_MEAN) / PIXEL_STD


class DepthWiseBlock(nn.Module):
    """3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU."""

    def __init__(self, inplanes: float, planes: float, stride: int = 1) -> None:
        super().__init__()
        inplanes, planes = int(inplanes), int(planes)  # 3DDFA-V2 truncates widened widths
        self.conv_dw = nn.Conv2d(
            inplanes, inplanes, 3, stride=stride, padding=1, groups=inplanes, bias=False
        )
        self.bn_dw = nn.BatchNorm2d(inplanes)
        self.conv_sep = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn_sep = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn_dw(self.conv_dw(x)))
        return self.relu(self.bn_sep(self.conv_sep(x)))


class MobileNetV1(nn.Module):
    """3DDFA-V2's MobileNetV1 regressor (``widen_factor`` 1.0 = mb1, 0.5 = mb05)."""

    # (name, input width, output width, stride) before multiplying by widen_factor
    BLOCKS = (
        ("dw2_1", 32, 64, 1),
        ("dw2_2", 64, 128, 2),
        ("dw3_1", 128, 128, 1),
        ("dw3_2", 128, 256, 2),
        ("dw4_1", 256, 256, 1),
        ("dw4_2", 256, 512, 2),
        ("dw5_1", 512, 512, 1),
        ("dw5_2", 512, 512, 1),
        ("dw5_3", 512, 512, 1),
        ("dw5_4", 512, 512, 1),
        ("dw5_5", 512, 512, 1),
        ("dw5_6", 512, 1024, 2),
        ("dw6", 1024, 1024, 1),
    )
    MID = "dw5_5"  # the block whose output ``features`` returns as the mid-level map

    def __init__(self, widen_factor: float = 1.0, n_params: int = N_PARAMS) -> None:
        super().__init__()
        if widen_factor <= 0 or int(32 * widen_factor) < 1:
            raise ValueError(
                f"MobileNetV1: widen_factor must give >= 1 channel, got {widen_factor}"
            )
        self.widen_factor = widen_factor
        self.conv1 = nn.Conv2d(3, int(32 * widen_factor), 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(int(32 * widen_factor))
        self.relu = nn.ReLU(inplace=True)
        for name, cin, cout, stride in self.BLOCKS:
            self.add_module(name, DepthWiseBlock(cin * widen_factor, cout * widen_factor, stride))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.embedding_dim = int(1024 * widen_factor)
        self.mid_channels = int(512 * widen_factor)
        self.fc_param = nn.Linear(self.embedding_dim, n_params)
        for m in self.modules():  # 3DDFA-V2's initialisation (He-normal over fan-out)
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 120, 120) -> (mid-level map (B, 512w, 8, 8), pooled embedding (B, 1024w))."""
        x = self.relu(self.bn1(self.conv1(x)))
        mid = x
        for name, *_ in self.BLOCKS:
            x = getattr(self, name)(x)
            if name == self.MID:
                mid = x
        return mid, self.avgpool(x).flatten(1)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, 1024w) pooled embedding -> (B, 62) whitened parameters."""
        return self.fc_param(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 120, 120) -> (B, 62) whitened parameters."""
        return self.head(self.features(x)[1])
