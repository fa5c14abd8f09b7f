"""The supervised rows' output: two linear heads onto normalised 3DMM coefficients.

Both supervised regressors (log-mel ``SupervisedVoice2Mesh``, GE2E ``Ge2eVoice2Mesh``) end in
the paper's heads on a voice embedding:

    (B, E) embedding -> Dropout -> Linear E->Ks  (shape, z-scores)
                                -> Linear E->Ke  (expression, z-scores)

The heads predict *normalised* coefficients (z-scores w.r.t. the training targets' mean and
std), so every coefficient weighs the same in the loss whatever its prior variance. The
statistics are buffers (``target_mean``, ``target_std``): they travel with the weights and
``predict_raw`` undoes them. The attribute names are the checkpoints' state-dict keys.
"""

from __future__ import annotations

import torch
from torch import nn


class CoefficientHeads(nn.Module):
    """Dropout and two linear heads from a width-``width`` embedding, with target statistics.

    A subclass calls ``build_heads`` in its ``__init__`` after registering its own encoder (the
    order of registration is the checkpoints' key order and the order the heads draw their
    initial weights), and its ``forward`` returns ``self.heads(embedding)``.
    """

    def build_heads(self, width: int, n_shape: int, n_expression: int, dropout: float) -> None:
        """Register the dropout, the two heads and the target statistics."""
        if n_shape < 1 or n_expression < 0 or not 0.0 <= dropout < 1.0 or width < 1:
            raise ValueError(
                f"{type(self).__name__}: need n_shape >= 1, n_expression >= 0, 0 <= dropout < 1"
                f" and an embedding width >= 1, got {n_shape}, {n_expression}, {dropout}, {width}"
            )
        self.n_shape, self.n_expression = n_shape, n_expression
        self.dropout = nn.Dropout(dropout)
        self.shape_head = nn.Linear(width, n_shape)
        self.expression_head = nn.Linear(width, n_expression)
        n = n_shape + n_expression
        self.register_buffer("target_mean", torch.zeros(n))  # (Ks + Ke,) raw-coefficient mean
        self.register_buffer("target_std", torch.ones(n))  # (Ks + Ke,) raw-coefficient std

    def heads(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, E) embedding -> normalised ``(shape (B, Ks), expression (B, Ke))``."""
        h = self.dropout(embedding)
        return self.shape_head(h), self.expression_head(h)

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

    def predict_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's input -> raw 3DMM ``(shape (B, Ks), expression (B, Ke))``."""
        shape, expression = self(x)
        raw = torch.cat([shape, expression], dim=1) * self.target_std + self.target_mean
        return raw[:, : self.n_shape], raw[:, self.n_shape :]
