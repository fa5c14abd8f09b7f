"""The supervised regressor on pretrained GE2E speaker embeddings (``supervised_ge2e`` row).

The supervised setting of Wu et al. (CVPR 2022) with the voice encoder swapped for a pretrained
speaker encoder: resemblyzer's GE2E d-vector (Wan et al. 2018), computed once per utterance by
the ``embed_ge2e`` stage, and the paper's linear heads on it, trained with an L2 loss.

    (B, 256) unit-norm GE2E embedding -> Dropout -> Linear 256->Ks  (shape, z-scores)
                                                 -> Linear 256->Ke  (expression, z-scores)

As ``SupervisedVoice2Mesh``, the heads predict z-scores of the training targets, whose mean and
std are buffers that ``predict_raw`` undoes.
"""

from __future__ import annotations

import torch
from torch import nn

EMBEDDING_DIM = 256  # GE2E's d-vector (encoders.ge2e.EMBEDDING_DIM; models need no encoders)


class Ge2eVoice2Mesh(nn.Module):
    """Two linear heads from a GE2E embedding onto normalised 3DMM coefficients."""

    def __init__(
        self,
        n_shape: int = 40,
        n_expression: int = 10,
        dropout: float = 0.2,
        embedding_dim: int = EMBEDDING_DIM,
    ) -> None:
        super().__init__()
        if n_shape < 1 or n_expression < 0 or not 0.0 <= dropout < 1.0 or embedding_dim < 1:
            raise ValueError(
                "Ge2eVoice2Mesh: need n_shape >= 1, n_expression >= 0, 0 <= dropout < 1 and "
                f"embedding_dim >= 1, got {n_shape}, {n_expression}, {dropout}, {embedding_dim}"
            )
        self.n_shape, self.n_expression, self.embedding_dim = n_shape, n_expression, embedding_dim
        self.dropout = nn.Dropout(dropout)
        self.shape_head = nn.Linear(embedding_dim, n_shape)
        self.expression_head = nn.Linear(embedding_dim, n_expression)
        n = n_shape + n_expression
        self.register_buffer("target_mean", torch.zeros(n))  # (Ks + Ke,) raw-coefficient mean
        self.register_buffer("target_std", torch.ones(n))  # (Ks + Ke,) raw-coefficient std

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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 256) embeddings -> normalised ``(shape (B, Ks), expression (B, Ke))``."""
        if x.ndim != 2 or x.shape[1] != self.embedding_dim:
            raise ValueError(
                f"Ge2eVoice2Mesh expects (B, {self.embedding_dim}) GE2E embeddings, got "
                f"{tuple(x.shape)} (a log-mel? this model reads embed_ge2e's embeddings)"
            )
        h = self.dropout(x)
        return self.shape_head(h), self.expression_head(h)

    def predict_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 256) embeddings -> raw 3DMM ``(shape (B, Ks), expression (B, Ke))``."""
        shape, expression = self(x)
        raw = torch.cat([shape, expression], dim=1) * self.target_std + self.target_mean
        return raw[:, : self.n_shape], raw[:, self.n_shape :]
