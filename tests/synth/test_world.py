"""The synthetic world: layout in the real data's formats, determinism, landmarks on faces."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from scipy.ndimage import binary_dilation

from stages.synthesize import run as synthesize
from voice2mesh.cli import main as cli
from voice2mesh.config import Params
from voice2mesh.data.pts import read_pts
from voice2mesh.facemodel.synthetic import build_synthetic_model
from voice2mesh.render import render
from voice2mesh.synth.spec import SynthParams
from voice2mesh.synth.truth import read_truth
from voice2mesh.synth.voice_traits import COUPLED_TRAITS, VoiceIdentity
from voice2mesh.synth.world import clear_world

TINY = SynthParams(
    n_identities=14,
    voice_only=2,
    face_only=2,
    images_per_identity=(1, 2),
    videos_per_identity=(1, 2),
    utterances_per_identity=(1, 2),
    duration_s=(3.0, 3.4),
    image_size=64,
    workers=1,
    preview_identities=2,
)


def make_world(folder: Path, **changes) -> Path:
    cfg = replace(TINY, root=str(folder / "world"), **changes)
    synthesize(Params(synth=cfg), folder / "sheet.png", folder / "counts.json", quiet=True)
    return folder / "world"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return make_world(tmp_path_factory.mktemp("synth"))


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_meta_file_has_the_real_columns(world):
    meta = pd.read_csv(world / "voxceleb1" / "vox1_meta.csv", sep="\t", dtype=str)
    assert list(meta.columns) == ["VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"]
    assert meta["VoxCeleb1 ID"].str.fullmatch(r"id1\d{4}").all()
    assert set(meta["Gender"]) <= {"m", "f"} and set(meta["Set"]) <= {"dev", "test"}
    # ids follow the alphabetical order of names, as in VoxCeleb1
    assert list(meta.sort_values("VGGFace1 ID")["VoxCeleb1 ID"]) == sorted(meta["VoxCeleb1 ID"])
    assert len(meta) == TINY.n_identities - TINY.face_only


def test_wav_tree(world):
    meta = pd.read_csv(world / "voxceleb1" / "vox1_meta.csv", sep="\t", dtype=str)
    wavs = sorted((world / "voxceleb1" / "wav").glob("id*/*/*.wav"))
    assert {w.parts[-3] for w in wavs} == set(meta["VoxCeleb1 ID"])
    for wav in wavs:
        assert len(wav.parent.name) == 11 and wav.stem.isdigit() and len(wav.stem) == 5
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 3.0 <= info.duration <= 3.5


def test_face_folders_and_landmarks_on_the_face(world):
    model = build_synthetic_model()
    truth = read_truth(world / "truth")
    faces = sorted((world / "vggface").glob("*/*.jpg"))
    assert len(faces) == len(truth.images)
    names = set(truth.identities.query("has_face").name)
    assert {f.parent.name for f in faces} == names
    for k, rel in enumerate(truth.images.path):
        image = np.asarray(Image.open(world / rel))
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        points = read_pts((world / rel).with_suffix(".pts"))
        true = truth.image_arrays["landmarks_2d"][k]
        assert np.abs(points - true).max() < 6 * TINY.landmark_noise_px
        # the face's landmarks lie inside the image around its centre
        assert (points > 0).all() and (points < 64).all()
        # visible landmarks fall on the rendered face (mask dilated by the detector noise)
        name = truth.images.name.iloc[k]
        vertices = model.reconstruct(
            truth.shape_of(name)[None], truth.image_arrays["expression"][k][None]
        )[0]
        mask = render(vertices, model.triangles, truth.image_arrays["pose"][k], (64, 64)).mask
        mask = binary_dilation(mask, iterations=4)
        visible = truth.image_arrays["visible"][k]
        cols, rows = np.clip(np.floor(points[visible]).astype(int), 0, 63).T
        assert mask[rows, cols].mean() > 0.95


def test_modalities_differ_so_intersection_is_real(world):
    truth = read_truth(world / "truth")
    ids = truth.identities
    assert (ids.has_face & ~ids.has_voice).sum() == TINY.face_only
    assert (~ids.has_face & ids.has_voice).sum() == TINY.voice_only
    assert not (world / "vggface").joinpath(ids.query("not has_face").name.iloc[0]).exists()


def test_truth_is_consistent(world):
    truth = read_truth(world / "truth")
    assert truth.shape.shape == (TINY.n_identities, 40)
    assert truth.image_arrays["pose"].shape == (len(truth.images), 3, 4)
    assert truth.image_arrays["expression"].shape == (len(truth.images), 10)
    assert (truth.images.yaw.abs() <= TINY.nuisance.yaw + 1e-3).all()
    assert set(truth.utterances.name) == set(truth.identities.query("has_voice").name)
    assert set(truth.voices.name) == set(truth.identities.query("has_voice").name)


def test_voices_table_and_metrics_report_the_voice_face_links(world):
    voices = read_truth(world / "truth").voices
    assert list(voices.columns) == ["name", *(f.name for f in fields(VoiceIdentity))]
    assert {c for c in voices.columns if c.startswith("z_")} == {f"z_{t}" for t in COUPLED_TRAITS}
    summary = json.loads((world.parent / "counts.json").read_text())
    assert summary["voice_coupling"] == TINY.voice_coupling == 1.0
    assert set(summary["voice_face_links"]) == set(COUPLED_TRAITS)
    for trait, link in summary["voice_face_links"].items():
        assert link["target_r"] == link["literature_r"] == COUPLED_TRAITS[trait].rho
        assert -1.0 <= link["measured_r"] <= 1.0


def test_deterministic_and_independent_of_workers(world, tmp_path):
    again = make_world(tmp_path, workers=2)
    assert digest(again) == digest(world)


def test_seed_changes_the_world(world, tmp_path):
    other = tmp_path / "other"
    cfg = replace(TINY, root=str(other))
    synthesize(Params(seed=1, synth=cfg), tmp_path / "s.png", tmp_path / "c.json", quiet=True)
    assert digest(other) != digest(world)


def test_counts_and_preview_command(world, tmp_path):
    counts = read_truth(world / "truth").counts()
    assert counts["identities"] == TINY.n_identities
    assert counts["with_both"] == TINY.n_identities - TINY.voice_only - TINY.face_only
    out = tmp_path / "sheet.png"
    assert (
        cli(
            [
                "synth",
                "preview",
                "--root",
                str(world),
                "--out",
                str(out),
                "--size",
                "48",
                "--identities",
                "2",
            ]
        )
        == 0
    )
    sheet = np.asarray(Image.open(out))
    assert sheet.shape[0] > 2 * 48 and sheet.shape[1] > 6 * 48  # 3 photos, spectrogram, mesh


def test_clear_world_refuses_folders_that_are_not_synthetic_worlds(tmp_path):
    real = tmp_path / "real"
    (real / "wav").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="refusing to delete"):
        clear_world(real)
    assert (real / "wav").is_dir()
    fake = tmp_path / "fake"
    (fake / "truth").mkdir(parents=True)
    (fake / "truth" / "identities.csv").write_text("name\n")
    clear_world(fake)
    assert not fake.exists()
