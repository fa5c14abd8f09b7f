"""End to end on a tiny world: every stage's ``run`` in DVC order, outputs read back."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stages import features, fit3dmm, fit3dmm_truth, intersect, landmarks, synthesize
from voice2mesh.audio import FeatureStore
from voice2mesh.config import (
    FeaturesParams,
    FitParams,
    IntersectParams,
    LandmarksParams,
    Params,
)
from voice2mesh.fitting.store import read_fits
from voice2mesh.synth.spec import SynthParams


def tiny_params(root: Path) -> Params:
    world = root / "world"
    return Params(
        synth=SynthParams(
            root=str(world),
            n_identities=24,
            voice_only=2,
            face_only=2,
            images_per_identity=(2, 3),
            utterances_per_identity=(2, 3),
            duration_s=(3.0, 3.5),
            image_size=96,
            workers=2,
            preview_identities=2,
        ),
        intersect=IntersectParams(
            voxceleb_root=str(world / "voxceleb1"),
            vggface_root=str(world / "vggface"),
            out=str(root / "manifest"),
        ),
        landmarks=LandmarksParams(out=str(root / "landmarks")),
        features=FeaturesParams(out=str(root / "features"), shard_size=16),
        fit3dmm=FitParams(out=str(root / "fits")),
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Params, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    params = tiny_params(root)
    m = root / "metrics"
    synthesize.run(params, root / "world.png", m / "synthesize.json", quiet=True)
    intersect.run(params.intersect, m / "intersect.json")
    landmarks.run(params, m / "landmarks.json", quiet=True)
    features.run(params, m / "features.json", quiet=True)
    fit3dmm.run(params, m / "fit3dmm.json")
    fit3dmm_truth.run(params, m / "fit3dmm_truth.json")
    return params, m


def metrics(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def test_counts_flow_through_the_stages(pipeline):
    params, m = pipeline
    both = metrics(m, "synthesize")["with_both"]
    split = metrics(m, "intersect")["identities"]
    assert split["train"] + split["test"] == both
    images = sum(metrics(m, "intersect")["images"].values())
    assert metrics(m, "landmarks")["landmarks"] == images
    utterances = sum(metrics(m, "intersect")["utterances"].values())
    assert metrics(m, "features")["extracted"] == utterances
    assert len(FeatureStore(Path(params.features.out))) == utterances


def test_fits_and_references(pipeline):
    params, m = pipeline
    fits = read_fits(Path(params.fit3dmm.out))
    summary = metrics(m, "fit3dmm")
    assert summary["usable"] == fits.usable.sum() and summary["converged_fraction"] > 0.95
    assert summary["residual_px_median"] < 4 * params.synth.landmark_noise_px
    assert len(fits.references) == metrics(m, "synthesize")["with_both"]
    assert fits.reference_shape.shape == (len(fits.references), 40)


def test_fit_quality_beats_the_mean_face(pipeline):
    _, m = pipeline
    quality = metrics(m, "fit3dmm_truth")["images"]
    fit = quality["fit"]["aligned_rmse_mm"]["mean"]
    assert fit < quality["mean_face"]["aligned_rmse_mm"]["mean"]
    assert fit < 3.0


def test_truth_mode_on_real_data_says_so(tmp_path):
    params = replace(tiny_params(tmp_path), synth=SynthParams(root=str(tmp_path / "none")))
    summary = fit3dmm_truth.run(params, tmp_path / "q.json")
    assert "not available" in summary["ground_truth"]
