"""The CUDA paths: networks agree with the CPU, a training stage runs and saves portable
checkpoints, bf16 autocast steps stay finite. Run where CUDA is present (``-m gpu``); skipped
elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from feature_stores import speaker_store  # tests/ is on sys.path under pytest
from torch.nn import functional as F  # noqa: N812

from voice2mesh.checkpoint import load_model, save_model
from voice2mesh.config import (
    AcceleratorParams,
    GanParams,
    PretrainVoiceParams,
    as_dict,
    resolve_device,
)
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.models.gan import GanConfig, VoiceToFaceGan
from voice2mesh.models.mobilenet import MobileNetV1
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import VoiceEncoder
from voice2mesh.train.gan import gan_optimizers, gan_step
from voice2mesh.train.loop import Schedule
from voice2mesh.train.precision import schedule_options
from voice2mesh.train.pretrain_voice import pretrain_voice

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(autouse=True)
def exact_float32():
    """No TF32: CPU and CUDA then differ only by summation order."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


NETWORKS = {
    "voice encoder": (lambda: VoiceEncoder(), (4, 64, 300)),
    "supervised": (lambda: SupervisedVoice2Mesh(VoiceEncoder()), (4, 64, 300)),
    "GAN generator": (lambda: VoiceToFaceGan(VoiceEncoder(), 5, GanConfig()).generator, (4, 64)),
    "student": (lambda: MobileNetV2(width_mult=0.5, input_size=64), (4, 3, 120, 120)),
    "teacher": (lambda: MobileNetV1(), (4, 3, 120, 120)),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_give_the_cpu_answer_on_cuda(name: str) -> None:
    build, shape = NETWORKS[name]
    torch.manual_seed(0)
    net = build().eval()
    x = torch.randn(shape)
    with torch.no_grad():
        cpu = net(x)
        gpu = net.to("cuda")(x.to("cuda"))
    for a, b in zip(*(o if isinstance(o, tuple) else (o,) for o in (cpu, gpu)), strict=True):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=1e-4, atol=1e-4)


def test_auto_resolves_to_cuda() -> None:
    assert resolve_device("auto") == "cuda"


def test_a_training_stage_runs_on_cuda_and_its_checkpoint_loads_on_the_cpu(
    tmp_path: Path,
) -> None:
    store, voices, utterances = speaker_store(tmp_path / "features")
    cfg = PretrainVoiceParams(
        iterations=20, batch_size=4, crop_frames=(30, 60), eval_every=10, channels=(8, 8)
    )
    trained = pretrain_voice(cfg, store, voices, Schedule(20, 10, 0, device="cuda"))
    assert next(trained.model.parameters()).device.type == "cuda"
    assert np.isfinite([h["loss"] for h in trained.history]).all()
    path = tmp_path / "voice.pt"
    save_model(path, "voice_encoder", trained.model, as_dict(cfg), {"seed": 0}, trained.meta)
    on_cpu = load_model(path, "cpu", ("voice_encoder",), "the CUDA test")
    x = torch.from_numpy(utterances[0][1].T[None].copy())  # (1, 64, T)
    with torch.no_grad():
        torch.testing.assert_close(on_cpu(x), trained.model(x.cuda()).cpu(), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(
    torch.cuda.is_available() and not torch.cuda.is_bf16_supported(), reason="no bf16 on this GPU"
)
def test_bf16_autocast_steps_stay_finite_and_learn() -> None:
    torch.manual_seed(0)
    gan = VoiceToFaceGan(VoiceEncoder(VoiceEncoderConfig(channels=(8, 8))), 5, GanConfig()).cuda()
    optims = gan_optimizers(gan, GanParams())
    voice = F.normalize(torch.randn(16, 64, device="cuda"), dim=1)
    faces = torch.rand(16, 3, 64, 64, device="cuda") * 2 - 1
    labels = torch.randint(0, 5, (16,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        terms = [
            gan_step(gan, optims["g"], optims["d"], voice, labels, faces, labels) for _ in range(5)
        ]
    assert all(np.isfinite(list(t.values())).all() for t in terms)
    assert all(p.dtype == torch.float32 for p in gan.parameters())  # weights stay fp32

    speaker = SpeakerClassifier(5, VoiceEncoderConfig(channels=(16, 16))).cuda()
    optimizer = torch.optim.Adam(speaker.parameters(), lr=1e-2)
    x, y = torch.randn(20, 64, 100, device="cuda"), torch.arange(20, device="cuda") % 5
    losses = []
    for _ in range(30):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(speaker(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_compiled_bf16_training_keeps_the_checkpoint_layout(tmp_path: Path) -> None:
    """``accelerator: {precision: auto, compile: true}`` on CUDA: bf16 steps through compiled
    networks, float32 weights under the usual state-dict keys."""
    store, voices, _ = speaker_store(tmp_path / "features")
    cfg = PretrainVoiceParams(
        iterations=6, batch_size=4, crop_frames=(30, 60), eval_every=3, channels=(8, 8)
    )
    options = schedule_options(AcceleratorParams(compile=True), "cuda")
    assert options["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    schedule = Schedule(6, 3, 0, device="cuda", **options)
    trained = pretrain_voice(cfg, store, voices, schedule)
    plain = pretrain_voice(cfg, store, voices, Schedule(6, 3, 0, device="cuda"))
    assert list(trained.model.state_dict()) == list(plain.model.state_dict())
    assert all(p.dtype == torch.float32 for p in trained.model.parameters())
    assert np.isfinite([h["loss"] for h in trained.history]).all()
