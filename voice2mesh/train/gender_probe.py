"""An independent gender probe for generated faces (issue 13's measure of the GAN).

Wen et al.'s own measure, the GAN's identity classifier on its own faces, is trained with the
generator and can be fooled by it. The probe is not: a small CNN trained once on *real* 64 x 64
faces of the training identities (the GAN's real faces, never its output) to tell the manifest's
gender, checked on the validation identities' photos (``probe_accuracy``), then applied
to faces generated from the validation identities' voices: ``gender_agreement`` is the share
of generated faces whose probed gender is the speaker's.

Layout: four 3x3 conv + BatchNorm + ReLU + max-pool stages (16, 32, 64, 128 channels) on the
full 64 x 64 face, global average pooling, dropout 0.3, one logit (male). One-cycle Adam (peak
2e-3, weight decay 1e-4); faces mirrored half of the time and shifted by up to 4 pixels;
batches and initialisation from ``seed`` only. On the default world it tells the validation
identities' photos apart at 0.937 after 1,500 steps and 0.905 after 800 (``gan.probe_steps``;
a 32 x 32, three-stage probe without BatchNorm: 0.83, which would cap any agreement below the
0.9 the GAN is asked for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from voice2mesh.evaluation.stats import bootstrap_indices, seed_bootstrap_summary
from voice2mesh.evaluation.summary import seed_rng
from voice2mesh.train.face_data import to_tensor
from voice2mesh.train.loop import seeded

GENDERS = ("female", "male")


WIDTHS = (16, 32, 64, 128)
MAX_SHIFT = 4  # pixels


def _probe() -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in, c_out in zip((3, *WIDTHS[:-1]), WIDTHS, strict=True):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(WIDTHS[-1], 1)]
    return nn.Sequential(*layers)


def _labels(genders: Sequence[str]) -> torch.Tensor:
    genders = np.asarray(genders, str)
    unknown = sorted(set(genders) - set(GENDERS))
    if unknown:
        raise ValueError(f"gender probe: genders must be female or male, got {unknown}")
    return torch.from_numpy(genders == "male").float()


def train_probe(
    images: np.ndarray, genders: Sequence[str], seed: int, steps: int = 1500, batch: int = 64
) -> nn.Module:
    """The probe (eval mode) trained on (N, 64, 64, 3) uint8 RGB real faces and their genders."""
    y = _labels(genders)
    if len(y) != len(images) or len(set(y.tolist())) < 2:
        raise ValueError("gender probe: need one gender per face and faces of both genders")
    x = to_tensor(images)
    probe = seeded(seed, _probe)
    optimizer = torch.optim.Adam(probe.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    probe.train()
    for step in range(steps):
        rng = np.random.default_rng([seed, step])
        rows = rng.integers(0, len(x), min(batch, len(x)))
        mirror = torch.from_numpy(rng.random(len(rows)) < 0.5)[:, None, None, None]
        dy, dx = (int(v) for v in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
        xb = torch.where(mirror, x[rows].flip(3), x[rows]).roll((dy, dx), (2, 3))
        torch.manual_seed(seed * 1_000_003 + step)  # dropout
        loss = F.binary_cross_entropy_with_logits(probe(xb)[:, 0], y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return probe.eval()


@torch.no_grad()
def probe_correct(probe: nn.Module, faces: torch.Tensor, genders: Sequence[str]) -> np.ndarray:
    """(N,) bool: whether each (N, 3, 64, 64) face in [-1, 1] is probed as its ``genders``."""
    y = _labels(genders)
    if len(y) != len(faces):
        raise ValueError(f"gender probe: {len(faces)} faces but {len(y)} genders")
    if len(faces) == 0:
        return np.zeros(0, bool)
    logits = torch.cat([probe(faces[k : k + 256].cpu())[:, 0] for k in range(0, len(faces), 256)])
    return ((logits > 0).float() == y).numpy()


def drawn_at(faces: torch.Tensor, resolution: int) -> torch.Tensor:
    """(N, 3, 64, 64) faces as a generator drawing ``resolution`` pixels a side would best draw
    them (``models.gan.Generator`` repeats each drawn pixel up to 64): each block's mean,
    repeated. The probe's accuracy on real photos drawn so is what a GAN of that resolution
    would score if it drew the real photos: the ceiling of its ``gender_agreement``."""
    side = faces.shape[-1]
    if resolution < 1 or side % resolution:
        raise ValueError(f"resolution {resolution} must divide the faces' {side} pixels")
    scale = side // resolution
    if scale == 1:
        return faces
    return F.interpolate(F.avg_pool2d(faces, scale), scale_factor=scale, mode="nearest")


def probe_agreement(probe: nn.Module, faces: torch.Tensor, genders: Sequence[str]) -> float | None:
    """Share of (N, 3, 64, 64) faces in [-1, 1] probed as ``genders`` (None when N = 0)."""
    correct = probe_correct(probe, faces, genders)
    return float(correct.mean()) if len(correct) else None


def agreement_by_speaker(
    correct: Mapping[int, np.ndarray],
    speakers: Sequence[str],
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> dict[str, float]:
    """How sure the seeds' agreement is: a speaker's generated faces are probed alike, so the
    unit is the speaker, not the face.

    Args:
        correct: per training seed, (N,) ``probe_correct`` of the faces generated from the
            same N validation voices.
        speakers: (N,) the voices' speakers.
        n_resamples, seed, confidence: the two-level (speaker x seed) bootstrap of
            ``evaluation.stats``.

    Returns:
        ``mean`` (over seeds and speakers, each speaker's share of agreeing faces),
        ``ci_low`` / ``ci_high`` and ``p_vs_chance`` (two-sided bootstrap p of mean = 0.5),
        ``n_speakers``.
    """
    names, owner = np.unique(np.asarray(speakers, str), return_inverse=True)
    shares = np.stack(
        [
            np.bincount(owner, c.astype(float), len(names))
            / np.bincount(owner, minlength=len(names))
            for c in correct.values()
        ]
    )  # (n_seeds, n_speakers)
    ids = bootstrap_indices(len(names), n_resamples, seed)
    seeds = seed_rng(seed, "gender_agreement")  # its own stream, as the evaluation's rows
    s = seed_bootstrap_summary(shares - 0.5, ids, seeds, confidence)
    return {
        "mean": s["mean"] + 0.5,
        "ci_low": s["ci_low"] + 0.5,
        "ci_high": s["ci_high"] + 0.5,
        "p_vs_chance": s["p"],
        "n_speakers": len(names),
    }
