"""Point-to-plane RMSE after ICP: normals, hand-computed planes, rigid invariance, parts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from voice2mesh.facemodel.bfm import load_bfm_mean
from voice2mesh.facemodel.model import DenseBasisUnavailable, MorphableModel
from voice2mesh.facemodel.semantics import derive_regions
from voice2mesh.metrics import (
    IcpSettings,
    icp_rmse,
    part_rmse,
    registered_part_rmse,
    registered_rmse,
    vertex_normals,
)
from voice2mesh.metrics.icp import stratified_ids

ALL = IcpSettings(fit_samples=None, eval_samples=None)  # every vertex: exact small-mesh values
NO_ICP = IcpSettings(iterations=0, fit_samples=None, eval_samples=None)


def grid_mesh(n: int, height=None) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid with 1 mm spacing centred on the origin, z = height(x, y) (default 0).

    Returns:
        vertices (n*n, 3) float64 (vertex ``row * n + column``), triangles (F, 3) CCW from +z.
    """
    c = np.arange(n) - (n - 1) / 2
    x, y = np.meshgrid(c, c)
    z = np.zeros_like(x) if height is None else height(x, y)
    vertices = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    v = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).reshape(-1)
    triangles = np.concatenate(
        [np.stack([v, v + 1, v + n], 1), np.stack([v + 1, v + n + 1, v + n], 1)]
    )
    return vertices, triangles


def hills(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """An asymmetric relief (mm) that fixes all six rigid degrees of freedom."""
    return 12 * np.exp(-((x - 5) ** 2 + y**2) / 200) + 6 * np.exp(
        -((x + 8) ** 2 + (y - 9) ** 2) / 60
    )


def rigidly_moved(points: np.ndarray, degrees: float = 3.0) -> np.ndarray:
    rotation = Rotation.from_rotvec(np.deg2rad(degrees) * np.array([0.6, -0.48, 0.64]))
    shift = np.array([1.0, -2.0, 1.5])
    return rotation.apply(points.reshape(-1, 3)).reshape(points.shape) + shift


def test_vertex_normals_are_area_weighted():
    vertices = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [-1, 0, 1], [5, 5, 5]], float)
    triangles = np.array([[0, 1, 2], [0, 2, 3]])  # cross products (0, 0, 4) and (2, 0, 2)
    normals = vertex_normals(vertices, triangles)
    np.testing.assert_allclose(normals[0], np.array([2, 0, 6]) / np.sqrt(40))
    np.testing.assert_allclose(normals[1], [0, 0, 1])
    np.testing.assert_allclose(normals[3], np.array([1, 0, 1]) / np.sqrt(2))
    np.testing.assert_array_equal(normals[4], 0.0)  # on no triangle


def test_plane_offset_along_its_normal():
    ref, triangles = grid_mesh(21)
    pred = ref + np.array([0.3, -0.2, 0.7])  # in-plane offsets do not count point-to-plane
    assert registered_rmse(pred[None], ref, triangles, settings=NO_ICP)[0] == pytest.approx(0.7)
    assert registered_rmse(pred[None], ref, triangles, settings=ALL)[0] < 1e-9


def test_bumped_plane_hand_values():
    ref, triangles = grid_mesh(41)
    pred = ref.copy()
    rows, cols = np.divmod(np.arange(len(ref)), 41)
    bump = (abs(rows - 20) <= 1) & (abs(cols - 20) <= 1)  # 3 x 3 vertices in the middle
    pred[bump, 2] += 2.0
    p = 9 / len(ref)
    before = registered_rmse(pred[None], ref, triangles, settings=NO_ICP)[0]
    assert before == pytest.approx(2.0 * np.sqrt(p))
    # ICP lowers the plane by the mean height 2p; nothing tilts (the bump is centred).
    after = registered_rmse(pred[None], ref, triangles, settings=ALL)[0]
    assert after == pytest.approx(2.0 * np.sqrt(p * (1 - p)), rel=1e-6)


@pytest.mark.parametrize("warmup", [0, 3])
def test_rigid_copy_registers_to_zero(warmup):
    ref, triangles = grid_mesh(61, hills)
    moved = rigidly_moved(ref)[None]
    assert registered_rmse(moved, ref, triangles, settings=NO_ICP)[0] > 0.5
    settings = IcpSettings(warmup=warmup, fit_samples=None, eval_samples=None)
    assert registered_rmse(moved, ref, triangles, settings=settings)[0] < 1e-6
    assert registered_rmse(ref[None], ref, triangles)[0] == 0.0


def test_invariant_to_rigid_motion_of_the_prediction():
    ref, triangles = grid_mesh(61, hills)
    pred = ref + 0.8 * np.sin(ref[:, [1, 2, 0]] / 7.0)  # smooth deformation
    both = np.stack([pred, rigidly_moved(pred)])
    base, moved = registered_rmse(both, ref, triangles, settings=ALL)
    assert base > 0.1
    assert moved == pytest.approx(base, rel=2e-3)


def test_ref_index_groups_predictions_by_reference():
    ref, triangles = grid_mesh(31, hills)
    refs = np.stack([ref, ref + 0.5 * np.sin(ref / 5.0)])
    preds = np.stack([ref + 0.3 * np.cos(ref / 4.0), refs[1], refs[0]])
    out = registered_rmse(preds, refs, triangles, ref_index=[1, 1, 0], settings=ALL)
    alone = registered_rmse(preds[:1], refs[1], triangles, settings=ALL)
    assert out[0] == pytest.approx(alone[0])
    assert out[1] == out[2] == 0.0


