"""BFM loaders: 3DDFA v1 folder, 3DDFA-V2 pickle, 68-landmark subspace, and the paper's pairs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from voice2mesh.facemodel.bfm import (
    DEFAULT_EXPRESSION_STD,
    DEFAULT_SHAPE_STD,
    load_bfm,
    load_bfm68,
    load_bfm_mean,
)
from voice2mesh.facemodel.model import DenseBasisUnavailable
from voice2mesh.facemodel.semantics import BFM_PAIRS

UM = 1000.0  # 3DDFA stores micrometres


@pytest.fixture(scope="module")
def bfm68_dir(assets_dir: Path) -> Path:
    folder = assets_dir / "bfm68"
    if not (folder / "u_base.txt").is_file():
        pytest.skip(f"BFM 68-landmark reference files missing in {folder}")
    return folder


@pytest.fixture(scope="module")
def bfm68(bfm68_dir: Path):
    return load_bfm68(bfm68_dir)


@pytest.fixture(scope="module")
def bfm_mean(bfm68_dir: Path):
    return load_bfm_mean(bfm68_dir)


def _bases(n_vertices: int, n_shape: int = 40, n_exp: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Fake micrometre bases (3N, n_shape), (3N, n_exp) with 3DDFA-like magnitudes."""
    rng = np.random.default_rng(5)
    w_shp = rng.normal(scale=2e-3, size=(3 * n_vertices, n_shape)).astype(np.float32)
    w_exp = rng.normal(scale=1e3, size=(3 * n_vertices, n_exp)).astype(np.float32)
    return w_shp, w_exp


def _keypoints(landmarks: np.ndarray) -> np.ndarray:
    return (3 * landmarks[:, None] + np.arange(3)).reshape(-1)  # (204,)


# ------------------------------------------------------------------------ bfm68 (real files)
def test_bfm68_zero_coefficients_give_u_base(bfm68, bfm68_dir):
    u_base = np.loadtxt(bfm68_dir / "u_base.txt")
    out = bfm68.reconstruct(np.zeros((1, 40)), np.zeros((1, 10)), landmarks_only=True)
    np.testing.assert_allclose(out[0], u_base.reshape(68, 3) / UM, atol=1e-4)
    assert (bfm68.n_vertices, bfm68.n_shape, bfm68.n_expression) == (68, 40, 10)
    np.testing.assert_array_equal(bfm68.landmarks, np.arange(68))
    assert bfm68.triangles is None and not bfm68.dense
    assert bfm68.pairs == {"oicd": (36, 45)} and bfm68.regions == {}


def test_bfm68_random_coefficients_match_3ddfa_formula(bfm68, bfm68_dir):
    u_base, w_shp, w_exp = (
        np.loadtxt(bfm68_dir / name) for name in ("u_base.txt", "w_shp_base.txt", "w_exp_base.txt")
    )
    rng = np.random.default_rng(6)
    alpha = rng.normal(size=(3, 40)) * bfm68.shape_std
    beta = rng.normal(size=(3, 10)) * bfm68.expression_std
    expected = (u_base + alpha @ w_shp.T + beta @ w_exp.T).reshape(3, 68, 3) / UM
    out = bfm68.reconstruct(alpha, beta, landmarks_only=True)
    np.testing.assert_allclose(out, expected, atol=1e-3)
    assert np.abs(out - bfm68.mean).max() > 1.0, "one-sigma faces differ by millimetres"


def test_bfm68_dense_use_names_the_full_model_files(bfm68):
    with pytest.raises(DenseBasisUnavailable, match=r"bfm_noneck_v3\.pkl.*53,215"):
        bfm68.reconstruct(np.zeros((1, 40)))


