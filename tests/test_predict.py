"""``voice2mesh.predict``: a real recording → mesh; warnings for doubtful audio; broken models and
non-finite or absurd predictions refused with the file named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from predictors import BUILDERS, FACE_MODEL, save_predictor

import voice2mesh.predict as predict_module
from voice2mesh.audio import AudioError
from voice2mesh.audio.features import utterance_features
from voice2mesh.checkpoint import CheckpointError
from voice2mesh.cli import main
from voice2mesh.config import Ge2eParams
from voice2mesh.encoders import EncoderUnavailable, embed_files, load_ge2e
from voice2mesh.models.registry import KINDS
from voice2mesh.predict import PredictError, predict_face, preview, voice_features
from voice2mesh.render import load_mesh


def ge2e_or_skip():
    """The pretrained GE2E encoder; skips the test when the resemblyzer wheel is missing."""
    try:
        return load_ge2e()
    except EncoderUnavailable as error:
        pytest.skip(f"GE2E weights not installed: {error}")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained-but-valid supervised checkpoint with non-trivial target statistics."""
    return save_predictor(tmp_path_factory.mktemp("predict") / "supervised.pt")


@pytest.fixture(scope="module")
def voice(assets_dir: Path) -> Path:
    return assets_dir / "voxceleb1" / "Damian_Lewis.wav"


