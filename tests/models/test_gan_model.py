"""Wen et al.'s voice -> face GAN networks: layout, shapes, embedding perturbation."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.models.gan import (
    PAPER_FACE_CHANNELS,
    PAPER_GENERATOR_CHANNELS,
    Classifier,
    FaceEmbedNet,
    GanConfig,
    Generator,
    VoiceToFaceGan,
    perturb_embedding,
)
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig

PAPER = GanConfig(generator_channels=PAPER_GENERATOR_CHANNELS, face_channels=PAPER_FACE_CHANNELS)


@pytest.mark.parametrize("config", [GanConfig(), PAPER], ids=["cpu", "paper"])
def test_shapes(config: GanConfig) -> None:
    batch = 1 if config == PAPER else 3  # the paper's widths: one sample is enough
    with torch.no_grad():
        faces = Generator(config)(torch.randn(batch, 64))  # (B, E) is viewed as (B, E, 1, 1)
        assert faces.shape == (batch, 3, 64, 64)
        assert Generator(config)(torch.randn(batch, 64, 1, 1)).shape == (batch, 3, 64, 64)
        embedding = FaceEmbedNet(config)(faces)
        assert embedding.shape == (batch, 64, 1, 1)
        assert Classifier(64, 1)(embedding).shape == (batch, 1)
        assert Classifier(64, 17)(embedding).shape == (batch, 17)


@pytest.mark.parametrize("config", [GanConfig(), PAPER], ids=["cpu", "paper"])
def test_layout_is_wens(config: GanConfig) -> None:
    deconvs = [m for m in Generator(config).modules() if isinstance(m, nn.ConvTranspose2d)]
    g = (64, *config.generator_channels, 3)
    assert [(c.in_channels, c.out_channels) for c in deconvs] == list(pairwise(g))
    assert [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in deconvs] == (
        [(4, 1, 0)] + [(4, 2, 1)] * 4 + [(1, 1, 0)]
    )
    assert not isinstance(Generator(config).net[-1], nn.Tanh | nn.Sigmoid)  # linear output
    convs = [m for m in FaceEmbedNet(config).modules() if isinstance(m, nn.Conv2d)]
    f = (3, *config.face_channels, 64)
    assert [(c.in_channels, c.out_channels) for c in convs] == list(pairwise(f))
    relus = [m for m in FaceEmbedNet(config).modules() if isinstance(m, nn.LeakyReLU)]
    assert len(relus) == 5 and all(m.negative_slope == 0.2 for m in relus)
    assert Classifier(64, 5).linear.bias is None


def test_paper_widths_are_documented_constants() -> None:
    assert PAPER_GENERATOR_CHANNELS == (1024, 512, 256, 128, 64)
    assert PAPER_FACE_CHANNELS == (32, 64, 128, 256, 512)


def test_perturbation_is_unit_norm_and_small() -> None:
    x = 5.0 * torch.randn(1000, 64)
    clean = perturb_embedding(x)
    torch.testing.assert_close(clean, x / x.norm(dim=1, keepdim=True))
    noisy = perturb_embedding(x, 0.05, torch.Generator().manual_seed(0))
    torch.testing.assert_close(noisy.norm(dim=1), torch.ones(1000))
    cosine = (noisy * clean).sum(1)  # |noise| ~ 0.05 * sqrt(64) = 0.4 -> cos ~ 0.93
    assert 0.88 < cosine.mean() < 0.97 and cosine.min() > 0.7
    again = perturb_embedding(x, 0.05, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_bundle_keeps_the_encoder_frozen_and_maps_logmel_to_images() -> None:
    encoder = VoiceEncoder(VoiceEncoderConfig(channels=(8, 8)))
    model = VoiceToFaceGan(encoder, 5, GanConfig()).train()
    assert not model.encoder.training and model.generator.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert model.classifier.linear.out_features == 5
    faces = model(torch.randn(2, 64, 120))  # (B, 64, T) log-mel
    assert faces.shape == (2, 3, 64, 64) and faces.abs().max() <= 1


def test_dcgan_switches_add_batchnorm_and_tanh_only() -> None:
    wen, dcgan = GanConfig(), GanConfig(batch_norm=True, tanh=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in Generator(wen).modules())
    norms = [m for m in Generator(dcgan).modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.num_features for m in norms] == list(dcgan.generator_channels)
    assert isinstance(Generator(dcgan).net[-1], nn.Tanh)

    def deconvs(config: GanConfig) -> list[tuple[int, int]]:
        layers = Generator(config).modules()
        return [
            (m.in_channels, m.out_channels) for m in layers if isinstance(m, nn.ConvTranspose2d)
        ]

    assert deconvs(wen) == deconvs(dcgan)
    with torch.no_grad():
        faces = Generator(dcgan).train()(3.0 * torch.randn(4, 64))
    assert faces.abs().max() <= 1


@pytest.mark.parametrize(("widths", "pixels"), [(3, 16), (4, 32), (5, 64)])
def test_fewer_widths_draw_smaller_faces_that_reach_the_critics_exactly(
    widths: int, pixels: int
) -> None:
    config = GanConfig(generator_channels=(16,) * widths, face_channels=(8,) * widths)
    assert config.resolution == pixels
    generator, face_net = Generator(config), FaceEmbedNet(config)
    deconvs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(deconvs) == widths + 1  # 4x4 seed, widths - 1 doublings, the 1x1 colour layer
    with torch.no_grad():
        faces = generator(torch.randn(2, 64))
        assert faces.shape == (2, 3, 64, 64)
        scale = 64 // pixels
        drawn = F.avg_pool2d(faces, scale)  # (2, 3, pixels, pixels)
        torch.testing.assert_close(F.interpolate(drawn, scale_factor=scale), faces)
        direct = face_net.net(drawn)  # what the face net computes on the drawn pixels
        torch.testing.assert_close(face_net(faces), direct)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="3 to 5 positive widths"):
        GanConfig(generator_channels=(8, 8), face_channels=(8, 8))
    with pytest.raises(ValueError, match="3 to 5 positive widths"):
        GanConfig(generator_channels=(8,) * 6, face_channels=(8,) * 6)
    with pytest.raises(ValueError, match="as many widths"):
        GanConfig(generator_channels=(8, 8, 8))
    with pytest.raises(ValueError, match="face_channels"):
        GanConfig(face_channels=(8, 8, 0, 8, 8))
    encoder = VoiceEncoder(VoiceEncoderConfig(channels=(8,), embedding_dim=32))
    with pytest.raises(ValueError, match="32 dimensions"):
        VoiceToFaceGan(encoder, 3, GanConfig())
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        FaceEmbedNet()(torch.randn(1, 3, 32, 32))
