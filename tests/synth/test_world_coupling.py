"""The world's voices carry face geometry only as far as ``synth.voice_coupling`` says.

A ridge regressor from utterance-level voice statistics (log-F0 and a long-term average
spectrum) to a true face measurement, scored by leave-one-out R² over identities, must beat
gender alone clearly at the maximum coupling (every link at r = 1) and must not beat it at
coupling 0. The stage's ``voice_face_links`` metric must report the links it drew.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stages.synthesize import run as synthesize
from voice2mesh.config import Params
from voice2mesh.facemodel.synthetic import build_synthetic_model
from voice2mesh.synth.anatomy import measure
from voice2mesh.synth.spec import MAX_VOICE_COUPLING, SynthParams
from voice2mesh.synth.truth import read_truth

WORLD = SynthParams(
    n_identities=120,
    voice_only=0,
    face_only=1,
    images_per_identity=(1, 1),
    videos_per_identity=(1, 1),
    utterances_per_identity=(2, 2),
    duration_s=(3.0, 3.0),
    image_size=32,
    workers=2,
    preview_identities=2,
)


def voice_statistics(samples: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Log-F0 (autocorrelation) and 16 log mel-spaced band energies over loud frames."""
    x = samples.astype(np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, 640)[::160] * np.hanning(640)
    energy = (frames**2).sum(axis=1)
    loud = frames[energy > np.percentile(energy, 60)]
    spectrum = np.abs(np.fft.rfft(loud, 1024, axis=1)) ** 2  # (T, 513)
    ac = np.fft.irfft(spectrum, axis=1)[:, : rate // 60]
    lags = np.arange(rate // 400, rate // 60)
    f0 = rate / lags[np.argmax(ac[:, lags], axis=1)]
    edges = 700 * (10 ** (np.linspace(np.log10(1 + 100 / 700), np.log10(1 + 7000 / 700), 17)) - 1)
    bins = np.fft.rfftfreq(1024, 1 / rate)
    mean_spectrum = spectrum.mean(axis=0)
    bands = [mean_spectrum[(bins >= lo) & (bins < hi)].sum() for lo, hi in pairwise(edges)]
    log_bands = np.log(np.asarray(bands) + 1e-9)
    return np.concatenate([[np.log(np.median(f0))], log_bands - log_bands.mean()])


def loo_r2(X: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> float:
    """Leave-one-out R² of ridge regression (closed form through the hat matrix)."""
    X = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
    X = np.column_stack([np.ones(len(X)), X])
    penalty = alpha * np.eye(X.shape[1])
    penalty[0, 0] = 0.0
    H = X @ np.linalg.solve(X.T @ X + penalty, X.T)
    residual = (y - H @ y) / (1.0 - np.diag(H))
    return float(1.0 - (residual**2).sum() / ((y - y.mean()) ** 2).sum())


def world_r2(folder: Path, coupling: float) -> tuple[float, float]:
    cfg = replace(WORLD, root=str(folder), voice_coupling=coupling)
    synthesize(Params(synth=cfg), folder / "s.png", folder / "c.json", quiet=True)
    links = json.loads((folder / "c.json").read_text())["voice_face_links"]
    for trait, link in links.items():  # 119 voices: sd of r ≈ 0.09 at r = 0, clipping only at 1
        tolerance = 0.02 if abs(link["target_r"]) == 1.0 else 0.3
        assert link["measured_r"] == pytest.approx(link["target_r"], abs=tolerance), trait
    truth = read_truth(folder / "truth")
    voiced = truth.identities.query("has_voice").reset_index(drop=True)
    stats = np.stack(
        [
            np.mean(
                [voice_statistics(sf.read(folder / p, dtype="int16")[0]) for p in group.path],
                axis=0,
            )
            for _, group in truth.utterances.groupby("name", sort=False)
        ]
    )
    order = [
        list(truth.utterances.groupby("name", sort=False).groups).index(n) for n in voiced.name
    ]
    stats = stats[order]
    model = build_synthetic_model()
    shapes = np.stack([truth.shape_of(n) for n in voiced.name])
    target = measure(model, model.reconstruct(shapes))["face_length"]
    male = (voiced.gender == "male").to_numpy(float)[:, None]
    return loo_r2(male, target), loo_r2(np.column_stack([male, stats]), target)


@pytest.mark.slow
def test_voice_predicts_face_length_only_when_coupled(tmp_path):
    gender_r2, coupled_r2 = world_r2(tmp_path / "c1", MAX_VOICE_COUPLING)
    gender_r2_0, uncoupled_r2 = world_r2(tmp_path / "c0", 0.0)
    assert gender_r2 == pytest.approx(gender_r2_0)  # same faces in both worlds
    # Over world seeds 0-3 the gain at the maximum coupling was 0.13-0.22 and the uncoupled one
    # -0.06 to -0.10 (at the literature's c = 1 it was -0.02 to -0.11: 119 voices are too few
    # for this regressor to see r = 0.3): 0.08 separates them without betting on one seed.
    assert coupled_r2 > gender_r2 + 0.08, (coupled_r2, gender_r2)
    assert uncoupled_r2 < gender_r2 + 0.05, (uncoupled_r2, gender_r2)
