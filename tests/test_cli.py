"""The CLI boundary: a user error is one line naming the file and exit 2 (traceback only with
--verbose); outputs are checked before inference; bugs exit 1; doubtful audio warns."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from predictors import save_predictor, save_voice_encoder

import voice2mesh.predict as predict_module
from voice2mesh.cli import main

RATE = 16000


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_predictor(tmp_path_factory.mktemp("cli") / "supervised.pt")


@pytest.fixture(scope="module")
def speech(assets_dir: Path) -> Path:
    return assets_dir / "voxceleb1" / "Eoin_Macken.wav"


@pytest.fixture
def no_inference(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record calls of ``predict_face`` (and do no inference)."""
    calls: list = []
    monkeypatch.setattr(predict_module, "predict_face", lambda *a: calls.append(a))
    return calls


def run(capsys: pytest.CaptureFixture, *argv: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *names: str) -> None:
    """Exit 2, exactly one ``voice2mesh: error:`` line naming ``names``, no traceback."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("voice2mesh: error: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)


def _wav(path: Path, samples: np.ndarray, subtype: str = "PCM_16") -> Path:
    sf.write(path, samples, RATE, subtype=subtype, format="WAV")
    return path


def test_random_bytes_as_model(speech: Path, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    code, err = run(capsys, "predict", speech, "--model", junk, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "junk.pt", "not a readable voice2mesh model")
    assert not (tmp_path / "f.obj").exists()


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.5, 0.97])
def test_truncated_model(model: Path, speech: Path, tmp_path: Path, capsys, cut: float) -> None:
    data = model.read_bytes()
    cut_model = tmp_path / "cut.pt"
    cut_model.write_bytes(data[: int(cut * len(data))])
    code, err = run(capsys, "predict", speech, "--model", cut_model, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "cut.pt")


def test_voice_encoder_is_the_wrong_kind(speech: Path, tmp_path: Path, capsys) -> None:
    encoder = save_voice_encoder(tmp_path / "voice_encoder.pt")
    code, err = run(capsys, "predict", speech, "--model", encoder, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "voice_encoder.pt", "speaker-ID voice encoder", "supervised")


def test_nan_weights(speech: Path, tmp_path: Path, capsys) -> None:
    nan = save_predictor(tmp_path / "nan.pt", edit=lambda m: m.shape_head.weight.fill_(np.nan))
    code, err = run(capsys, "predict", speech, "--model", nan, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "nan.pt", "non-finite")
    assert not (tmp_path / "f.obj").exists()


def test_absurd_prediction_writes_no_mesh(speech: Path, tmp_path: Path, capsys) -> None:
    huge = save_predictor(tmp_path / "huge.pt", edit=lambda m: m.shape_head.weight.fill_(3e38))
    code, err = run(capsys, "predict", speech, "--model", huge, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "huge.pt", "standard deviations")
    assert not (tmp_path / "f.obj").exists()


def test_missing_model_says_how_to_get_one(speech: Path, tmp_path: Path, capsys) -> None:
    none = tmp_path / "none.pt"
    code, err = run(capsys, "predict", speech, "--model", none, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "none.pt", "dvc repro")


def test_missing_face_model_file(speech: Path, tmp_path: Path, capsys) -> None:
    face = {"kind": "sfm", "path": str(tmp_path / "sfm.npz"), "n_shape": 6, "n_expression": 2}
    lost = save_predictor(tmp_path / "lost.pt", params={"face_model": face})
    code, err = run(capsys, "predict", speech, "--model", lost, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "lost.pt", "sfm.npz")


def _unwritable_outs(tmp_path: Path) -> list[tuple[list[str], str]]:
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("")
    read_only = tmp_path / "read_only.obj"
    read_only.write_text("")
    read_only.chmod(0o444)
    (tmp_path / "folder.obj").mkdir()
    return [
        (["--out", str(a_file / "face.obj")], "is a file, not a folder"),
        (["--out", str(tmp_path / "folder.obj")], "is a folder"),
        (["--out", str(tmp_path / "face.stl")], "must end in .obj or .ply"),
        (["--out", str(read_only)], "read-only"),
        (["--out", str(tmp_path / "f.obj"), "--png", str(a_file / "x.png")], "not a folder"),
        (["--out", str(tmp_path / "f.obj"), "--png", str(tmp_path / "f.jpg")], "must end in .png"),
    ]


def test_unwritable_out_is_refused_before_inference(
    model: Path, speech: Path, tmp_path: Path, capsys, no_inference: list
) -> None:
    for outs, message in _unwritable_outs(tmp_path):
        code, err = run(capsys, "predict", speech, "--model", model, *outs)
        assert_one_line_error(code, err, message)
    assert no_inference == []


def test_folder_that_cannot_be_written_is_refused_before_inference(
    model: Path, speech: Path, tmp_path: Path, capsys, no_inference: list
) -> None:
    """A folder without write permission (for other users) or one where no file can be made
    at all, even by root (/proc): refused before any inference."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    unwritable = [Path("/proc") / "f.obj"] + ([locked / "f.obj"] if os.geteuid() != 0 else [])
    for out in unwritable:
        code, err = run(capsys, "predict", speech, "--model", model, "--out", out)
        assert_one_line_error(code, err, "cannot write in", str(out.parent))
    assert no_inference == []


