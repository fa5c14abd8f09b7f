"""The regressor on GE2E embeddings: z-scored heads, raw coefficients, a clear input check."""

from __future__ import annotations

import pytest
import torch

from voice2mesh.encoders.ge2e import EMBEDDING_DIM
from voice2mesh.models import supervised_ge2e
from voice2mesh.models.supervised_ge2e import Ge2eVoice2Mesh


def test_its_width_is_the_encoders() -> None:
    assert supervised_ge2e.EMBEDDING_DIM == EMBEDDING_DIM


def test_predict_raw_undoes_the_target_statistics() -> None:
    torch.manual_seed(0)
    model = Ge2eVoice2Mesh(n_shape=3, n_expression=2, dropout=0.5).eval()
    mean, std = torch.arange(5.0), torch.tensor([2.0, 0.5, 1.0, 0.0, 3.0])
    model.set_target_stats(mean, std)
    x = torch.nn.functional.normalize(torch.rand(4, EMBEDDING_DIM), dim=1)  # (B, 256)
    z_shape, z_expression = model(x)
    shape, expression = model.predict_raw(x)
    torch.testing.assert_close(shape, z_shape * std[:3] + mean[:3])
    scale = torch.tensor([1.0, 3.0])  # a std of 0 stays unscaled
    torch.testing.assert_close(expression, z_expression * scale + mean[3:])
    assert torch.equal(model.predict_raw(x)[0], shape)  # eval: no dropout


def test_a_log_mel_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"expects \(B, 256\) GE2E embeddings, got \(1, 64, 300\)"):
        Ge2eVoice2Mesh()(torch.zeros(1, 64, 300))
    with pytest.raises(ValueError, match="n_shape >= 1"):
        Ge2eVoice2Mesh(n_shape=0)
    with pytest.raises(ValueError, match=r"must be \(7,\)"):
        Ge2eVoice2Mesh(5, 2).set_target_stats(torch.zeros(5), torch.ones(5))
