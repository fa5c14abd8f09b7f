"""Wen et al.'s voice embedding network and its speaker-identification head.

Wen, Ismail, Raj & Singh, *Face reconstruction from voice using generative adversarial networks*
(NeurIPS 2019), reused by Voice2Mesh (Wu et al., 2022): five 1-D convolutions over time with
64 log-mel bins as input channels, each halving the time axis, then an average over time.

    (B, 64, T) -> Conv1d 64->256 -> 384 -> 576 -> 864 (k3, s2, p1, BatchNorm, ReLU)
              -> Conv1d 864->64 (k3, s2, p1) -> mean over time -> (B, 64)

The embedding is pretrained on speaker identification (``SpeakerClassifier``) and then frozen
for the face-coefficient heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

N_MELS = 64


@dataclass(frozen=True)
class VoiceEncoderConfig:
    """Widths of the voice encoder (defaults: the paper's)."""

    in_channels: int = N_MELS  # log-mel bins
    channels: tuple[int, ...] = (256, 384, 576, 864)  # hidden Conv1d widths (BN + ReLU)
    embedding_dim: int = 64  # output of the last Conv1d, averaged over time

    def __post_init__(self) -> None:
        if not self.channels or min(self.channels) < 1 or self.embedding_dim < 1:
            raise ValueError(
                f"VoiceEncoderConfig: channels {self.channels} and embedding_dim "
                f"{self.embedding_dim} must be non-empty and positive"
            )


class VoiceEncoder(nn.Module):
    """Log-mel frames -> a fixed-size voice embedding."""

    def __init__(self, config: VoiceEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or VoiceEncoderConfig()
        layers: list[nn.Module] = []
        width = self.config.in_channels
        for out in self.config.channels:
            layers += [
                nn.Conv1d(width, out, kernel_size=3, stride=2, padding=1, bias=False),
                nn.BatchNorm1d(out),  # the BN bias makes the conv bias redundant
                nn.ReLU(inplace=True),
            ]
            width = out
        layers.append(nn.Conv1d(width, self.config.embedding_dim, 3, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of utterances.

        Args:
            x: (B, in_channels, T) normalised log-mel, channels = mel bins, any T >= 1.

        Returns:
            (B, embedding_dim) embeddings.
        """
        if x.ndim != 3 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"VoiceEncoder expects (B, {self.config.in_channels}, T) input, got "
                f"{tuple(x.shape)}; transpose (B, T, mels) features first"
            )
        h = self.net(x)  # (B, E, ceil(T / 2**L))
        return h.mean(dim=2)  # (B, E)


class SpeakerClassifier(nn.Module):
    """Voice encoder + a linear speaker-ID layer, for pretraining the encoder."""

    def __init__(self, n_speakers: int, config: VoiceEncoderConfig | None = None) -> None:
        super().__init__()
        if n_speakers < 2:
            raise ValueError(f"SpeakerClassifier needs at least 2 speakers, got {n_speakers}")
        self.n_speakers = n_speakers
        self.encoder = VoiceEncoder(config)
        self.head = nn.Linear(self.encoder.config.embedding_dim, n_speakers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, T) log-mel -> (B, n_speakers) logits."""
        return self.head(self.encoder(x))
