"""``voice2mesh predict`` on an fbank ``.npy``: the frames go to the encoder as the authors'
``voice2face_processed`` feeds them (transposed, nothing else); bad arrays are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from predictors import save_predictor

from voice2mesh.audio import AudioError
from voice2mesh.checkpoint import load_predictor
from voice2mesh.cli import main
from voice2mesh.predict import predict_face
from voice2mesh.release import read_fbank
from voice2mesh.render import load_mesh

SHORT = "rand_id00001/1TmvLk8sB-g/00002.npy"  # 339 frames repeated to 1000
LONG = "rand_id00004/_2wZVvsQYFg/00002.npy"  # 1751 frames, stored whole


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_predictor(tmp_path_factory.mktemp("release_predict") / "supervised.pt")


@pytest.fixture(scope="module")
def mfcc(assets_dir: Path) -> Path:
    return assets_dir / "cmp" / "preprocessed_MFCC"


@pytest.mark.parametrize("name", [SHORT, LONG])
def test_the_release_frames_reach_the_encoder_unchanged(
    mfcc: Path, checkpoint: Path, name: str
) -> None:
    net, _ = load_predictor(checkpoint, "cpu")
    frames = np.load(mfcc / name)  # (T, 64)
    with torch.no_grad():  # their utils.py voice2face_processed: fbank.T[np.newaxis, ...]
        expected = net.predict_raw(torch.from_numpy(frames.T.copy())[None])
    result = predict_face(mfcc / name, checkpoint)
    np.testing.assert_allclose(result.shape, expected[0][0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.expression, expected[1][0].numpy(), rtol=1e-5, atol=1e-6)
    assert result.speech_s == pytest.approx(read_fbank(mfcc / name).speech_s)
    assert result.warnings == {}


def test_an_untiled_utterance_predicts_as_the_release_file(
    mfcc: Path, checkpoint: Path, tmp_path: Path
) -> None:
    """The features store keeps one period; predicting from it repeats it back to the file."""
    np.save(tmp_path / "kept.npy", read_fbank(mfcc / SHORT).features)
    kept = predict_face(tmp_path / "kept.npy", checkpoint)
    released = predict_face(mfcc / SHORT, checkpoint)
    np.testing.assert_array_equal(kept.shape, released.shape)
    assert kept.speech_s == released.speech_s == 3.39


def test_the_command_line_writes_a_mesh_for_an_npy(
    mfcc: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "face.obj"
    assert main(["predict", str(mfcc / SHORT), "--model", str(checkpoint), "--out", str(out)]) == 0
    vertices, _ = load_mesh(out)
    np.testing.assert_allclose(vertices, predict_face(mfcc / SHORT, checkpoint).vertices, atol=1e-4)
    assert "3.4 s of speech" in capsys.readouterr().err


def test_a_transposed_array_is_named_with_the_fix(
    mfcc: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "transposed.npy"
    np.save(bad, np.load(mfcc / SHORT).T)
    out = tmp_path / "face.obj"
    assert main(["predict", str(bad), "--model", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: shape (64, 1000)" in err and "save fbank.T" in err and not out.exists()


def test_frames_of_another_front_end_warn_and_short_ones_are_refused(
    checkpoint: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw.npy"
    np.save(raw, (rng.normal(size=(400, 64)) * 3 + 9).astype(np.float32))
    result = predict_face(raw, checkpoint)
    assert "not normalised per mel bin" in result.warnings["not_normalised"]
    short = tmp_path / "short.npy"
    np.save(short, rng.normal(size=(30, 64)).astype(np.float32))
    with pytest.raises(AudioError, match=r"0\.30 s of frames") as caught:
        predict_face(short, checkpoint)
    assert caught.value.code == "too_little_speech"
