from pathlib import Path

import pytest

from voice2mesh.config import (
    ConfigError,
    FaceModelParams,
    Params,
    as_dict,
    load_params,
    load_section,
    params_from_dict,
    resolve_device,
)

ROOT = Path(__file__).resolve().parents[2]


def test_repository_params_file_is_valid():
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.face_model.kind == "synthetic"


def test_defaults_fill_missing_sections():
    params = params_from_dict({})
    assert params == Params()
    assert params.face_model == FaceModelParams()


def test_unknown_key_names_dotted_key_and_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("face_model:\n  kind: synthetic\n  n_shpae: 40\n")
    with pytest.raises(ConfigError, match=r"params\.yaml.*face_model\.n_shpae"):
        load_params(path)


def test_unknown_top_level_section(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("face_modle: {}\n")
    with pytest.raises(ConfigError, match="face_modle"):
        load_params(path)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"face_model": {"n_shape": "forty"}}, "face_model.n_shape"),
        ({"face_model": {"kind": "flame"}}, "face_model.kind"),
        ({"seed": True}, "seed"),
        ({"face_model": {"preview_size": 1.5}}, "face_model.preview_size"),
    ],
)
def test_mistyped_values_fail_with_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        params_from_dict(data, "x.yaml")


def test_ints_are_accepted_for_floats_and_optional_none():
    params = params_from_dict({"face_model": {"path": None}})
    assert params.face_model.path is None


def test_load_section_and_round_trip(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 3\nface_model:\n  kind: sfm\n  path: /x/sfm.npz\n")
    section = load_section("face_model", path)
    assert section.kind == "sfm" and section.path == "/x/sfm.npz"
    assert params_from_dict(as_dict(load_params(path))) == load_params(path)
    with pytest.raises(ConfigError, match="no section"):
        load_section("nope", path)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_resolve_device_on_cpu_machine():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
