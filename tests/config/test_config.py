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


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"pretrain_voice": {"iterations": -5}}, r"pretrain_voice\.iterations = -5; allowed: >= 1"),
        ({"device": "gpu"}, r"device = 'gpu'; allowed: auto, cpu, cuda or cuda:<index>"),
        ({"seed": -1}, r"seed = -1; allowed: >= 0 and <= 4294967295"),
        ({"n_seeds": 0}, r"n_seeds = 0; allowed: >= 1"),
        (
            {"seed": 2**32 - 2, "n_seeds": 3},
            r"n_seeds = 3; allowed: seed \+ n_seeds - 1 <= 4294967295",
        ),
        ({"gan": {"lr": 0}}, r"gan\.lr = 0\.0; allowed: > 0"),
        ({"kd": {"lr": -0.1}}, r"kd\.lr = -0\.1; allowed: > 0"),
        ({"supervised": {"batch_size": 0}}, r"supervised\.batch_size = 0; allowed: >= 1"),
        ({"supervised": {"dropout": 1.0}}, r"supervised\.dropout = 1\.0; allowed: >= 0 and < 1"),
        ({"teacher": {"eval_every": -1}}, r"teacher\.eval_every = -1; allowed: >= 0"),
        (
            {"gan": {"betas": [0.5, 1.0]}},
            r"gan\.betas = \(0\.5, 1\.0\); allowed: items >= 0 and < 1",
        ),
        (
            {"pretrain_voice": {"crop_frames": [900, 100]}},
            r"pretrain_voice\.crop_frames = \(900, 100\); allowed: \[low, high\] with 1 <= low",
        ),
        ({"gan": {"face_channels": [8, 8]}}, r"gan\.face_channels = \(8, 8\); allowed: 3-5 widths"),
        (
            {"gan": {"generator_channels": [8, 8, 8, 8], "face_channels": [8, 8, 8]}},
            r"gan\.face_channels = \(8, 8, 8\); allowed: as many widths as generator_channels",
        ),
        ({"kd": {"weights": {"pkt": 0}}}, r"kd\.weights = \{'pkt': 0\.0\}; allowed: a positive"),
        ({"kd": {"options": {"pkz": {}}}}, r"kd\.options = .*allowed: keys among kd, attention"),
        ({"evaluate": {"confidence": 1.0}}, r"evaluate\.confidence = 1\.0; allowed: > 0 and < 1"),
        ({"features": {"max_reject_fraction": 1.5}}, r"features\.max_reject_fraction = 1\.5"),
        ({"gan": {"lr": float("nan")}}, r"gan\.lr = nan; allowed: > 0"),
        ({"ge2e": {"min_speech_s": -1}}, r"ge2e\.min_speech_s = -1\.0; allowed: >= 0"),
        (
            {"ge2e": {"weights_sha256": "39373B86"}},
            r"ge2e\.weights_sha256 = '39373B86'; allowed: a sha256 as 64 lowercase hex digits",
        ),
        ({"supervised_ge2e": {"lr": 0}}, r"supervised_ge2e\.lr = 0\.0; allowed: > 0"),
        (
            {"supervised_ge2e": {"dropout": 1}},
            r"supervised_ge2e\.dropout = 1\.0; allowed: >= 0 and < 1",
        ),
        (
            {"intersect": {"source": "voxceleb3d"}},
            r"intersect\.source = 'voxceleb3d'; expected one of 'voxceleb', 'release'",
        ),
        (  # release mode with the synthetic world's VoxCeleb1 as its release folder
            {"intersect": {"source": "release"}},
            r"intersect\.voxceleb_root = 'data/synthetic/voxceleb1'; allowed: the unpacked "
            r"Voxceleb-3D release's folder",
        ),
        (
            {"intersect": {"source": "release", "voxceleb_root": "vc3d"}},
            r"intersect\.vggface_root = 'data/synthetic/vggface'; allowed: the release's folder, "
            r"voxceleb_root = 'vc3d'",
        ),
        ({"intersect": {"release": {"workers": 0}}}, r"intersect\.release\.workers = 0; allowed"),
        (
            {"intersect": {"release": {"voice": "fbank"}}},
            r"unknown key\(s\) intersect\.release\.voice",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_range(data, message):
    with pytest.raises(ConfigError, match=rf"^params\.yaml: {message}"):
        params_from_dict(data, "params.yaml")


def test_release_mode_reads_the_release_folder_from_both_roots():
    root = {"voxceleb_root": "data/vc3d", "vggface_root": "data/vc3d/"}  # spelled apart, same
    release = {"aliases": {"rand_id00001": "Asa_Butterfield"}, "faces": ["A2E_val"]}
    cfg = params_from_dict({"intersect": {"source": "release", **root, "release": release}})
    assert cfg.intersect.release.aliases == release["aliases"]
    assert cfg.intersect.release.faces == ("A2E_val",) and cfg.intersect.release.voices is None
    assert Params().intersect.source == "voxceleb"  # the synthetic world and raw data: unchanged


def test_a_partial_kd_weights_mapping_keeps_the_other_defaults():
    params = params_from_dict({"kd": {"weights": {"pkt": 5}}})
    assert params.kd.weights["pkt"] == 5.0 and params.kd.weights["rkd"] == 1.0


def test_kd_methods_are_the_distillation_registry():
    from voice2mesh.config import KD_METHODS
    from voice2mesh.distill import REGISTRY

    assert tuple(REGISTRY) == KD_METHODS


def test_every_trainer_knob_is_in_the_repository_params_file():
    """Defaults live in the dataclasses; params.yaml lists every training knob explicitly."""
    import yaml

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = load_params(ROOT / "params.yaml")
    for section in ("pretrain_voice", "supervised", "supervised_ge2e", "teacher", "gan", "kd"):
        assert set(data[section]) == set(as_dict(getattr(params, section))), section
    assert set(data["ge2e"]) == set(as_dict(params.ge2e))
    assert params.ge2e == params_from_dict({}).ge2e  # the pin in params.yaml is the default


def test_train_seeds_run_from_seed_for_n_seeds():
    assert params_from_dict({"seed": 5, "n_seeds": 3}).train_seeds == (5, 6, 7)
    assert params_from_dict({"seed": 2, "n_seeds": 1}).train_seeds == (2,)
    assert Params().train_seeds == (0, 1, 2)  # the default: three seeds from 0
    assert load_params(ROOT / "params.yaml").n_seeds >= 1


def test_seeded_sections_write_one_file_per_seed_in_their_folders():
    params = params_from_dict(
        {"pretrain_voice": {"out": "m/enc", "resume_state": "r/enc"}, "kd": {"out": "m/kd"}}
    )
    assert params.pretrain_voice.model_path(4) == Path("m/enc/seed_4.pt")
    assert params.pretrain_voice.state_path(4) == Path("r/enc/seed_4.pt")
    assert params.supervised.model_path(0) == Path("models/supervised/seed_0.pt")
    assert params.supervised.state_path(1) == Path("models/resume/train_supervised/seed_1.pt")
    assert params.gan.model_path(2) == Path("models/gan_baseline/seed_2.pt")
    assert params.gan.state_path(2) == Path("models/resume/train_gan/seed_2.pt")
    assert params.supervised_ge2e.model_path(1) == Path("models/supervised_ge2e/seed_1.pt")
    assert params.supervised_ge2e.state_path(0) == Path(
        "models/resume/train_supervised_ge2e/seed_0.pt"
    )
    assert params.kd.model_path("rkd", 1) == Path("m/kd/rkd/seed_1.pt")
    assert params.kd.model_folder("rkd") == Path("m/kd/rkd")
    assert params.kd.state_path("rkd", 1) == Path("models/resume/kd_ablation/rkd/seed_1.pt")
    assert params.teacher.out == "models/teacher.pt"  # one pretrained expert, not seeded
    assert not hasattr(params.teacher, "model_path")


def test_triplets_need_two_voice_crops_unless_their_weight_is_zero():
    with pytest.raises(ConfigError, match=r"gan\.voice_crops.*triplet_weight"):
        params_from_dict({"gan": {"voice_crops": 1}})
    params = params_from_dict({"gan": {"voice_crops": 1}, "kd": {"triplet_weight": 0.0}})
    assert params.gan.voice_crops == 1


@pytest.mark.parametrize("section", ["pretrain_voice", "teacher", "gan", "kd"])
def test_a_distributed_batch_must_split_evenly_over_the_processes(section):
    data = {"distributed": {"nproc": 2}, section: {"batch_size": 33}}
    with pytest.raises(ConfigError, match=rf"{section}\.batch_size = 33.*nproc = 2"):
        params_from_dict(data, "params.yaml")
    params_from_dict(data | {section: {"batch_size": 32}}, "params.yaml")
