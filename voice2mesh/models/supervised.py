"""The supervised Voice2Mesh baseline: voice embedding -> 3DMM shape and expression coefficients.

Wu et al., *Cross-Modal Perceptionist: Can Face Geometry be Gleaned from Voices?* (CVPR 2022),
supervised setting: the pretrained voice encoder (Wen et al.) followed by linear regressors onto
the 3DMM coefficients, trained with an L2 loss against pseudo ground-truth fits.

    (B, 64, T) -> VoiceEncoder -> (B, E) -> Dropout -> Linear E->Ks  (shape, z-scores)
                                                    -> Linear E->Ke  (expression, z-scores)

The heads (``models.heads``) predict z-scores of the training targets, whose mean and std are
buffers that ``predict_raw`` undoes.
"""

from __future__ import annotations

import torch

from voice2mesh.models.heads import CoefficientHeads
from voice2mesh.models.voice_encoder import VoiceEncoder


class SupervisedVoice2Mesh(CoefficientHeads):
    """A voice encoder plus two linear heads onto normalised 3DMM coefficients."""

    def __init__(
        self, encoder: VoiceEncoder, n_shape: int = 40, n_expression: int = 10, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.encoder_frozen = False
        self.build_heads(encoder.config.embedding_dim, n_shape, n_expression, dropout)

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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64, T) log-mel -> normalised ``(shape (B, Ks), expression (B, Ke))``."""
        return self.heads(self.encoder(x))  # encoder: (B, E)
