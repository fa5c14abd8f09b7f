"""Surrey Face Model loaders (.npz, eos .bin) against the real eos files and tiny fakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice2mesh.facemodel.sfm import load_ibug_mapping, load_sfm

N_MAPPED = 50  # 68 minus the jaw contour (16) and the inner mouth corners 61, 65


@pytest.fixture(scope="module")
def sfm_dir(assets_dir: Path) -> Path:
    folder = assets_dir / "sfm"
    if not (folder / "sfm_shape_3448.npz").is_file():
        pytest.skip(f"SFM reference files missing in {folder}")
    return folder


@pytest.fixture(scope="module")
def sfm(sfm_dir: Path):
    return load_sfm(sfm_dir / "sfm_shape_3448.npz")


def _obj_vertices(path: Path) -> np.ndarray:
    """(V, 3) vertex positions of a Wavefront OBJ."""
    lines = path.read_text().splitlines()
    return np.array(
        [[float(v) for v in line.split()[1:4]] for line in lines if line.startswith("v ")]
    )


def test_npz_sizes_and_conventions(sfm, sfm_dir):
    assert (sfm.n_vertices, sfm.n_shape, sfm.n_expression) == (3448, 63, 6)
    assert sfm.triangles.shape == (6736, 3) and sfm.triangles.dtype == np.int64
    assert sfm.expression_names == ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    np.testing.assert_array_equal(sfm.shape_std, 1.0)
    np.testing.assert_array_equal(sfm.expression_std, 1.0)
    with np.load(sfm_dir / "sfm_shape_3448.npz") as raw:
        np.testing.assert_array_equal(sfm.mean.reshape(-1), raw["mean"])
        rescaled = raw["orthonormal_basis"] * np.sqrt(raw["eigenvalues"])
        np.testing.assert_allclose(sfm.shape_basis, rescaled, rtol=1e-6, atol=1e-6)
        # One unit coefficient moves the face by sqrt(eigenvalue) mm (RMS over all coords x 3N).
        norms = np.linalg.norm(sfm.shape_basis, axis=0)
        np.testing.assert_allclose(norms, np.sqrt(raw["eigenvalues"]), rtol=1e-4)
        np.testing.assert_array_equal(sfm.expression_basis, raw["expression_blendshapes"])


def test_npz_units_and_axes(sfm):
    lm = sfm.mean[sfm.landmarks[[36, 45, 8, 30, 19]]]  # eye corners, chin, nose tip, brow
    oicd = np.linalg.norm(lm[0] - lm[1])
    assert 85.0 < oicd < 100.0, "millimetres: outer eye corners ~92 mm apart"
    assert lm[0, 0] < 0 < lm[1, 0], "x to the image-right: ibug 37 has negative x"
    assert lm[4, 1] > lm[0, 1] > lm[3, 1] > lm[2, 1], "y up: brow > eye > nose tip > chin"
    assert lm[3, 2] > lm[0, 2] + 20 and lm[3, 2] == pytest.approx(sfm.mean[:, 2].max(), abs=2)


def test_triangles_face_the_camera(sfm):
    a, b, c = (sfm.mean[sfm.triangles[:, k]].astype(np.float64) for k in range(3))
    normal_z = np.cross(b - a, c - a)[:, 2]
    assert normal_z.sum() > 0 and (normal_z > 0).mean() > 0.9


def test_mean_matches_the_reference_mesh(sfm, sfm_dir):
    # sfm_reference.obj is the 845-vertex reference mesh the model was registered to; the 3,448-
    # vertex model keeps those vertices first, and its mean (of the registered scans) lies within
    # a few mm of them. Exact equality is not expected (median 1.3 mm, max 5.1 mm).
    reference = _obj_vertices(sfm_dir / "sfm_reference.obj")
    assert reference.shape == (845, 3)
    distance = np.linalg.norm(sfm.mean[:845] - reference, axis=1)
    assert np.median(distance) < 2.0 and distance.max() < 6.0
    # ... and not merely some face: a shuffled correspondence is far worse.
    assert np.median(np.linalg.norm(sfm.mean[845:1690] - reference, axis=1)) > 20.0


def test_ibug_mapping(sfm, sfm_dir):
    assert int(sfm.landmark_valid.sum()) == N_MAPPED
    unmapped = np.flatnonzero(~sfm.landmark_valid) + 1  # 1-based ibug numbers
    assert unmapped.tolist() == [*range(1, 9), *range(10, 18), 61, 65]
    assert sfm.landmarks[8] == 33 and sfm.landmarks[36] == 177 and sfm.landmarks[45] == 610
    # Ids above the vertex count (the 845-vertex resolution) count as unmapped.
    small = load_ibug_mapping(sfm_dir / "ibug_to_sfm.txt", 845)
    assert (small[sfm.landmarks >= 845] == -1).all() and (sfm.landmarks >= 845).sum() > 0


def test_pairs_and_regions_are_plausible(sfm):
    distances = {k: float(v[0]) for k, v in sfm.pair_distances(sfm.mean[None]).items()}
    assert set(distances) == {"oicd", "ear", "forehead", "mid", "cheek"}
    assert 85 < distances["oicd"] < 100 and 120 < distances["ear"] < 150
    for name in ("forehead", "mid", "cheek"):
        assert 80 < distances[name] < 125, (name, distances[name])
    assert all(len(ids) > 50 for ids in sfm.regions.values())
    left, right = sfm.mean[sfm.regions["left_eye"]], sfm.mean[sfm.regions["right_eye"]]
    assert left[:, 0].max() < 0 < right[:, 0].min()


def test_bin_matches_npz(sfm, sfm_dir):
    pytest.importorskip("eos", reason="eos-py not installed (optional extra voice2mesh[eos])")
    from_bin = load_sfm(sfm_dir / "sfm_shape_3448.bin")
    np.testing.assert_array_equal(from_bin.mean, sfm.mean)
    np.testing.assert_allclose(from_bin.shape_basis, sfm.shape_basis, atol=1e-5)
    np.testing.assert_array_equal(from_bin.expression_basis, sfm.expression_basis)
    np.testing.assert_array_equal(from_bin.triangles, sfm.triangles)
    np.testing.assert_array_equal(from_bin.landmarks, sfm.landmarks)
    assert from_bin.expression_names == sfm.expression_names


def test_bin_without_eos_says_how_to_install(sfm_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "eos", None)  # makes `import eos` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'voice2mesh\[eos\]'.*\.npz"):
        load_sfm(sfm_dir / "sfm_shape_3448.bin")


def _write_tiny_npz(tmp_path: Path, tiny_face, **overrides) -> Path:
    rng = np.random.default_rng(0)
    n = len(tiny_face.mean)
    q, _ = np.linalg.qr(rng.normal(size=(3 * n, 5)))
    arrays = {
        "mean": tiny_face.mean.reshape(-1),
        "orthonormal_basis": q.astype(np.float32),
        "eigenvalues": np.array([400.0, 100.0, 25.0, 4.0, 1.0], np.float32),
        "triangles": tiny_face.triangles.astype(np.int32),
        "expression_blendshapes": rng.normal(size=(3 * n, 2)).astype(np.float32),
        "expression_names": np.array(["smile", "frown"]),
    }
    arrays.update(overrides)
    np.savez(tmp_path / "tiny.npz", **arrays)
    mapping = ["[landmark_mappings]"]
    mapping += [f"{i + 1} = {v}" for i, v in enumerate(tiny_face.landmarks) if i not in (0, 60)]
    (tmp_path / "ibug_to_sfm.txt").write_text("\n".join(mapping) + "\n")
    return tmp_path / "tiny.npz"


def test_tiny_npz_coefficients_are_in_sigma_units(tmp_path, tiny_face):
    model = load_sfm(_write_tiny_npz(tmp_path, tiny_face))
    # A one-sigma step along component k moves the face by sqrt(eigenvalue_k) (Euclidean, 3N).
    for k, sigma in enumerate([20.0, 10.0, 5.0, 2.0, 1.0]):
        alpha = np.zeros((1, 5))
        alpha[0, k] = 1.0
        offset = model.reconstruct(alpha)[0] - model.mean
        assert np.linalg.norm(offset) == pytest.approx(sigma, rel=1e-5)
    assert model.landmarks[0] == -1 and model.landmarks[60] == -1
    assert model.expression_names == ("smile", "frown")


def test_tiny_npz_errors(tmp_path, tiny_face):
    path = _write_tiny_npz(tmp_path, tiny_face)
    with pytest.raises(ValueError, match="carries its own expression_blendshapes"):
        load_sfm(path, expression_path=tmp_path / "x.bin")
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        load_sfm(path, landmarks_path=tmp_path / "missing.txt")
    (tmp_path / "model.ply").write_text("")
    with pytest.raises(ValueError, match=r"expected \.npz or \.bin"):
        load_sfm(tmp_path / "model.ply")
    (tmp_path / "bad_map.txt").write_text("[landmark_mappings]\n70 = 3\n")
    with pytest.raises(ValueError, match="bad mapping 70 = 3"):
        load_sfm(path, landmarks_path=tmp_path / "bad_map.txt")
    (tmp_path / "not_toml.txt").write_text("1 = = 2\n")
    with pytest.raises(ValueError, match=r"not an eos landmark mapping"):
        load_sfm(path, landmarks_path=tmp_path / "not_toml.txt")
    path = _write_tiny_npz(tmp_path, tiny_face, eigenvalues=-np.ones(5, np.float32))
    with pytest.raises(ValueError, match="negative eigenvalues"):
        load_sfm(path)