def test_vertices_on_no_triangle_are_not_measured():
    ref, triangles = grid_mesh(11)
    ref = np.concatenate([ref, [[0.0, 0.0, 50.0]]])  # a stray vertex on no triangle
    pred = ref.copy()
    pred[-1] += 10.0
    assert registered_rmse(pred[None], ref, triangles, settings=NO_ICP)[0] == 0.0


def test_stratified_ids_spread_over_space():
    ref, _ = grid_mesh(64)
    (ids,) = stratified_ids(ref, 256)
    assert len(ids) == 256 and np.all(np.diff(ids) > 0)
    blocks = np.bincount(((ref[ids, 0] + 32) // 16 * 4 + (ref[ids, 1] + 32) // 16).astype(int))
    np.testing.assert_array_equal(blocks, 16)  # every 16 x 16 block gets its share
    all_ids, capped = stratified_ids(ref, None, 10**6)
    np.testing.assert_array_equal(all_ids, np.arange(len(ref)))
    np.testing.assert_array_equal(capped, np.arange(len(ref)))


def test_parts_register_locally():
    ref, triangles = grid_mesh(41)
    columns = np.arange(len(ref)) % 41
    regions = {"left": np.flatnonzero(columns <= 20), "right": np.flatnonzero(columns > 20)}
    pred = ref.copy()
    rows = np.arange(len(ref)) // 41
    bump = (abs(rows - 20) <= 1) & (abs(columns - 10) <= 1)  # centred in the left half
    pred[bump, 2] += 2.0
    moved = rigidly_moved(pred, degrees=0.0)  # a translation: undone by each local ICP
    out = registered_part_rmse(moved[None], ref, triangles, regions, settings=ALL)
    p = 9 / len(regions["left"])
    assert out["left"][0] == pytest.approx(2.0 * np.sqrt(p * (1 - p)), rel=1e-6)
    assert out["right"][0] < 1e-9


def test_settings_are_checked():
    with pytest.raises(ValueError, match="iterations"):
        IcpSettings(iterations=-1)
    with pytest.raises(ValueError, match="fit_samples"):
        IcpSettings(fit_samples=0)
    with pytest.raises(ValueError, match="tolerance"):
        IcpSettings(tolerance=0.0)


def make_model(mean, triangles, landmarks, *, regions=None) -> MorphableModel:
    """A basis-free model around ``mean`` (N, 3); the metrics read only its mesh and semantics."""
    return MorphableModel.without_basis(
        "test", mean, triangles=triangles, landmarks=landmarks, regions=regions
    )


def test_landmark_only_models_raise():
    model = make_model(np.zeros((68, 3), np.float32), None, np.arange(68))
    pred = np.zeros((1, 68, 3))
    with pytest.raises(DenseBasisUnavailable, match="dense face mesh"):
        icp_rmse(model, pred, model.mean)
    with pytest.raises(DenseBasisUnavailable, match="dense face mesh"):
        part_rmse(model, pred, model.mean)


@pytest.fixture(scope="module")
def bfm(assets_dir) -> MorphableModel:
    mean, triangles, landmarks = load_bfm_mean(assets_dir / "bfm68")
    return make_model(mean, triangles, landmarks, regions=derive_regions(mean, landmarks))


def smooth(mean: np.ndarray, amplitude: float, seed: int) -> np.ndarray:
    """The mean (N, 3) displaced by a random smooth field of about ``amplitude`` mm."""
    rng = np.random.default_rng(seed)
    freq, phase = rng.normal(size=(3, 3)) / 60.0, rng.uniform(0, 2 * np.pi, 3)
    return (mean + amplitude * np.sin(mean @ freq + phase)).astype(np.float32)


def test_bfm_whole_mesh(bfm):
    mean = bfm.mean
    preds = np.stack([mean, smooth(mean, 2.0, 0), smooth(mean, 2.0, 1)])
    preds = np.concatenate([preds, rigidly_moved(preds[1:])]).astype(np.float32)
    out = icp_rmse(bfm, preds, mean)
    assert out[0] == 0.0
    assert 0.3 < out[1] < 3.0 and 0.3 < out[2] < 3.0
    np.testing.assert_allclose(out[3:], out[1:3], rtol=1e-3)
    exact = icp_rmse(bfm, preds[1:3], mean, settings=ALL)
    np.testing.assert_allclose(out[1:3], exact, rtol=0.02)  # the default samples suffice


def test_bfm_parts(bfm):
    mean = bfm.mean
    nose_tip = mean[bfm.landmarks[30]]
    weight = np.exp(-np.sum((mean - nose_tip) ** 2, axis=1) / (2 * 4.0**2))  # sigma 4 mm
    bumped = mean + np.outer(weight, [0.0, 0.0, 2.0]).astype(np.float32)
    preds = np.stack([mean, bumped, rigidly_moved(bumped, degrees=2.0)]).astype(np.float32)
    out = part_rmse(bfm, preds, mean)
    assert list(out) == ["left_eye", "right_eye", "nose", "mouth", "left_cheek", "right_cheek"]
    for name, values in out.items():
        assert values[0] == 0.0, name
        assert values[2] == pytest.approx(values[1], rel=1e-2, abs=1e-3), name
    assert out["nose"][1] > 0.1
    for name in ("left_eye", "right_eye", "mouth", "left_cheek", "right_cheek"):
        assert out[name][1] < 1e-3, name
