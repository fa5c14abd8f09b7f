"""``voice2mesh predict``: a real VoxCeleb1 recording → mesh + preview; clear audio errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from voice2mesh.cli import main
from voice2mesh.models.supervised import SupervisedVoice2Mesh
from voice2mesh.models.voice_encoder import VoiceEncoder, VoiceEncoderConfig
from voice2mesh.predict import predict_face
from voice2mesh.render import load_mesh
from voice2mesh.train.pretrain_voice import save_checkpoint

FACE_MODEL = {"kind": "synthetic", "path": None, "n_shape": 6, "n_expression": 2}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained-but-valid supervised checkpoint with non-trivial target statistics."""
    torch.manual_seed(0)
    cfg = VoiceEncoderConfig(channels=(16, 16))
    model = SupervisedVoice2Mesh(VoiceEncoder(cfg), n_shape=6, n_expression=2)
    model.set_target_stats(torch.linspace(-1, 1, 8), torch.full((8,), 0.5))
    path = tmp_path_factory.mktemp("predict") / "supervised.pt"
    config = {
        "encoder": {"in_channels": 64, "channels": [16, 16], "embedding_dim": 64},
        "n_shape": 6,
        "n_expression": 2,
        "dropout": 0.2,
        "face_model": FACE_MODEL,
    }
    save_checkpoint(path, model, None, 0, config)
    return path


def test_predict_writes_a_mesh_and_preview_for_a_real_voice(
    assets_dir: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wav = assets_dir / "voxceleb1" / "Damian_Lewis.wav"
    out, png = tmp_path / "face.obj", tmp_path / "face.png"
    argv = ["predict", str(wav), "--model", str(checkpoint), "--out", str(out)]
    assert main([*argv, "--png", str(png), "--size", "96"]) == 0
    vertices, triangles = load_mesh(out)
    expected = predict_face(wav, checkpoint)
    assert vertices.shape == expected.vertices.shape and len(triangles) > 1000
    assert np.allclose(vertices, expected.vertices, atol=1e-4)
    assert expected.speech_s > 3.0 and np.isfinite(expected.shape).all()
    image = np.asarray(Image.open(png))
    assert image.ndim == 3 and image.shape[1] > 3 * 96 and image.std() > 5  # three rendered views
    assert "wrote" in capsys.readouterr().err


def test_predict_names_the_file_for_unreadable_or_speechless_audio(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav")
    quiet = tmp_path / "quiet.wav"
    t = np.arange(8000) / 16000
    sf.write(quiet, (300 * np.sin(2 * np.pi * 50 * t)).astype(np.int16), 16000)  # 0.5 s hum
    for wav in (broken, quiet):
        code = main(
            ["predict", str(wav), "--model", str(checkpoint), "--out", str(tmp_path / "x.obj")]
        )
        err = capsys.readouterr().err
        assert code == 2 and str(wav) in err
    assert not (tmp_path / "x.obj").exists()


def test_predict_without_a_model_says_how_to_get_one(tmp_path: Path, capsys) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, np.int16), 16000)
    code = main(["predict", str(wav), "--model", str(tmp_path / "none.pt"), "--out", "x.obj"])
    assert code == 2 and "dvc repro train_supervised" in capsys.readouterr().err
