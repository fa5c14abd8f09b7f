"""Training throughput at the paper's sizes (batch 128), on whatever device this machine has.

The steps the training stages run, on random inputs of the paper's shapes:

- **voice encoder** (``pretrain_voice``): Wen et al.'s Conv1d encoder (256, 384, 576, 864 -> 64)
  + the speaker classifier on 1,251 VoxCeleb1 speakers, 128 crops of 800 frames, Adam;
- **supervised** (``train_supervised``): the encoder + the linear heads onto 40 + 10
  coefficients, same crops, MSE, Adam;
- **GAN** (``train_gan``): Wen et al.'s generator (1024, 512, 256, 128, 64 -> 64 x 64) and
  critics (32 ... 512), ``train.gan.gan_step`` on 128 voices and 128 faces;
- **student** (``kd_ablation``'s image half): MobileNetV2 (width 1.0, 120 x 120 input, the
  paper's) regressing the 62 parameters, MSE, Adam.

Each is timed over ``STEPS`` steps after ``WARMUP`` (2 after 1 on a CPU); on CUDA also with
bf16 autocast (mixed precision; bf16 needs no loss scaling) and, with ``--compile``, after
``torch.compile``. Prints markdown; ``--device`` picks another device.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.models.gan import (
    PAPER_FACE_CHANNELS,
    PAPER_GENERATOR_CHANNELS,
    GanConfig,
    VoiceToFaceGan,
)
from voice2mesh.models.student import MobileNetV2
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import VoiceEncoder
from voice2mesh.train.gan import gan_step

BATCH, FRAMES, SPEAKERS = 128, 800, 1251  # the paper's batch; VoxCeleb1's speakers
WARMUP, STEPS = 2, 10  # on CUDA; on a CPU 1 and 2 (a paper-size GAN step takes a minute)


def _adam(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))


def voice_encoder_step(device: str) -> tuple[torch.nn.Module, Callable[[], None]]:
    model = SpeakerClassifier(SPEAKERS, VoiceEncoderConfig()).to(device)
    optimizer = _adam(model)
    x = torch.randn(BATCH, 64, FRAMES, device=device)
    y = torch.randint(0, SPEAKERS, (BATCH,), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return model, step


def supervised_step(device: str) -> tuple[torch.nn.Module, Callable[[], None]]:
    model = SupervisedVoice2Mesh(VoiceEncoder()).to(device)
    optimizer = _adam(model)
    x = torch.randn(BATCH, 64, FRAMES, device=device)
    target = torch.randn(BATCH, 50, device=device)

    def step() -> None:
        shape, expression = model(x)
        loss = F.mse_loss(torch.cat([shape, expression], 1), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return model, step


def gan_training_step(device: str) -> tuple[torch.nn.Module, Callable[[], None]]:
    config = GanConfig(
        generator_channels=PAPER_GENERATOR_CHANNELS, face_channels=PAPER_FACE_CHANNELS
    )
    model = VoiceToFaceGan(VoiceEncoder(), SPEAKERS, config).to(device)
    critics = (model.face_net, model.discriminator, model.classifier)
    g_opt = _adam(model.generator)
    d_opt = torch.optim.Adam([p for net in critics for p in net.parameters()], lr=2e-4)
    voice = F.normalize(torch.randn(BATCH, 64, device=device), dim=1)
    faces = torch.rand(BATCH, 3, 64, 64, device=device) * 2 - 1
    labels = torch.randint(0, SPEAKERS, (BATCH,), device=device)

    def step() -> None:
        gan_step(model, g_opt, d_opt, voice, labels, faces, labels)

    return model, step


def student_step(device: str) -> tuple[torch.nn.Module, Callable[[], None]]:
    model = MobileNetV2(width_mult=1.0, input_size=120).to(device)
    optimizer = _adam(model)
    x = torch.randn(BATCH, 3, 120, 120, device=device)
    target = torch.randn(BATCH, 62, device=device)

    def step() -> None:
        loss = F.mse_loss(model(x), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return model, step


STEPS_BY_NAME = {
    "voice encoder (pretrain_voice)": voice_encoder_step,
    "supervised (train_supervised)": supervised_step,
    "GAN (train_gan)": gan_training_step,
    "student (kd_ablation's image half)": student_step,
}


def iterations_per_s(step: Callable[[], None], device: str, bf16: bool) -> float:
    """Steps per second over ``STEPS`` after ``WARMUP`` (synchronised on CUDA)."""
    kind = torch.device(device).type
    warmup, steps = (WARMUP, STEPS) if kind == "cuda" else (1, 2)
    autocast = torch.autocast(kind, dtype=torch.bfloat16) if bf16 else nullcontext()
    sync = torch.cuda.synchronize if kind == "cuda" else (lambda: None)
    with autocast:
        for _ in range(warmup):
            step()
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
    return steps / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cuda = torch.device(args.device).type == "cuda"
    modes = [("fp32", False, False)]
    if cuda and torch.cuda.is_bf16_supported():
        modes.append(("bf16 autocast", True, False))
    if args.compile:
        modes += [(f"{name} + torch.compile", bf16, True) for name, bf16, _ in list(modes)]
    name = torch.cuda.get_device_name(args.device) if cuda else platform.processor() or "CPU"
    print(
        f"Device: {args.device} ({name}); torch {torch.__version__}, {torch.get_num_threads()} "
        f"CPU threads, {os.cpu_count()} cores; batch {BATCH}, {FRAMES}-frame voice crops, "
        f"{SPEAKERS} speakers; {STEPS if cuda else 2} timed steps after {WARMUP if cuda else 1}.\n"
    )
    load_before = os.getloadavg()[0]
    print("| step | precision | iterations/s | samples/s | 50,000 iterations (h) |")
    print("|---|---|---:|---:|---:|")
    for label, build in STEPS_BY_NAME.items():
        for mode, bf16, compiled in modes:
            model, step = build(args.device)
            if compiled:
                model.compile()
            rate = iterations_per_s(step, args.device, bf16)
            print(
                f"| {label} | {mode} | {rate:.2f} | {rate * BATCH:,.0f} | "
                f"{50_000 / rate / 3600:,.1f} |"
            )
            del model, step
    print(
        f"\nLoad average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after the run "
        f"({os.cpu_count()} cores): above that, rates are lower bounds."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