def test_out_may_not_replace_an_input(model: Path, tmp_path: Path, capsys, no_inference) -> None:
    voice = _wav(tmp_path / "voice.obj", np.zeros(RATE, np.int16), "PCM_16")  # odd but legal
    code, err = run(capsys, "predict", voice, "--model", model, "--out", voice)
    assert_one_line_error(code, err, "would overwrite an input")


def test_a_full_disk_after_inference_is_one_line(
    model: Path, speech: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path, *args: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("voice2mesh.render.export_mesh", full)
    code, err = run(capsys, "predict", speech, "--model", model, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "f.obj", "No space left on device")


def test_header_claiming_1_hz(model: Path, tmp_path: Path, capsys) -> None:
    wav = _wav(tmp_path / "one_hz.wav", np.zeros(4 * RATE, np.int16) + 5)
    data = bytearray(wav.read_bytes())
    data[24:32] = (1).to_bytes(4, "little") + (2).to_bytes(4, "little")  # rate, byte rate
    wav.write_bytes(bytes(data))
    code, err = run(capsys, "predict", wav, "--model", model, "--out", tmp_path / "f.obj")
    assert_one_line_error(code, err, "one_hz.wav", "1 Hz")


def test_too_long_is_refused(model: Path, speech: Path, tmp_path: Path, capsys) -> None:
    argv = ["predict", speech, "--model", model, "--out", tmp_path / "f.obj"]
    code, err = run(capsys, *argv, "--max-seconds", "2")
    assert_one_line_error(code, err, speech.name, "over the 2 s limit", "--max-seconds")


def test_missing_recording(model: Path, tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "predict", tmp_path / "absent.wav", "--model", model, "--out", "f.obj")
    assert_one_line_error(code, err, "absent.wav", "no such file")


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("voice2mesh: warning: ")]


