"""Wen et al.'s voice -> face GAN: generator, face embedding, discriminator, identity classifier.

Wen, Raj & Singh, *Face reconstruction from voice using generative adversarial networks*
(NeurIPS 2019); layout of their reference code (cmu-mlsp/reconstructing_faces_from_voices,
``network.py``), widths configurable:

    generator  (B, 64) -> (B, 64, 1, 1) -> ConvT k4 s1 p0 -> (B, g0, 4, 4)
               -> ConvT k4 s2 p1 x4 -> (B, g4, 64, 64) -> ConvT k1 -> (B, 3, 64, 64)
               (ReLU between, no output activation: images live in [-1, 1], x / 127.5 - 1)
    face net   (B, 3, 64, 64) -> Conv k1 -> Conv k4 s2 p1 x4 -> (B, f4, 4, 4)
               -> Conv k4 s1 p0 -> (B, 64, 1, 1)  (LeakyReLU 0.2 between)
    discriminator  Linear 64 -> 1, no bias (a real/fake logit)
    classifier     Linear 64 -> n_identities, no bias (identity logits)

Two departures, each a switch (``GanConfig``), for a GAN that learns on a CPU (docs/networks.md):

- **Resolution** follows the number of widths: ``n`` widths draw at ``4 * 2**(n - 1)`` pixels
  (5: Wen's 64; 4: 32). Every interface stays 64 x 64: the generator repeats each pixel
  (nearest upsampling) up to 64 and the face net averages 64 x 64 inputs down to its resolution,
  so a generated face reaches the critics exactly as drawn (average-pooling undoes the repeat).
- **DCGAN's generator**: BatchNorm before every ReLU and a tanh output (``batch_norm``, ``tanh``);
  Wen's has neither.

``VoiceToFaceGan`` bundles the four with the frozen pretrained voice encoder, so one checkpoint
maps log-mel to faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.models.voice_encoder import VoiceEncoder

IMAGE_SIZE = 64  # 4 * 2**4: fixed by the generator's layout
PAPER_GENERATOR_CHANNELS = (1024, 512, 256, 128, 64)
PAPER_FACE_CHANNELS = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class GanConfig:
    """Widths of the GAN's networks (defaults CPU-sized; the paper's are one switch away)."""

    embedding_dim: int = 64  # voice and face embedding size (the voice encoder's output)
    # paper: PAPER_GENERATOR_CHANNELS = (1024, 512, 256, 128, 64)
    generator_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    # paper: PAPER_FACE_CHANNELS = (32, 64, 128, 256, 512)
    face_channels: tuple[int, ...] = (8, 16, 32, 64, 128)
    batch_norm: bool = False  # DCGAN's BatchNorm before each generator ReLU (Wen: none)
    tanh: bool = False  # squash the generator's output into [-1, 1] (Wen: no activation)

    def __post_init__(self) -> None:
        for name in ("generator_channels", "face_channels"):
            widths = getattr(self, name)
            if not 3 <= len(widths) <= 5 or min(widths) < 1:
                raise ValueError(
                    f"GanConfig.{name} = {widths}: 3 to 5 positive widths (16, 32 or 64 pixels; "
                    "Wen et al.'s layout: 5)"
                )
        if len(self.generator_channels) != len(self.face_channels):
            raise ValueError(
                f"GanConfig: generator_channels {self.generator_channels} and face_channels "
                f"{self.face_channels} must have as many widths (one resolution)"
            )
        if self.embedding_dim < 1:
            raise ValueError(f"GanConfig.embedding_dim = {self.embedding_dim} must be positive")

    @property
    def resolution(self) -> int:
        """Pixels per side the generator draws at and the face net reads (16, 32 or 64)."""
        return 4 * 2 ** (len(self.generator_channels) - 1)


def perturb_embedding(
    embedding: torch.Tensor, noise: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """L2-normalise, add ``noise`` * N(0, 1), normalise again (Wen et al.'s ``gan_train.py``).

    Args:
        embedding: (B, E) voice embeddings.
        noise: std of the Gaussian perturbation (0.05 in training, 0 at test time).
        generator: the source of the noise (on ``embedding``'s device); None: the global RNG.

    Returns:
        (B, E) unit-norm embeddings.
    """
    unit = F.normalize(embedding, dim=1)
    if noise <= 0:
        return unit
    eps = torch.randn(unit.shape, generator=generator, device=unit.device, dtype=unit.dtype)
    return F.normalize(unit + noise * eps, dim=1)


class Generator(nn.Module):
    """Unit voice embedding (B, E) -> face image (B, 3, 64, 64) in about [-1, 1]."""

    def __init__(self, config: GanConfig | None = None) -> None:
        super().__init__()
        self.config = config or GanConfig()
        ch = self.config.generator_channels

        def relu(width: int) -> list[nn.Module]:
            norm = [nn.BatchNorm2d(width)] if self.config.batch_norm else []
            return [*norm, nn.ReLU(inplace=True)]

        layers: list[nn.Module] = [nn.ConvTranspose2d(self.config.embedding_dim, ch[0], 4, 1, 0)]
        for c_in, c_out in pairwise(ch):
            layers += [*relu(c_in), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)]
        layers += [*relu(ch[-1]), nn.ConvTranspose2d(ch[-1], 3, 1, 1, 0)]
        if self.config.tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, E) or (B, E, 1, 1) -> (B, 3, 64, 64); without ``tanh`` unbounded (Wen et al.
        clamp at test). Below 64 pixels each drawn pixel is repeated (nearest upsampling)."""
        image = self.net(embedding.reshape(len(embedding), -1, 1, 1))
        scale = IMAGE_SIZE // self.config.resolution
        return image if scale == 1 else F.interpolate(image, scale_factor=scale, mode="nearest")


class FaceEmbedNet(nn.Module):
    """Face image (B, 3, 64, 64) -> face embedding (B, E, 1, 1)."""

    def __init__(self, config: GanConfig | None = None) -> None:
        super().__init__()
        self.config = config or GanConfig()
        ch = self.config.face_channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 1, 1, 0)]
        for c_in, c_out in pairwise(ch):
            layers += [nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(c_in, c_out, 4, 2, 1)]
        layers += [nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ch[-1], self.config.embedding_dim, 4)]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"FaceEmbedNet expects (B, 3, {IMAGE_SIZE}, {IMAGE_SIZE}) images, got "
                f"{tuple(image.shape)}"
            )
        scale = IMAGE_SIZE // self.config.resolution
        return self.net(image if scale == 1 else F.avg_pool2d(image, scale))  # (B, E, 1, 1)


