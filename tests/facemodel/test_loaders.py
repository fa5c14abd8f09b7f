"""The face-model registry: every loader gives a valid MorphableModel; errors are clear."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from voice2mesh.facemodel.loaders import LOADERS, load_model
from voice2mesh.facemodel.model import MorphableModel


def _tiny_v2_pickle(folder: Path, tiny_face) -> Path:
    n = len(tiny_face.mean)
    rng = np.random.default_rng(8)
    data = {
        "u": tiny_face.mean.reshape(-1, 1) * 1000.0,
        "w_shp": rng.normal(scale=1e-3, size=(3 * n, 40)),
        "w_exp": rng.normal(scale=1e3, size=(3 * n, 10)),
        "keypoints": (3 * tiny_face.landmarks[:, None] + np.arange(3)).reshape(-1),
        "tri": tiny_face.triangles.T,
    }
    with (folder / "bfm_noneck_v3.pkl").open("wb") as f:
        pickle.dump(data, f)
    return folder / "bfm_noneck_v3.pkl"


@pytest.fixture()
def model_path(request, tmp_path, tiny_face):
    """The path each registry kind is tested with (None for synthetic)."""

    def assets(*parts: str) -> Path:
        path = request.getfixturevalue("assets_dir").joinpath(*parts)
        if not path.exists():
            pytest.skip(f"reference asset {path} missing")
        return path

    kind = request.param
    if kind == "synthetic":
        return None
    return {
        "sfm": lambda: assets("sfm", "sfm_shape_3448.npz"),
        "bfm": lambda: _tiny_v2_pickle(tmp_path, tiny_face),
        "bfm68": lambda: assets("bfm68"),
    }[kind]()


@pytest.mark.parametrize("model_path", sorted(LOADERS), indirect=True)
def test_every_loader_gives_a_valid_model(request, model_path):
    kind = request.node.callspec.params["model_path"]
    model = load_model(kind, model_path)
    assert isinstance(model, MorphableModel)
    assert model.mean.dtype == np.float32 and model.mean.shape[1] == 3
    assert model.shape_basis.dtype == np.float32 and model.expression_basis.dtype == np.float32
    assert (model.shape_std > 0).all() and (model.expression_std > 0).all()
    assert model.landmarks.shape == (68,) and model.landmarks.dtype == np.int64
    assert "oicd" in model.pairs
    a, b = model.pairs["oicd"]
    assert 50.0 < np.linalg.norm(model.mean[a] - model.mean[b]) < 150.0, "mm, face-sized"
    lms = model.reconstruct(np.zeros((2, model.n_shape)), landmarks_only=True)
    assert lms.shape == (2, 68, 3)
    if model.dense:
        assert model.triangles is not None and set(model.regions) >= {"nose", "mouth"}


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"bfm68.*sfm.*synthetic"):
        load_model("flame")


@pytest.mark.parametrize("kind", ["sfm", "bfm", "bfm68"])
def test_file_models_need_a_path(kind):
    with pytest.raises(ValueError, match=r"face_model\.path"):
        load_model(kind)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz"):
        load_model("sfm", tmp_path / "nowhere.npz")


def test_bad_option_lists_the_accepted_ones(tmp_path, tiny_face):
    path = _tiny_v2_pickle(tmp_path, tiny_face)
    with pytest.raises(TypeError, match=r"bad options \['n_shape'\].*\['param_std_path'\]"):
        load_model("bfm", path, n_shape=10)


def test_synthetic_reads_no_file(tmp_path):
    with pytest.raises(ValueError, match="reads no file"):
        load_model("synthetic", tmp_path)