def test_predict_writes_a_mesh_and_preview_for_a_real_voice(
    voice: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, png = tmp_path / "face.obj", tmp_path / "face.png"
    argv = ["predict", str(voice), "--model", str(checkpoint), "--out", str(out)]
    assert main([*argv, "--png", str(png), "--size", "96"]) == 0
    vertices, triangles = load_mesh(out)
    expected = predict_face(voice, checkpoint)
    assert vertices.shape == expected.vertices.shape and len(triangles) > 1000
    assert np.allclose(vertices, expected.vertices, atol=1e-4)
    assert expected.speech_s > 3.0 and np.isfinite(expected.shape).all()
    assert expected.warnings == {}
    image = np.asarray(Image.open(png))
    assert image.ndim == 3 and image.shape[1] > 3 * 96 and image.std() > 5  # three rendered views
    err = capsys.readouterr().err
    assert "wrote" in err and "warning" not in err


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_predicting_kind_gives_a_finite_face(kind: str, voice: Path, tmp_path: Path) -> None:
    if KINDS[kind].voice == "ge2e":
        ge2e_or_skip()
    result = predict_face(voice, save_predictor(tmp_path / f"{kind}.pt", kind))
    assert result.shape.shape == (FACE_MODEL["n_shape"],)
    assert result.expression.shape == (FACE_MODEL["n_expression"],)
    assert np.isfinite(result.vertices).all() and preview(result, 32).shape[0] >= 32


def test_features_match_the_features_stage(voice: Path) -> None:
    """predict reads the samples itself (for its warnings); the front end must stay the same."""
    features, speech_s, _ = voice_features(voice)
    expected, info = utterance_features(voice, 0.5)
    np.testing.assert_array_equal(features, expected)
    assert speech_s == info["speech_s"]


def _nan_output(model: torch.nn.Module) -> None:
    model.predict_raw = lambda x: (torch.full((1, 6), torch.nan), torch.zeros(1, 2))


def _huge_weights(model: torch.nn.Module) -> None:
    model.shape_head.weight.fill_(3e38)  # finite weights, coefficients ~1e37: finite, absurd


def test_non_finite_predictions_are_refused(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_predictor(tmp_path / "model.pt")
    original = predict_module.load_predictor

    def nan_model(path: Path, device: str) -> tuple:
        model, stored = original(path, device)
        _nan_output(model)  # weights are fine; the output is not
        return model, stored

    monkeypatch.setattr(predict_module, "load_predictor", nan_model)
    with pytest.raises(PredictError, match=r"model\.pt: the predicted coefficients .* not finite"):
        predict_face(voice, path)


def test_absurd_coefficients_are_refused(voice: Path, tmp_path: Path) -> None:
    path = save_predictor(tmp_path / "huge.pt", edit=_huge_weights)
    with pytest.raises(PredictError, match=r"huge\.pt: .*prior standard deviations"):
        predict_face(voice, path)


def test_nan_weights_are_refused_before_the_audio_is_read(tmp_path: Path) -> None:
    path = save_predictor(tmp_path / "nan.pt", edit=lambda m: m.shape_head.weight.fill_(np.nan))
    with pytest.raises(CheckpointError, match=r"nan\.pt: non-finite weights"):
        predict_face(tmp_path / "no_such.wav", path)  # the model fails first


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_truncated_model_is_named(voice: Path, checkpoint: Path, tmp_path: Path, cut: float):
    data = checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises((CheckpointError, PredictError), match=r"cut\.pt: not a readable"):
        predict_face(voice, path)


def test_missing_face_model_record_and_file_are_named(voice: Path, tmp_path: Path) -> None:
    bare = save_predictor(tmp_path / "bare.pt", params={})
    with pytest.raises(PredictError, match=r"bare\.pt: does not record the face model"):
        predict_face(voice, bare)
    lost = {**FACE_MODEL, "kind": "bfm", "path": str(tmp_path / "gone.pkl")}
    path = save_predictor(tmp_path / "lost.pt", params={"face_model": lost})
    with pytest.raises(PredictError, match=r"lost\.pt: cannot load the 'bfm' face model.*gone"):
        predict_face(voice, path)


def test_unreadable_or_speechless_audio_is_named(checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav")
    quiet = tmp_path / "quiet.wav"
    t = np.arange(8000) / 16000
    sf.write(quiet, (300 * np.sin(2 * np.pi * 50 * t)).astype(np.int16), 16000)  # 0.5 s hum
    for wav, code in ((broken, "unreadable"), (quiet, "too_little_speech")):
        with pytest.raises(AudioError, match=wav.name) as caught:
            predict_face(wav, checkpoint)
        assert caught.value.code == code


def test_doubtful_audio_gives_a_face_with_warnings(
    voice: Path, checkpoint: Path, tmp_path: Path
) -> None:
    samples, rate = sf.read(voice, dtype="float64")
    loud = tmp_path / "loud.wav"
    sf.write(loud, samples * 40, rate, subtype="FLOAT")  # over-driven float: clipped on reading
    result = predict_face(loud, checkpoint)
    assert set(result.warnings) == {"clipped"} and "loud.wav: clipped" in result.warnings["clipped"]
    tone = tmp_path / "tone.wav"
    sf.write(tone, 0.3 * np.sin(2 * np.pi * 220 * np.arange(3 * rate) / rate), rate)
    result = predict_face(tone, checkpoint)
    assert "not_speech" in result.warnings and "tonal" in result.warnings["not_speech"]


def test_a_ge2e_row_embeds_the_recording_as_embed_ge2e_does(voice: Path, tmp_path: Path) -> None:
    """``--row supervised_ge2e``: the recording's GE2E embedding, the one the stage stores."""
    encoder = ge2e_or_skip()
    pinned = {"weights_sha256": Ge2eParams().weights_sha256}
    model_file = tmp_path / "ge2e" / "seed_0.pt"
    model_file.parent.mkdir()
    save_predictor(model_file, "supervised_ge2e", params={"face_model": FACE_MODEL, "ge2e": pinned})
    params = tmp_path / "params.yaml"
    params.write_text(f"supervised_ge2e:\n  out: {model_file.parent}\n")
    out = tmp_path / "face.obj"
    argv = ["predict", str(voice), "--row", "supervised_ge2e", "--params", str(params)]
    assert main([*argv, "--out", str(out)]) == 0 and out.is_file()
    result = predict_face(voice, model_file)
    vector = torch.from_numpy(embed_files([voice], encoder).vectors)  # (1, 256)
    with torch.no_grad():
        expected = BUILDERS["supervised_ge2e"]().eval().predict_raw(vector)[0][0].numpy()
    np.testing.assert_allclose(result.shape, expected, atol=1e-5)
    assert result.speech_s > 3.0 and result.warnings == {}


def test_a_ge2e_model_refuses_fbank_frames_and_other_weights(voice: Path, tmp_path: Path) -> None:
    fbank = tmp_path / "utterance.npy"
    np.save(fbank, np.zeros((300, 64), np.float32))
    model_file = save_predictor(tmp_path / "g.pt", "supervised_ge2e")
    with pytest.raises(PredictError, match=r"a GE2E model embeds the waveform; .*utterance\.npy"):
        predict_face(fbank, model_file)
    other = {"face_model": FACE_MODEL, "ge2e": {"weights_sha256": "0" * 64}}
    model_file = save_predictor(tmp_path / "other.pt", "supervised_ge2e", params=other)
    with pytest.raises(PredictError, match=r"other\.pt needs the GE2E weights it was trained on"):
        predict_face(voice, model_file)
