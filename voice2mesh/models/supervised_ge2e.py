"""The supervised regressor on pretrained GE2E speaker embeddings (``supervised_ge2e`` row).

The supervised setting of Wu et al. (CVPR 2022) with the voice encoder swapped for a pretrained
speaker encoder: resemblyzer's GE2E d-vector (Wan et al. 2018), computed once per utterance by
the ``embed_ge2e`` stage, and the paper's linear heads on it, trained with an L2 loss.

    (B, 256) unit-norm GE2E embedding -> Dropout -> Linear 256->Ks  (shape, z-scores)
                                                 -> Linear 256->Ke  (expression, z-scores)

As ``SupervisedVoice2Mesh``, the heads (``models.heads``) predict z-scores of the training
targets, whose mean and std are buffers that ``predict_raw`` undoes.
"""

from __future__ import annotations

import torch

from voice2mesh.models.heads import CoefficientHeads

EMBEDDING_DIM = 256  # GE2E's d-vector (encoders.ge2e.EMBEDDING_DIM; models need no encoders)


class Ge2eVoice2Mesh(CoefficientHeads):
    """Two linear heads from a GE2E embedding onto normalised 3DMM coefficients."""

    def __init__(
        self,
        n_shape: int = 40,
        n_expression: int = 10,
        dropout: float = 0.2,
        embedding_dim: int = EMBEDDING_DIM,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.build_heads(embedding_dim, n_shape, n_expression, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 256) embeddings -> normalised ``(shape (B, Ks), expression (B, Ke))``."""
        if x.ndim != 2 or x.shape[1] != self.embedding_dim:
            raise ValueError(
                f"Ge2eVoice2Mesh expects (B, {self.embedding_dim}) GE2E embeddings, got "
                f"{tuple(x.shape)} (a log-mel? this model reads embed_ge2e's embeddings)"
            )
        return self.heads(x)