def test_bfm68_std_from_3ddfa_v2_statistics(bfm68, assets_dir):
    np.testing.assert_allclose(bfm68.shape_std, DEFAULT_SHAPE_STD, rtol=1e-5)
    np.testing.assert_allclose(bfm68.expression_std, DEFAULT_EXPRESSION_STD, rtol=1e-5)
    stats = assets_dir / "tddfa" / "param_mean_std_62d_120x120.pkl"
    if stats.is_file():
        with stats.open("rb") as f:
            std = pickle.load(f)["std"]
        np.testing.assert_allclose(bfm68.shape_std, std[12:52], rtol=1e-6)
        np.testing.assert_allclose(bfm68.expression_std, std[52:], rtol=1e-6)


# ------------------------------------------------------------------ BFM mean (real files)
def test_real_v1_folder_without_dense_bases_is_refused(bfm68_dir):
    with pytest.raises(FileNotFoundError, match=r"w_shp_sim\.npy.*w_exp_sim\.npy.*bfm68"):
        load_bfm(bfm68_dir)


def test_bfm_mean_mesh(bfm_mean, bfm68):
    mean, triangles, landmarks = bfm_mean
    assert mean.shape == (53215, 3) and mean.dtype == np.float32
    assert triangles.shape == (105840, 3) and triangles.min() == 0 and triangles.max() == 53214
    np.testing.assert_allclose(mean[landmarks], bfm68.mean, atol=1e-4)
    a, b, c = (mean[triangles[:, k]].astype(np.float64) for k in range(3))
    normal_z = np.cross(b - a, c - a)[:, 2]
    assert (normal_z > 0).mean() > 0.75, "tri.mat is clockwise; the loader must flip it"


def test_paper_pairs_on_the_bfm_mean(bfm_mean):
    mean = bfm_mean[0]
    distance = {k: float(np.linalg.norm(mean[a] - mean[b])) for k, (a, b) in BFM_PAIRS.items()}
    assert distance["oicd"] == pytest.approx(94.0, abs=1.0)
    plausible = {"forehead": (100, 120), "cheek": (85, 105), "ear": (120, 145), "mid": (95, 115)}
    for name, (low, high) in plausible.items():
        assert low < distance[name] < high, (name, distance[name])


def test_derived_pairs_land_near_the_paper_pairs(bfm_mean):
    from voice2mesh.facemodel.semantics import derive_pairs

    mean, _, landmarks = bfm_mean
    derived = derive_pairs(mean, landmarks)
    for name, (a, b) in BFM_PAIRS.items():
        c, d = derived[name]
        if name == "oicd":  # 14607 is not the mirror image of 2217
            assert np.linalg.norm(mean[a] - mean[c]) < 1.0
            assert np.linalg.norm(mean[b] - mean[d]) > 10.0
            continue
        assert np.linalg.norm(mean[a] - mean[c]) < 6.0, name
        assert np.linalg.norm(mean[b] - mean[d]) < 6.0, name
        paper, ours = np.linalg.norm(mean[a] - mean[b]), np.linalg.norm(mean[c] - mean[d])
        assert ours == pytest.approx(paper, abs=2.0), name


def test_v1_folder_on_the_real_mean_agrees_with_bfm68(tmp_path, bfm68_dir, bfm68):
    # The real mean files (linked, not copied) + dense bases whose landmark rows are the real
    # bfm68 rows: the dense loader's landmarks must equal the landmark-only model's.
    for name in ("u_shp.npy", "u_exp.npy", "keypoints_sim.npy", "tri.mat", "param_std_v2.txt"):
        (tmp_path / name).symlink_to(bfm68_dir / name)
    keypoints = np.load(bfm68_dir / "keypoints_sim.npy")
    w_shp, w_exp = np.zeros((159645, 40), np.float32), np.zeros((159645, 10), np.float32)
    w_shp[keypoints] = np.loadtxt(bfm68_dir / "w_shp_base.txt")
    w_exp[keypoints] = np.loadtxt(bfm68_dir / "w_exp_base.txt")
    np.save(tmp_path / "w_shp_sim.npy", w_shp)
    np.save(tmp_path / "w_exp_sim.npy", w_exp)
    model = load_bfm(tmp_path)
    assert model.name == "bfm" and model.n_vertices == 53215 and model.pairs == BFM_PAIRS
    assert all(len(ids) > 500 for ids in model.regions.values())
    rng = np.random.default_rng(7)
    alpha, beta = rng.normal(size=(2, 40)) * model.shape_std, rng.normal(size=(2, 10))
    np.testing.assert_allclose(
        model.reconstruct(alpha, beta, landmarks_only=True),
        bfm68.reconstruct(alpha, beta, landmarks_only=True),
        atol=1e-3,
    )


