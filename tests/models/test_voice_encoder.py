"""Wen et al.'s voice encoder: shapes, widths, errors and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from voice2mesh.models import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig


@pytest.mark.parametrize("T", [1, 7, 300, 801, 1000])
def test_embedding_shape_for_any_length(T: int) -> None:
    encoder = VoiceEncoder()
    x = torch.randn(2, 64, T)  # (B, 64, T)
    assert encoder(x).shape == (2, 64)
    # five stride-2 convolutions before the average over time
    assert encoder.net(x).shape == (2, 64, math.ceil(T / 32))


def test_paper_widths_are_the_default() -> None:
    convs = [m for m in VoiceEncoder().modules() if isinstance(m, torch.nn.Conv1d)]
    widths = [(c.in_channels, c.out_channels) for c in convs]
    assert widths == [(64, 256), (256, 384), (384, 576), (576, 864), (864, 64)]
    assert all(c.kernel_size == (3,) and c.stride == (2,) and c.padding == (1,) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in VoiceEncoder().modules()) == 4


def test_configured_widths() -> None:
    config = VoiceEncoderConfig(channels=(8, 16), embedding_dim=12)
    encoder = VoiceEncoder(config)
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(64, 8), (8, 16), (16, 12)]
    assert encoder(torch.randn(3, 64, 50)).shape == (3, 12)


def test_bad_input_and_config_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(B, 64, T\)"):
        VoiceEncoder()(torch.randn(2, 100, 64))  # (B, T, mels): not transposed
    with pytest.raises(ValueError, match="channels"):
        VoiceEncoderConfig(channels=())
    with pytest.raises(ValueError, match="at least 2 speakers"):
        SpeakerClassifier(1)


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = SpeakerClassifier(5, VoiceEncoderConfig(channels=(8, 16)))
    logits = model(torch.randn(4, 64, 40))  # (B, n_speakers)
    assert logits.shape == (4, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_eval_mode_is_per_utterance() -> None:
    """In eval mode (running BN statistics) an utterance's embedding ignores the batch."""
    torch.manual_seed(0)
    encoder = VoiceEncoder(VoiceEncoderConfig(channels=(8, 16))).eval()
    x = torch.randn(3, 64, 40)
    torch.testing.assert_close(encoder(x)[1:2], encoder(x[1:2]))
