"""The student image -> 3DMM network: a MobileNetV2 with the teacher's output contract.

Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (CVPR 2018), Table 2:
a strided 3x3 stem, seven stages of inverted-residual bottlenecks (expand 1x1 -> depthwise 3x3
-> linear 1x1 projection, residual when the shape is kept), a 1x1 convolution to 1280 channels,
global average pooling and a linear layer. Wu et al. (CVPR 2022) distil the 3DDFA-V2 teacher
into it; the paper uses width 1.0, our CPU-sized default is 0.5.

Same contract as ``voice2mesh.models.mobilenet.MobileNetV1`` (the teacher): input (B, 3, 120,
120) from ``crops_to_input`` (BGR, ``(x - 127.5) / 128``); ``features(x)`` -> (mid-level map,
pooled embedding); ``head(pooled)`` -> (B, 62) parameters in the teacher's whitened space;
``forward(x) = head(features(x)[1])``. ``input_size`` below 120 resizes the input first, as the
teacher's does (the default pipeline: 64, the teacher's size; the GAN draws 32x32). At 120x120
the spatial sizes are 60 (stem), 60, 30, 15, 8 (64- and 96-channel stages), 4 (160 and 320);
the mid-level map is the 8x8 output of the 96-channel stage, the resolution of the teacher's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.models.mobilenet import N_PARAMS

# (expansion t, output channels c, repeats n, first stride s): the paper's Table 2
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
SETTINGS_LATE = ((6, 160, 3, 2), (6, 320, 1, 1))  # after the mid-level map


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a widened channel count to a multiple of ``divisor``, never down by more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if relu else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear) [+ input]."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers = [_conv_bn(cin, hidden, 1)] if expansion != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden)]
        layers += [_conv_bn(hidden, cout, 1, relu=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


def _stage(cin: int, settings: tuple, width: float) -> tuple[nn.Sequential, int]:
    blocks = []
    for t, c, n, s in settings:
        cout = make_divisible(c * width)
        for i in range(n):
            blocks.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    return nn.Sequential(*blocks), cin


class MobileNetV2(nn.Module):
    """MobileNetV2 regressor onto the 62 whitened 3DMM parameters.

    Args:
        width_mult: channel multiplier (the paper: 1.0; CPU default 0.5).
        n_params: outputs (62 = 12 pose + 40 shape + 10 expression).
        input_size: the side the (B, 3, 120, 120) input is resized to first (antialiased
            bilinear), as the teacher's ``input_size``; 120 (the paper) resizes nothing.
    """

    def __init__(
        self, width_mult: float = 0.5, n_params: int = N_PARAMS, input_size: int = 120
    ) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"MobileNetV2: width_mult must be positive, got {width_mult}")
        if input_size < 32:
            raise ValueError(f"MobileNetV2: input_size must be >= 32 pixels, got {input_size}")
        self.width_mult, self.input_size = width_mult, int(input_size)
        stem = make_divisible(32 * width_mult)
        self.stem = _conv_bn(3, stem, 3, stride=2)
        self.early, self.mid_channels = _stage(stem, SETTINGS, width_mult)
        self.late, late = _stage(self.mid_channels, SETTINGS_LATE, width_mult)
        self.embedding_dim = make_divisible(1280 * max(1.0, width_mult))  # as the paper keeps it
        self.last = _conv_bn(late, self.embedding_dim, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc_param = nn.Linear(self.embedding_dim, n_params)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images at the network's ``input_size`` (antialiased bilinear)."""
        if x.shape[-2:] == (self.input_size, self.input_size):
            return x
        size = (self.input_size, self.input_size)
        return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 120, 120) -> (mid-level map (B, C_mid, s, s), pooled embedding (B, E)); s is
        ``input_size`` / 16 rounded up (8 at 120, 4 at 64)."""
        mid = self.early(self.stem(self.resize(x)))
        pooled = self.avgpool(self.last(self.late(mid))).flatten(1)
        return mid, pooled

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, E) pooled embedding -> (B, 62) whitened parameters."""
        return self.fc_param(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 120, 120) -> (B, 62) whitened parameters."""
        return self.head(self.features(x)[1])
