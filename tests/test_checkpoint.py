"""One checkpoint format: every model kind round-trips; every bad file is one clear error."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from voice2mesh.checkpoint import (
    CheckpointError,
    ModelCache,
    load_model,
    load_predictor,
    read_model,
    read_state,
    save_model,
    save_state,
)
from voice2mesh.models.registry import KINDS, PREDICTING_KINDS
from voice2mesh.models.teacher import Teacher
from voice2mesh.safe_pickle import UnsafePickleError, load_pickle

ENCODER = {"in_channels": 64, "channels": [8, 8], "embedding_dim": 64}
GAN = {
    "encoder": ENCODER,
    "n_identities": 3,
    "gan": {
        "embedding_dim": 64,
        "generator_channels": [8, 8, 8, 8, 4],
        "face_channels": [4, 8, 8, 8, 8],
    },
}
ARCH = {
    "voice_encoder": {"n_speakers": 3, "encoder": ENCODER},
    "supervised": {"encoder": ENCODER, "n_shape": 5, "n_expression": 2, "dropout": 0.1},
    "supervised_ge2e": {"n_shape": 5, "n_expression": 2, "dropout": 0.1, "embedding_dim": 256},
    "teacher": {"arch": "convnet", "widen_factor": 0.25, "widths": [4, 8, 8], "input_size": 48},
    "gan": GAN,
    "unsupervised": {"gan": GAN, "student_width": 0.25, "n_shape": 40, "n_expression": 10},
}


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = KINDS[kind].build(ARCH[kind])
    with torch.no_grad():  # every buffer and weight away from its initial value
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.1)
    return model.eval()


def test_every_kind_has_a_test_architecture():
    assert set(ARCH) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips_with_its_records(kind: str, tmp_path: Path) -> None:
    model = _model(kind)
    path = tmp_path / "m.pt"
    save_model(path, kind, model, {"lr": 0.1}, {"seed": 3}, {"identities": ["a", "b"]})
    checkpoint = read_model(path)
    assert (checkpoint.kind, checkpoint.arch) == (kind, KINDS[kind].arch(model))
    assert checkpoint.config == {"lr": 0.1} and checkpoint.params == {"seed": 3}
    assert checkpoint.meta == {"identities": ["a", "b"]}
    loaded = load_model(path, kinds=(kind,))
    assert type(loaded) is type(model) and not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_bytes_do_not_depend_on_the_file_name(tmp_path: Path) -> None:
    model = _model("teacher")
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "other_name.pt"
    save_model(a, "teacher", model, {}, {})
    save_model(b, "teacher", model, {}, {})
    assert a.read_bytes() == b.read_bytes()  # dvc.lock hashes these bytes
    assert not list(tmp_path.glob(".a.pt*"))  # no temporary file left behind


VOICES = {"logmel": torch.zeros(1, 64, 120), "ge2e": torch.full((1, 256), 0.0625)}


def test_a_predictor_predicts_raw_coefficients(tmp_path: Path) -> None:
    for kind in PREDICTING_KINDS:
        save_model(tmp_path / f"{kind}.pt", kind, _model(kind), {}, {})
        model, checkpoint = load_predictor(tmp_path / f"{kind}.pt")
        shape, expression = model.predict_raw(VOICES[KINDS[kind].voice])
        assert shape.shape[0] == 1 and expression.shape[0] == 1 and checkpoint.kind == kind


def test_the_wrong_kind_is_named_with_what_was_wanted(tmp_path: Path) -> None:
    path = tmp_path / "voice_encoder.pt"
    save_model(path, "voice_encoder", _model("voice_encoder"), {}, {})
    with pytest.raises(CheckpointError) as error:
        load_predictor(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "voice encoder (stage pretrain_voice)" in message
    assert "predict needs a supervised, supervised ge2e or unsupervised model" in message


def _noise(seed: int) -> Callable[[bytes], bytes]:
    return lambda good: np.random.default_rng(seed).bytes(2048)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_noise(0), "not a readable voice2mesh model"),
        (_noise(17), "not a readable voice2mesh model"),  # torch: IndexError (empty stack)
        (_noise(62), "not a readable voice2mesh model"),  # torch: KeyError (memo key)
        (lambda good: good[: len(good) // 2], "not a readable voice2mesh model"),
        (lambda good: b"", "not a readable voice2mesh model"),
    ],
    ids=["random", "random-index-error", "random-key-error", "truncated", "empty"],
)
def test_damaged_files_are_one_line_errors(tmp_path: Path, content, expected: str) -> None:
    good = tmp_path / "good.pt"
    save_model(good, "teacher", _model("teacher"), {}, {})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content(good.read_bytes()))
    with pytest.raises(CheckpointError, match=expected) as error:
        load_model(bad)
    assert "\n" not in str(error.value) and str(bad) in str(error.value)


def test_every_truncation_point_is_a_one_line_error(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_model(good, "teacher", _model("teacher"), {}, {})
    data = good.read_bytes()
    for k, cut in enumerate(np.linspace(1, len(data) - 1, 13).astype(int)):
        bad = tmp_path / f"cut{k}.pt"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="not a readable voice2mesh model"):
            load_model(bad)


def test_other_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    torch.save({"model": {}, "optimizer": None, "step": 1}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="older voice2mesh"):
        read_model(tmp_path / "old.pt")
    save_state(tmp_path / "state.pt", {"step": 3})
    with pytest.raises(CheckpointError, match="a resume state, not a model"):
        read_model(tmp_path / "state.pt")
    assert read_state(tmp_path / "state.pt")["step"] == 3
    with pytest.raises(CheckpointError, match="no such voice2mesh model"):
        read_model(tmp_path / "absent.pt")


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    model = _model("supervised")
    with torch.no_grad():
        model.shape_head.weight[0, 0] = float("nan")
    save_model(tmp_path / "nan.pt", "supervised", model, {}, {})
    with pytest.raises(CheckpointError, match=r"non-finite weights in shape_head\.weight"):
        load_model(tmp_path / "nan.pt")


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path) -> None:
    save_model(tmp_path / "m.pt", "teacher", _model("teacher"), {}, {})
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["arch"] = {"widen_factor": 0.5}
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="do not fit its recorded architecture"):
        load_model(tmp_path / "m.pt")


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "voice2mesh.model/1", "payload": _RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights-only load refuses"):
        read_model(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned.txt").exists()


def test_the_cache_loads_each_file_once_and_checks_kinds(tmp_path: Path) -> None:
    save_model(tmp_path / "t.pt", "teacher", _model("teacher"), {}, {})
    cache = ModelCache()
    assert cache.get(tmp_path / "t.pt", ("teacher",)) is cache.get(tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="expected a gan model"):
        cache.get(tmp_path / "t.pt", ("gan",))


def test_a_crafted_pickle_is_refused_without_running(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bfm.pkl").write_bytes(pickle.dumps({"u": _RunsCode()}))
    with pytest.raises(UnsafePickleError, match=r"bfm\.pkl: refused to load posix\.system"):
        load_pickle(tmp_path / "bfm.pkl")
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_numbers_and_containers_load(tmp_path: Path, protocol: int) -> None:
    data = {
        "mean": np.arange(62.0),
        "std": np.ones(62, np.float32),
        "tri": np.arange(12, dtype=np.int64).reshape(3, 4).T,  # non-contiguous
        "names": ["a", ("b", 2)],
        "scale": np.float64(2.5),
    }
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_pickle(tmp_path / "x.pkl")
    np.testing.assert_array_equal(loaded["tri"], data["tri"])
    assert loaded["names"] == ["a", ("b", 2)] and loaded["scale"] == 2.5


def test_the_real_3ddfa_files_load_safely(assets_dir: Path) -> None:
    tddfa = assets_dir / "tddfa"
    stats = load_pickle(tddfa / "param_mean_std_62d_120x120.pkl")
    assert stats["mean"].shape == (62,) and (stats["std"] > 0).all()
    teacher = Teacher.from_3ddfa_checkpoint(
        tddfa / "mb05_120x120.pth", tddfa / "param_mean_std_62d_120x120.pkl", 0.5
    )
    np.testing.assert_allclose(teacher.param_std.numpy(), stats["std"], rtol=1e-6)


def test_a_3ddfa_checkpoint_that_would_run_code_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"state_dict": _RunsCode()}, tmp_path / "mb1_120x120.pth")
    (tmp_path / "stats.pkl").write_bytes(pickle.dumps({"mean": np.zeros(62), "std": np.ones(62)}))
    with pytest.raises(ValueError, match="not a loadable 3DDFA-V2 checkpoint"):
        Teacher.from_3ddfa_checkpoint(tmp_path / "mb1_120x120.pth", tmp_path / "stats.pkl", 1.0)
    assert not (tmp_path / "pwned.txt").exists()