# ---------------------------------------------------------------- 3DDFA v1 folder (tiny fake)
def _write_v1(folder: Path, tiny_face, w_shp: np.ndarray, w_exp: np.ndarray) -> None:
    u = tiny_face.mean.reshape(-1, 1).astype(np.float64) * UM
    np.save(folder / "u_shp.npy", (0.9 * u).astype(np.float32))  # u_shp + u_exp is the mean
    np.save(folder / "u_exp.npy", (0.1 * u).astype(np.float32))
    np.save(folder / "w_shp_sim.npy", w_shp)
    np.save(folder / "w_exp_sim.npy", w_exp)
    np.save(folder / "keypoints_sim.npy", _keypoints(tiny_face.landmarks))
    clockwise = tiny_face.triangles[:, [0, 2, 1]]  # as BFM's tri.mat: 3 x F, 1-based, clockwise
    scipy.io.savemat(folder / "tri.mat", {"tri": (clockwise + 1).T.astype(np.uint16)})


def test_v1_folder_units_layout_and_defaults(tmp_path, tiny_face):
    n = len(tiny_face.mean)
    w_shp, w_exp = _bases(n)
    _write_v1(tmp_path, tiny_face, w_shp, w_exp)
    model = load_bfm(tmp_path)
    np.testing.assert_allclose(model.mean, tiny_face.mean, atol=1e-4)
    np.testing.assert_allclose(model.shape_basis, w_shp / UM, rtol=1e-6)
    np.testing.assert_allclose(model.expression_basis, w_exp / UM, rtol=1e-6)
    np.testing.assert_array_equal(model.triangles, tiny_face.triangles)
    np.testing.assert_array_equal(model.landmarks, tiny_face.landmarks)
    np.testing.assert_array_equal(model.shape_std, DEFAULT_SHAPE_STD)  # no std file beside it
    np.testing.assert_array_equal(model.expression_std, DEFAULT_EXPRESSION_STD)
    # Not the 53,215-vertex mesh: pairs are derived, OICD on the outer eye corners.
    assert model.pairs["oicd"] == (tiny_face.landmarks[36], tiny_face.landmarks[45])
    assert set(model.pairs) == set(BFM_PAIRS)


def test_v1_folder_reads_a_std_file_beside_it(tmp_path, tiny_face):
    _write_v1(tmp_path, tiny_face, *_bases(len(tiny_face.mean)))
    std = np.arange(1.0, 63.0)
    np.savetxt(tmp_path / "param_std.txt", std)
    model = load_bfm(tmp_path)
    np.testing.assert_allclose(model.shape_std, std[12:52])
    np.testing.assert_allclose(model.expression_std, std[52:])
    np.savetxt(tmp_path / "param_std.txt", std[:60])
    with pytest.raises(ValueError, match="expected 62 positive std values"):
        load_bfm(tmp_path)


