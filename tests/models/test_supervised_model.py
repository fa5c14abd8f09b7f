"""SupervisedVoice2Mesh: output shapes, target statistics and de-normalisation."""

from __future__ import annotations

import pytest
import torch

from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig


def _model(n_shape: int = 5, n_expression: int = 3) -> SupervisedVoice2Mesh:
    torch.manual_seed(0)
    return SupervisedVoice2Mesh(
        VoiceEncoder(VoiceEncoderConfig(channels=(8,))), n_shape, n_expression
    ).eval()


def test_output_shapes() -> None:
    model = _model()
    shape, expression = model(torch.randn(4, 64, 37))
    assert shape.shape == (4, 5) and expression.shape == (4, 3)
    raw_shape, raw_expression = model.predict_raw(torch.randn(2, 64, 100))
    assert raw_shape.shape == (2, 5) and raw_expression.shape == (2, 3)


def test_predict_raw_inverts_normalise() -> None:
    model = _model()
    mean = torch.arange(8, dtype=torch.float32)
    std = torch.tensor([1.0, 2.0, 0.5, 3.0, 4.0, 0.0, 0.0, 0.0])  # constant expressions
    model.set_target_stats(mean, std)
    assert model.target_std[5:].tolist() == [1.0, 1.0, 1.0]  # std 0 -> no scaling
    x = torch.randn(3, 64, 50)
    with torch.no_grad():
        z_shape, z_expression = model(x)
        raw_shape, raw_expression = model.predict_raw(x)
        torch.testing.assert_close(raw_shape, z_shape * std[:5] + mean[:5])
        torch.testing.assert_close(raw_expression, z_expression + mean[5:])
        z = model.normalise(raw_shape, raw_expression)
    torch.testing.assert_close(z, torch.cat([z_shape, z_expression], dim=1))


def test_target_statistics_travel_with_the_weights() -> None:
    model = _model()
    model.set_target_stats(torch.full((8,), 2.0), torch.full((8,), 3.0))
    copy = _model()
    copy.load_state_dict(model.state_dict())
    assert torch.equal(copy.target_mean, model.target_mean)
    assert torch.equal(copy.target_std, model.target_std)
    with pytest.raises(ValueError, match=r"\(8,\)"):
        model.set_target_stats(torch.zeros(5), torch.ones(5))


def test_frozen_encoder_stays_in_eval_mode_without_gradients() -> None:
    model = _model()
    model.freeze_encoder()
    model.train()
    assert model.training and model.shape_head.training and not model.encoder.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.shape_head.parameters())


def test_bad_arguments_are_refused() -> None:
    encoder = VoiceEncoder(VoiceEncoderConfig(channels=(8,)))
    with pytest.raises(ValueError, match="dropout"):
        SupervisedVoice2Mesh(encoder, dropout=1.0)
