"""The supervised Voice2Mesh baseline: voice embedding -> 3DMM shape and expression coefficients.

Wu et al., *Cross-Modal Perceptionist: Can Face Geometry be Gleaned from Voices?* (CVPR 2022),
supervised setting: the pretrained voice encoder (Wen et al.) followed by linear regressors onto
the 3DMM coefficients, trained with an L2 loss against pseudo ground-truth fits.

    (B, 64, T) -> VoiceEncoder -> (B, E) -> Dropout -> Linear E->Ks  (shape, z-scores)
                                                    -> Linear E->Ke  (expression, z-scores)

The heads predict *normalised* coefficients (z-scores w.r.t. the training targets' mean and
std), so every coefficient weighs the same in the loss whatever its prior variance. The
statistics are buffers: they travel with the weights and ``predict_raw`` undoes them.
"""

from __future__ import annotations

import torch
from torch import nn

from voice2mesh.models.voice_encoder import VoiceEncoder


class SupervisedVoice2Mesh(nn.Module):
    """A voice encoder plus two linear heads onto normalised 3DMM coefficients."""

    def __init__(
        self, encoder: VoiceEncoder, n_shape: int = 40, n_expression: int = 10, dropout: float = 0.2
    ) -> None:
        super().__init__()
        if n_shape < 1 or n_expression < 0 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"SupervisedVoice2Mesh: need n_shape >= 1, n_expression >= 0 and 0 <= dropout < 1,"
                f" got {n_shape}, {n_expression}, {dropout}"
            )
        self.encoder = encoder
        self.n_shape = n_shape
        self.n_expression = n_expression
        self.encoder_frozen = False
        width = encoder.config.embedding_dim
        self.dropout = nn.Dropout(dropout)
        self.shape_head = nn.Linear(width, n_shape)
        self.expression_head = nn.Linear(width, n_expression)
        n = n_shape + n_expression
        self.register_buffer("target_mean", torch.zeros(n))  # (Ks + Ke,) raw-coefficient mean
        self.register_buffer("target_std", torch.ones(n))  # (Ks + Ke,) raw-coefficient std

    def freeze_encoder(self) -> None:
        """Stop the encoder's gradients and keep it in eval mode (BatchNorm statistics fixed)."""
        self.encoder_frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> SupervisedVoice2Mesh:
        """As ``nn.Module.train``, but a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def set_target_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the raw targets' (Ks + Ke,) mean and std; a std of 0 is replaced by 1."""
        n = self.n_shape + self.n_expression
        if mean.shape != (n,) or std.shape != (n,):
            raise ValueError(
                f"target statistics must be ({n},) = shape + expression, got "
                f"{tuple(mean.shape)} and {tuple(std.shape)}"
            )
        std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant targets: no scaling
        self.target_mean.copy_(mean)
        self.target_std.copy_(std)

    def normalise(self, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """Raw (B, Ks) and (B, Ke) coefficients -> (B, Ks + Ke) z-scores."""
        return (torch.cat([shape, expression], dim=1) - self.target_mean) / self.target_std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64, T) log-mel -> normalised ``(shape (B, Ks), expression (B, Ke))``."""
        h = self.dropout(self.encoder(x))  # (B, E)
        return self.shape_head(h), self.expression_head(h)

    def predict_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64, T) log-mel -> raw 3DMM ``(shape (B, Ks), expression (B, Ke))``."""
        shape, expression = self(x)
        z = torch.cat([shape, expression], dim=1)  # (B, Ks + Ke)
        raw = z * self.target_std + self.target_mean
        return raw[:, : self.n_shape], raw[:, self.n_shape :]
