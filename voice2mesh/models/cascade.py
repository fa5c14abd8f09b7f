"""Voice → face image → 3DMM parameters: the unsupervised Voice2Mesh and the paper's baseline.

    log-mel (B, 64, T) → VoiceToFaceGan (frozen encoder + generator, no noise at test time)
        → (B, 3, 64, 64) RGB in [-1, 1]
        → ``gan_to_image_net``: RGB → BGR, 3DDFA-V2's (x − 127.5) / 128 scale, ↑ bilinear 120²
        → image → 3DMM net: the teacher (baseline) or the student (unsupervised model)
        → (B, 62) whitened → de-whitened with the teacher's statistics
        → pose [0:12], shape [12:12+Ks], expression [52:52+Ke] (3DDFA-V2's layout)

Wu et al. 2022, Sec. 4.2 and Fig. 3: the baseline feeds the pretrained GAN's faces to the
pretrained image-to-3DMM network; the unsupervised model trains a student on those faces.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.data.crops import CROP_SIZE
from voice2mesh.models.gan import VoiceToFaceGan
from voice2mesh.models.mobilenet import N_PARAMS, PIXEL_MEAN, PIXEL_STD

N_POSE = 12  # 3 x 4 pose matrix, row-major
N_SHAPE_3DDFA = 40  # 3DDFA-V2's shape coefficients, then its 10 expression coefficients


def gan_to_image_net(fake: torch.Tensor) -> torch.Tensor:
    """(B, 3, 64, 64) RGB GAN faces in [-1, 1] -> (B, 3, 120, 120) image-net input.

    The GAN's pixels are ``x / 127.5 - 1`` of RGB uint8 faces; the image nets take BGR
    ``(x - 127.5) / 128`` (``mobilenet.crops_to_input``). Upsampling is bilinear (the paper).
    """
    bgr = fake.flip(1) * (127.5 / PIXEL_STD) + (127.5 - PIXEL_MEAN) / PIXEL_STD
    return F.interpolate(bgr, size=(CROP_SIZE, CROP_SIZE), mode="bilinear", align_corners=False)


class VoiceToParams(nn.Module):
    """A voice-to-face GAN followed by an image → 3DMM network (teacher or student).

    Args:
        gan: the encoder + generator (its critics are kept but unused at inference).
        image_net: (B, 3, 120, 120) -> (B, 62) whitened parameters.
        param_mean, param_std: (62,) the teacher's whitening (the student predicts in it too).
        n_shape, n_expression: coefficients returned (at most 40 and 10).
    """

    def __init__(
        self,
        gan: VoiceToFaceGan,
        image_net: nn.Module,
        param_mean: torch.Tensor,
        param_std: torch.Tensor,
        n_shape: int = 40,
        n_expression: int = 10,
    ) -> None:
        super().__init__()
        if not (1 <= n_shape <= N_SHAPE_3DDFA and 0 <= n_expression <= 10):
            raise ValueError(
                f"VoiceToParams: the image nets give 40 shape and 10 expression coefficients; "
                f"n_shape = {n_shape}, n_expression = {n_expression} do not fit"
            )
        self.gan, self.image_net = gan, image_net
        self.n_shape, self.n_expression = n_shape, n_expression
        self.register_buffer("param_mean", torch.as_tensor(param_mean, dtype=torch.float32))
        self.register_buffer("param_std", torch.as_tensor(param_std, dtype=torch.float32))
        if self.param_mean.shape != (N_PARAMS,) or self.param_std.shape != (N_PARAMS,):
            raise ValueError(f"VoiceToParams: whitening must be ({N_PARAMS},) mean and std")

    def faces(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) log-mel -> (B, 3, 64, 64) generated faces in [-1, 1]."""
        return self.gan(logmel).clamp(-1, 1)

    def params(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) log-mel -> (B, 62) raw (de-whitened) parameters."""
        z = self.image_net(gan_to_image_net(self.faces(logmel)))
        return z * self.param_std + self.param_mean

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64, T) log-mel -> raw ``(shape (B, Ks), expression (B, Ke))``."""
        p = self.params(logmel)
        start = N_POSE + N_SHAPE_3DDFA
        return p[:, N_POSE : N_POSE + self.n_shape], p[:, start : start + self.n_expression]

    def predict_raw(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as ``forward``: every predicting model answers ``predict_raw``."""
        return self(logmel)