def test_v1_folder_errors(tmp_path, tiny_face):
    _write_v1(tmp_path, tiny_face, *_bases(len(tiny_face.mean), n_shape=30))
    with pytest.raises(ValueError, match="fewer than the 40 columns"):
        load_bfm(tmp_path)
    _write_v1(tmp_path, tiny_face, *_bases(len(tiny_face.mean)))
    np.save(tmp_path / "keypoints_sim.npy", np.arange(204) * 2)
    with pytest.raises(ValueError, match="not x, y, z row triples"):
        load_bfm(tmp_path)
    np.save(tmp_path / "keypoints_sim.npy", _keypoints(np.full(68, 10**5)))
    with pytest.raises(ValueError, match="outside the 525-vertex mean"):
        load_bfm(tmp_path)
    (tmp_path / "keypoints_sim.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"keypoints_sim\.npy"):
        load_bfm(tmp_path)


# ---------------------------------------------------------- 3DDFA-V2 pickle (tiny fake)
def _write_pkl(
    folder: Path, tiny_face, *, scale: float = UM, tri_file: bool = True, tri_key: bool = False
) -> Path:
    w_shp, w_exp = _bases(len(tiny_face.mean), n_shape=50, n_exp=12)  # V2 slices [:40], [:10]
    data = {
        "u": (tiny_face.mean.reshape(-1, 1) * scale).astype(np.float32),
        "w_shp": w_shp,
        "w_exp": w_exp,
        "keypoints": _keypoints(tiny_face.landmarks),
    }
    clockwise_t = tiny_face.triangles[:, [0, 2, 1]].T.astype(np.int32)  # (3, F), 0-based
    if tri_key:
        data["tri"] = clockwise_t
    with (folder / "bfm_noneck_v3.pkl").open("wb") as f:
        pickle.dump(data, f)
    if tri_file:
        with (folder / "tri.pkl").open("wb") as f:
            pickle.dump(clockwise_t, f)
    return folder / "bfm_noneck_v3.pkl"


@pytest.mark.parametrize(("tri_file", "tri_key"), [(True, False), (False, True), (True, True)])
def test_v2_pickle_units_keypoints_and_triangles(tmp_path, tiny_face, tri_file, tri_key):
    path = _write_pkl(tmp_path, tiny_face, tri_file=tri_file, tri_key=tri_key)
    std = {"mean": np.zeros(62, np.float32), "std": np.linspace(1.0, 62.0, 62).astype(np.float32)}
    with (tmp_path / "param_mean_std_62d_120x120.pkl").open("wb") as f:
        pickle.dump(std, f)
    model = load_bfm(path)
    with path.open("rb") as f:
        raw = pickle.load(f)
    np.testing.assert_allclose(model.mean, tiny_face.mean, atol=1e-4)
    np.testing.assert_allclose(model.shape_basis, raw["w_shp"][:, :40] / UM, rtol=1e-6)
    np.testing.assert_allclose(model.expression_basis, raw["w_exp"][:, :10] / UM, rtol=1e-6)
    np.testing.assert_array_equal(model.landmarks, tiny_face.landmarks)
    np.testing.assert_array_equal(model.triangles, tiny_face.triangles)
    np.testing.assert_allclose(model.shape_std, std["std"][12:52])
    assert model.source == path and model.dense


def test_v2_pickle_errors(tmp_path, tiny_face):
    path = _write_pkl(tmp_path, tiny_face, tri_file=False)
    with pytest.raises(FileNotFoundError, match=r"tri\.pkl"):
        load_bfm(path)
    path = _write_pkl(tmp_path, tiny_face, scale=1.0)  # already millimetres: wrong layout
    with pytest.raises(ValueError, match="expected ~90 mm"):
        load_bfm(path)
    with path.open("wb") as f:
        pickle.dump({"u": np.zeros((3, 1))}, f)
    with pytest.raises(ValueError, match=r"missing keys \['w_shp', 'w_exp', 'keypoints'\]"):
        load_bfm(path)


def test_v2_pickle_mirrored_model_is_refused(tmp_path, tiny_face):
    path = _write_pkl(tmp_path, tiny_face)
    with path.open("rb") as f:
        data = pickle.load(f)
    data["u"] = (data["u"].reshape(-1, 3) * [-1.0, 1.0, 1.0]).reshape(-1, 1)  # x to the left
    with path.open("wb") as f:
        pickle.dump(data, f)
    with pytest.raises(ValueError, match="ibug 37"):
        load_bfm(path)
