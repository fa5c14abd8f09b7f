"""The image -> 3DMM teacher: 3DDFA-V2's MobileNetV1 with its parameter whitening.

Guo et al., *Towards Fast, Accurate and Stable 3D Dense Face Alignment* (ECCV 2020); Wu et al.
(CVPR 2022) use it as the expert that the MobileNetV2 student learns from. It reads 120x120 BGR
crops cut by 3DDFA-V2's rule (``data.crops``) and predicts the 62 parameters of that module's
layout, whitened: ``(p - mean) / std``. A teacher trained here may be a plain ConvNet
(``models.convnet``) reading the crops at a lower ``input_size`` (resized inside ``forward``),
which is what lets it learn on a CPU in minutes; 3DDFA-V2's checkpoints are MobileNetV1s
reading 120x120.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.data.crops import CROP_SIZE
from voice2mesh.models.convnet import ConvNet
from voice2mesh.models.mobilenet import N_PARAMS, MobileNetV1, crops_to_input
from voice2mesh.safe_pickle import load_pickle

ARCHES = ("mobilenet_v1", "convnet")


class Teacher(nn.Module):
    """The regressor plus the parameter whitening it was trained with (buffers, saved with it).

    Args:
        widen_factor: MobileNetV1's width (``arch`` mobilenet_v1).
        param_mean, param_std: (62,) whitening statistics (default 0 and 1).
        input_size: the side crops are resized to inside ``forward``.
        arch: ``mobilenet_v1`` (3DDFA-V2's) or ``convnet`` (``models.convnet``).
        widths: ConvNet's block widths (``arch`` convnet).
    """

    def __init__(
        self,
        widen_factor: float = 1.0,
        param_mean: np.ndarray | None = None,
        param_std: np.ndarray | None = None,
        input_size: int = CROP_SIZE,
        arch: str = "mobilenet_v1",
        widths: tuple[int, ...] = (32, 64, 128, 256),
    ) -> None:
        super().__init__()
        if input_size < 32:
            raise ValueError(f"Teacher: input_size must be >= 32 pixels, got {input_size}")
        if arch not in ARCHES:
            raise ValueError(f"Teacher: arch must be one of {', '.join(ARCHES)}, got {arch!r}")
        self.widen_factor = float(widen_factor)
        self.input_size = int(input_size)
        self.arch, self.widths = arch, tuple(int(w) for w in widths)
        self.net = (
            MobileNetV1(self.widen_factor, N_PARAMS)
            if arch == "mobilenet_v1"
            else ConvNet(self.widths, N_PARAMS)
        )
        mean = np.zeros(N_PARAMS) if param_mean is None else np.asarray(param_mean)
        std = np.ones(N_PARAMS) if param_std is None else np.asarray(param_std)
        if mean.shape != (N_PARAMS,) or std.shape != (N_PARAMS,) or not (std > 0).all():
            raise ValueError(f"Teacher: need (62,) mean and positive (62,) std, got {mean.shape}")
        self.register_buffer("param_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("param_std", torch.as_tensor(std, dtype=torch.float32))

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) crops at the network's ``input_size`` (antialiased bilinear)."""
        if x.shape[-2:] == (self.input_size, self.input_size):
            return x
        size = (self.input_size, self.input_size)
        return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 120, 120) ``crops_to_input`` -> (B, 62) whitened parameters."""
        return self.net(self.resize(x))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mid-level map (B, C, h, h), pooled embedding (B, E)); ``net.head`` maps the latter."""
        return self.net.features(self.resize(x))

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        """(B, 62) whitened -> raw parameters."""
        return z * self.param_std + self.param_mean

    def normalise(self, p: torch.Tensor) -> torch.Tensor:
        """(B, 62) raw -> whitened parameters."""
        return (p - self.param_mean) / self.param_std

    @torch.no_grad()
    def predict_params(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(B, 120, 120, 3) uint8 BGR crops -> (B, 62) float32 raw parameters (eval mode)."""
        was_training, device = self.training, self.param_mean.device
        self.eval()
        out = [
            self.denormalise(self(crops_to_input(crops[i : i + batch_size], device))).cpu()
            for i in range(0, len(crops), batch_size)
        ]
        self.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, N_PARAMS), np.float32)

    @classmethod
    def from_3ddfa_checkpoint(
        cls, checkpoint: Path | str, param_mean_std: Path | str, widen_factor: float
    ) -> Teacher:
        """A 3DDFA-V2 ``mb*_120x120.pth`` with its ``param_mean_std_62d_120x120.pkl``.

        Both are read without running code: the ``.pth`` with ``weights_only=True`` (3DDFA-V2's
        checkpoints hold only tensors), the ``.pkl`` with ``safe_pickle.load_pickle``.
        """
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{checkpoint}: no such 3DDFA-V2 checkpoint") from error
        except Exception as error:  # torch raises several types for a file it cannot read
            raise ValueError(
                f"{checkpoint}: not a loadable 3DDFA-V2 checkpoint "
                f"({str(error).strip().splitlines()[0][:160]})"
            ) from error
        state = state.get("state_dict", state) if isinstance(state, dict) else {}
        stats = load_pickle(param_mean_std)
        if not isinstance(stats, dict) or not {"mean", "std"} <= set(stats):
            raise ValueError(f"{param_mean_std}: expected a dict with 'mean' and 'std' (62 each)")
        teacher = cls(widen_factor, stats["mean"], stats["std"])
        weights = {k.removeprefix("module."): v for k, v in state.items()}
        weights = {k: v for k, v in weights.items() if not k.startswith("fc_lm.")}
        try:
            missing, unexpected = teacher.net.load_state_dict(weights, strict=False)
        except RuntimeError as error:  # tensor shapes differ: another width
            missing, unexpected = [str(error).splitlines()[-1].strip()], []
        if missing or unexpected:
            raise ValueError(
                f"{checkpoint}: not a 3DDFA-V2 MobileNetV1 of widen_factor {widen_factor} "
                f"(missing {missing[:4]}, unexpected {unexpected[:4]})"
            )
        return teacher.eval()