def test_truncated_wav_warns_and_predicts(model: Path, speech: Path, tmp_path: Path, capsys):
    cut = tmp_path / "cut.wav"
    cut.write_bytes(speech.read_bytes()[: speech.stat().st_size // 2])
    code, err = run(capsys, "predict", cut, "--model", model, "--out", tmp_path / "f.obj")
    assert code == 0 and (tmp_path / "f.obj").is_file()
    (warning,) = _warnings(err)  # once, not once per layer
    assert "cut.wav: truncated" in warning


def test_clipped_float_wav_warns(model: Path, speech: Path, tmp_path: Path, capsys) -> None:
    samples, _ = sf.read(speech, dtype="float64")
    loud = _wav(tmp_path / "loud.wav", samples * 40, "FLOAT")
    code, err = run(capsys, "predict", loud, "--model", model, "--out", tmp_path / "f.obj")
    assert code == 0
    (warning,) = _warnings(err)
    assert "loud.wav: clipped" in warning and "% of the samples" in warning


@pytest.mark.parametrize(
    ("name", "samples", "reason"),
    [
        ("tone", 8000 * np.sin(2 * np.pi * 440 * np.arange(3 * RATE) / RATE), "tonal"),
        ("noise", 3000 * np.random.default_rng(0).standard_normal(3 * RATE), "noise"),
    ],
)
def test_not_speech_warns(model: Path, tmp_path: Path, capsys, name, samples, reason) -> None:
    wav = _wav(tmp_path / f"{name}.wav", samples.astype(np.int16))
    code, err = run(capsys, "predict", wav, "--model", model, "--out", tmp_path / "f.obj")
    assert code == 0
    (warning,) = _warnings(err)
    assert f"{name}.wav: does not look like speech" in warning and f"{reason}:" in warning


def test_real_speech_does_not_warn(model: Path, speech: Path, tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "predict", speech, "--model", model, "--out", tmp_path / "f.ply")
    assert code == 0 and _warnings(err) == [] and (tmp_path / "f.ply").is_file()


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_shows_the_traceback(speech: Path, tmp_path: Path, capsys, where: str) -> None:
    argv = ["predict", speech, "--model", tmp_path / "none.pt", "--out", tmp_path / "f.obj"]
    code, err = run(capsys, *(["--verbose", *argv] if where == "before" else [*argv, "-v"]))
    assert code == 2 and "Traceback" in err
    assert err.splitlines()[-1].startswith("voice2mesh: error: ")


def test_internal_error_exits_1_with_a_hint(
    model: Path, speech: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(predict_module, "predict_face", bug)
    code, err = run(capsys, "predict", speech, "--model", model, "--out", tmp_path / "f.obj")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError" in err and "--verbose" in err


def test_bad_device_is_a_user_error(model: Path, speech: Path, tmp_path: Path, capsys) -> None:
    argv = ["predict", speech, "--model", model, "--out", tmp_path / "f.obj", "--device", "gpu"]
    assert_one_line_error(*run(capsys, *argv), "--device gpu")


def test_other_commands_share_the_boundary(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "sfm.npz"
    argv = [
        "facemodel",
        "preview",
        "--model",
        "sfm",
        "--path",
        missing,
        "--out",
        tmp_path / "a.png",
    ]
    assert_one_line_error(*run(capsys, *argv), "sfm.npz")
    argv = ["synth", "preview", "--root", tmp_path / "nowhere", "--out", tmp_path / "b.png"]
    assert_one_line_error(*run(capsys, *argv), "nowhere")
    argv = ["facemodel", "preview", "--out", tmp_path / "a_folder" / "x.gif"]
    assert_one_line_error(*run(capsys, *argv), "must end in .png")


def test_row_finds_the_model_params_yaml_names(speech: Path, tmp_path: Path, capsys) -> None:
    """``--row unsupervised`` is the kd_ablation model of ``kd.method`` (evaluation.rows)."""
    save_predictor(tmp_path / "kd" / "rkd" / "seed_0.pt", "unsupervised")
    params = tmp_path / "params.yaml"
    params.write_text(f"kd:\n  method: rkd\n  out: {tmp_path / 'kd'}\n")
    out = tmp_path / "f.obj"
    code, err = run(
        capsys, "predict", speech, "--row", "unsupervised", "--params", params, "--out", out
    )
    assert code == 0, err
    assert out.is_file()
    code, err = run(
        capsys, "predict", speech, "--row", "baseline", "--params", params, "--out", out
    )
    assert_one_line_error(code, err, "--row baseline", "supervised, supervised_ge2e, unsupervised")


def test_seed_picks_the_rows_model_of_that_training_seed(
    speech: Path, tmp_path: Path, capsys
) -> None:
    """``--seed K`` reads ``seed_K.pt``; the default is the first seed; a seed that the params do
    not train, or one not trained yet, is one line listing the seeds there are."""
    folder = tmp_path / "kd" / "rkd"
    save_predictor(folder / "seed_3.pt", "unsupervised")
    (folder / "seed_4.pt").write_bytes(b"not a model")  # so that reading seed 4 shows
    params = tmp_path / "params.yaml"
    params.write_text(f"seed: 3\nn_seeds: 3\nkd:\n  method: rkd\n  out: {tmp_path / 'kd'}\n")
    out = tmp_path / "f.obj"
    argv = ("predict", speech, "--row", "unsupervised", "--params", params, "--out", out)
    code, err = run(capsys, *argv)
    assert code == 0, err
    assert_one_line_error(*run(capsys, *argv, "--seed", "4"), "seed_4.pt", "not a readable")
    code, err = run(capsys, *argv, "--seed", "5")
    assert_one_line_error(code, err, "seed_5.pt", "seed 5", "seeds trained there: 3, 4")
    code, err = run(capsys, *argv, "--seed", "9")
    assert_one_line_error(code, err, "--row unsupervised", "seed 9", "the seeds are 3, 4, 5")


def test_without_model_or_row_predict_uses_the_supervised_rows_first_seed(
    speech: Path, tmp_path: Path, capsys
) -> None:
    save_predictor(tmp_path / "sup" / "seed_2.pt")
    params = tmp_path / "params.yaml"
    params.write_text(f"seed: 2\nsupervised:\n  out: {tmp_path / 'sup'}\n")
    out = tmp_path / "f.obj"
    code, err = run(capsys, "predict", speech, "--params", params, "--out", out)
    assert code == 0, err
    assert out.is_file()
    params.write_text(f"seed: 1\nsupervised:\n  out: {tmp_path / 'sup'}\n")
    code, err = run(capsys, "predict", speech, "--params", params, "--out", out)
    assert_one_line_error(code, err, "seed_1.pt", "seeds trained there: 2")


def test_seed_goes_with_row_not_with_model(model: Path, speech: Path, tmp_path: Path, capsys):
    argv = ("predict", speech, "--model", model, "--seed", "1", "--out", tmp_path / "f.obj")
    assert_one_line_error(*run(capsys, *argv), "--seed 1", "--row")