class Classifier(nn.Module):
    """Face embedding (B, E, 1, 1) -> (B, n_out) logits; Wen's discriminator is n_out = 1."""

    def __init__(self, embedding_dim: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(embedding_dim, n_out, bias=False)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding.flatten(1))


class VoiceToFaceGan(nn.Module):
    """The frozen voice encoder and the four GAN networks, trained and saved together.

    ``train()`` never takes the encoder out of eval mode: its BatchNorm statistics stay the
    pretrained ones.
    """

    def __init__(self, encoder: VoiceEncoder, n_identities: int, config: GanConfig) -> None:
        super().__init__()
        if encoder.config.embedding_dim != config.embedding_dim:
            raise ValueError(
                f"voice encoder embeds in {encoder.config.embedding_dim} dimensions but "
                f"GanConfig.embedding_dim = {config.embedding_dim}"
            )
        self.config = config
        self.encoder = encoder.requires_grad_(False).eval()
        self.generator = Generator(config)
        self.face_net = FaceEmbedNet(config)
        self.discriminator = Classifier(config.embedding_dim, 1)
        self.classifier = Classifier(config.embedding_dim, n_identities)

    def train(self, mode: bool = True) -> VoiceToFaceGan:
        super().train(mode)
        self.encoder.eval()
        return self

    @torch.no_grad()
    def embed_voice(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) normalised log-mel -> (B, E) raw voice embeddings."""
        return self.encoder(logmel)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) log-mel -> (B, 3, 64, 64) faces in [-1, 1] (test time: no noise)."""
        return self.generator(perturb_embedding(self.embed_voice(logmel))).clamp(-1, 1)
