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

    def __post_init__(self) -> None:
        for name in ("generator_channels", "face_channels"):
            widths = getattr(self, name)
            if len(widths) != 5 or min(widths) < 1:
                raise ValueError(
                    f"GanConfig.{name} = {widths}: Wen et al.'s layout needs 5 positive widths "
                    "(64x64 images)"
                )
        if self.embedding_dim < 1:
            raise ValueError(f"GanConfig.embedding_dim = {self.embedding_dim} must be positive")


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
        layers: list[nn.Module] = [nn.ConvTranspose2d(self.config.embedding_dim, ch[0], 4, 1, 0)]
        for c_in, c_out in pairwise(ch):
            layers += [nn.ReLU(inplace=True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)]
        layers += [nn.ReLU(inplace=True), nn.ConvTranspose2d(ch[-1], 3, 1, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, E) or (B, E, 1, 1) -> (B, 3, 64, 64), unbounded (Wen et al. clamp at test)."""
        return self.net(embedding.reshape(len(embedding), -1, 1, 1))


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
        return self.net(image)  # (B, E, 1, 1)


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
