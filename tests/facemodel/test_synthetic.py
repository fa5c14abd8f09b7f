"""The procedural synthetic face model: determinism, bases, symmetry, anatomy, topology."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from voice2mesh.facemodel.model import PAIR_NAMES, REGION_NAMES
from voice2mesh.facemodel.synthetic import (
    EXPRESSION_COMPONENT_NAMES,
    SHAPE_COMPONENT_NAMES,
    build_synthetic_model,
    mirror_index,
)
from voice2mesh.facemodel.synthetic.landmarks import IBUG_MIRROR

FLIP = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def model():
    return build_synthetic_model()


@pytest.fixture(scope="module")
def mean(model):
    return np.asarray(model.mean, np.float64)


def _shape(model, name: str, sigmas: float) -> np.ndarray:
    """(N, 3) face with one named shape component at ``sigmas`` standard deviations."""
    k = SHAPE_COMPONENT_NAMES.index(name)
    alpha = np.zeros((1, model.n_shape))
    alpha[0, k] = sigmas * model.shape_std[k]
    return model.reconstruct(alpha)[0]


def _expression(model, name: str, sigmas: float) -> np.ndarray:
    k = EXPRESSION_COMPONENT_NAMES.index(name)
    beta = np.zeros((1, model.n_expression))
    beta[0, k] = sigmas * model.expression_std[k]
    return model.reconstruct(np.zeros((1, model.n_shape)), beta)[0]


def _oicd(model, v: np.ndarray) -> float:
    return float(np.linalg.norm(v[model.landmarks[36]] - v[model.landmarks[45]]))


def _zygomatic_width(model, v: np.ndarray) -> float:
    """x-extent of the face in a band at cheekbone height (the 'mid' pair's level)."""
    band = np.abs(v[:, 1] - v[model.pairs["mid"][0], 1]) < 6.0
    return float(np.ptp(v[band, 0]))


def _face_height(model, v: np.ndarray) -> float:
    return float(np.linalg.norm(v[model.landmarks[27]] - v[model.landmarks[8]]))


# ------------------------------------------------------------------ construction
def test_deterministic_and_cached(model):
    fresh = build_synthetic_model.__wrapped__()
    for name in (
        "mean",
        "shape_basis",
        "shape_std",
        "expression_basis",
        "expression_std",
        "triangles",
        "landmarks",
    ):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(model, name), err_msg=name)
    assert fresh.pairs == model.pairs
    for gender in ("male", "female"):
        np.testing.assert_array_equal(fresh.gender_shape[gender], model.gender_shape[gender])
    assert build_synthetic_model() is model
    with pytest.raises(ValueError, match="read-only"):  # the cached instance is shared
        model.shape_std[0] = 1.0


def test_sizes_and_names(model):
    assert model.name == "synthetic" and model.source is None and model.dense
    assert model.shape_names == SHAPE_COMPONENT_NAMES
    assert model.expression_names == EXPRESSION_COMPONENT_NAMES
    assert 5_000 <= model.n_vertices <= 15_000
    assert model.n_shape == len(SHAPE_COMPONENT_NAMES) == 40
    assert model.n_expression == len(EXPRESSION_COMPONENT_NAMES) == 10
    assert SHAPE_COMPONENT_NAMES[:8] == (
        "face_width",
        "face_length",
        "jaw_width",
        "chin",
        "forehead",
        "nose_size",
        "eye_spacing",
        "cheek_fullness",
    )
    assert EXPRESSION_COMPONENT_NAMES[0] == "jaw_open"
    assert model.mean.dtype == model.shape_basis.dtype == np.float32


def test_fewer_components_are_a_prefix(model):
    small = build_synthetic_model(n_shape=12, n_expression=4)
    np.testing.assert_allclose(small.shape_basis, model.shape_basis[:, :12], atol=1e-5)
    np.testing.assert_allclose(small.shape_std, model.shape_std[:12], rtol=1e-5)
    np.testing.assert_allclose(small.expression_basis, model.expression_basis[:, :4], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_shape": 0},
        {"n_shape": 41},
        {"n_expression": 11},
        {"resolution": 101},
        {"resolution": 20},
    ],
)
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match="must be"):
        build_synthetic_model(**kwargs)


def test_other_resolution_is_a_consistent_face():
    coarse = build_synthetic_model(resolution=60)
    assert coarse.n_vertices < build_synthetic_model().n_vertices
    assert 85.0 < _oicd(coarse, np.asarray(coarse.mean)) < 95.0


# ------------------------------------------------------------------------ bases
@pytest.mark.parametrize("which", ["shape", "expression"])
def test_bases_are_orthonormal(model, which):
    basis = getattr(model, f"{which}_basis").astype(np.float64)
    np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-4)


def test_shape_std_strictly_decreasing(model):
    std = model.shape_std
    assert np.all(std > 0) and np.all(np.diff(std) < 0)
    assert np.all(model.expression_std > 0)
    assert np.argmax(model.expression_std) == 0  # jaw opening moves the most


def test_components_are_smooth(model, mean):
    """Neighbouring vertices move alike: no component tears the surface (mouth seam aside)."""
    tri = model.triangles
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    length = np.linalg.norm(mean[edges[:, 0]] - mean[edges[:, 1]], axis=1)
    for k in range(model.n_shape):
        d = (model.shape_basis[:, k] * model.shape_std[k]).reshape(-1, 3)
        stretch = np.linalg.norm(d[edges[:, 0]] - d[edges[:, 1]], axis=1) / length
        assert np.percentile(stretch, 99.9) < 0.5, SHAPE_COMPONENT_NAMES[k]


# --------------------------------------------------------------------- symmetry
def test_mirror_index_maps_mean_onto_its_mirror(model, mean):
    mirror = mirror_index(model)
    np.testing.assert_array_equal(mirror[mirror], np.arange(model.n_vertices))
    np.testing.assert_allclose(mean[mirror], mean * FLIP, atol=1e-5)
    assert np.all(mean[mirror == np.arange(model.n_vertices), 0] == 0.0)


def test_mirror_index_rejects_asymmetric_meshes(model):
    skewed = dataclasses.replace(model, mean=_shape(model, "generic_1_1", 3.0))
    with pytest.raises(ValueError, match="not left-right symmetric"):
        mirror_index(skewed)


def test_landmarks_and_pairs_mirror(model, mean):
    mirror = mirror_index(model)
    np.testing.assert_array_equal(mirror[model.landmarks], model.landmarks[IBUG_MIRROR])
    assert set(model.pairs) == set(PAIR_NAMES)
    for name, (a, b) in model.pairs.items():
        assert mirror[a] == b, name
        assert mean[a, 0] < 0 < mean[b, 0], name
    assert model.pairs["oicd"] == (model.landmarks[36], model.landmarks[45])


def test_named_shape_components_are_symmetric_and_generic_odd_ones_not(model):
    mirror = mirror_index(model)
    basis = model.shape_basis.reshape(model.n_vertices, 3, -1)
    mirrored = basis[mirror] * FLIP[None, :, None]
    for k, name in enumerate(SHAPE_COMPONENT_NAMES):
        odd = name.startswith("generic_") and int(name.split("_")[1]) % 2 == 1
        np.testing.assert_allclose(
            mirrored[..., k], -basis[..., k] if odd else basis[..., k], atol=1e-6, err_msg=name
        )


# ---------------------------------------------------------------------- anatomy
def test_landmark_anatomy(model, mean):
    lm = mean[model.landmarks]  # (68, 3)
    assert model.landmarks[30] == np.argmax(mean[:, 2])  # nose tip is the most forward point
    assert np.argmin(lm[:, 1]) == 8  # chin is the lowest landmark
    assert lm[36, 1] > lm[48, 1] + 50 and lm[45, 1] > lm[54, 1] + 50  # eyes above mouth
    assert lm[36, 0] < lm[39, 0] < 0 < lm[42, 0] < lm[45, 0]  # outer and inner eye corners
    assert np.all(lm[17:27, 1] > lm[36:48, 1].max())  # brows above the eyes
    assert np.all(lm[[37, 38], 1] > lm[[41, 40], 1])  # upper lids above lower lids
    assert lm[27, 1] > lm[28, 1] > lm[29, 1] > lm[30, 1] > lm[33, 1] > lm[51, 1] > lm[57, 1]
    assert lm[57, 1] > lm[8, 1]
    assert lm[0, 0] < -60 and lm[16, 0] > 60  # the jaw contour starts at the sides
    assert np.all(np.diff(lm[0:9, 1]) < 0) and np.all(np.diff(lm[0:9, 0]) > 0)  # down to chin
    assert lm[62, 1] > lm[66, 1]  # inner upper lip above inner lower lip


def test_proportions(model, mean):
    assert 85.0 < _oicd(model, mean) < 95.0
    assert 130.0 < _zygomatic_width(model, mean) < 142.0
    assert 112.0 < _face_height(model, mean) < 128.0
    lm = mean[model.landmarks]
    beside_nose = (np.abs(np.abs(mean[:, 0]) - 35.0) < 3.0) & (np.abs(mean[:, 1] - lm[30, 1]) < 3)
    assert 18.0 < lm[30, 2] - mean[beside_nose, 2].max() < 27.0  # nose beyond the cheeks


def test_regions_cover_their_parts(model, mean):
    lm = mean[model.landmarks]
    assert set(model.regions) == set(REGION_NAMES)
    for name, ids in model.regions.items():
        assert len(ids) > 50, name
    nose = mean[model.regions["nose"]]
    assert nose[:, 0].min() < lm[31, 0] and nose[:, 0].max() > lm[35, 0]
    assert np.all(mean[model.regions["left_eye"], 0] < 0)
    assert np.all(mean[model.regions["right_cheek"], 0] > 0)


# ------------------------------------------------------------ component meaning
def test_face_width_component_widens_more_than_it_lengthens(model, mean):
    wide = _shape(model, "face_width", 2.0)
    grow = np.ptp(wide, axis=0) - np.ptp(mean, axis=0)
    assert grow[0] > 5.0 and grow[0] > 3 * abs(grow[1])


def test_face_length_component_lengthens_the_face(model, mean):
    assert _face_height(model, _shape(model, "face_length", 2.0)) > _face_height(model, mean) + 5


def test_jaw_width_component_widens_the_jaw_more_than_the_cheekbones(model, mean):
    v = _shape(model, "jaw_width", 2.0)
    lm, lm0 = v[model.landmarks], mean[model.landmarks]
    jaw_growth = np.linalg.norm(lm[4] - lm[12]) - np.linalg.norm(lm0[4] - lm0[12])
    assert jaw_growth > 3.0
    assert jaw_growth > 2 * (_zygomatic_width(model, v) - _zygomatic_width(model, mean))


def test_chin_component_moves_the_chin_forward(model, mean):
    chin = model.landmarks[8]
    assert _shape(model, "chin", 2.0)[chin, 2] > mean[chin, 2] + 3.0


def test_nose_size_component_moves_the_tip_forward(model, mean):
    tip = model.landmarks[30]
    v = _shape(model, "nose_size", 2.0)
    assert v[tip, 2] > mean[tip, 2] + 3.0
    assert np.argmax(v[:, 2]) == tip


def test_eye_spacing_component_separates_the_eyes(model, mean):
    assert _oicd(model, _shape(model, "eye_spacing", 2.0)) > _oicd(model, mean) + 3.0


def test_jaw_open_parts_the_lips(model, mean):
    gap0 = mean[model.landmarks[62], 1] - mean[model.landmarks[66], 1]
    v = _expression(model, "jaw_open", 2.0)
    gap = v[model.landmarks[62], 1] - v[model.landmarks[66], 1]
    assert gap > gap0 + 6.0
    assert v[model.landmarks[8], 1] < mean[model.landmarks[8], 1] - 5.0  # the chin drops
    np.testing.assert_allclose(v[model.landmarks[27]], mean[model.landmarks[27]], atol=0.5)


def test_eye_close_closes_the_eyes(model, mean):
    def opening(v):
        return (
            v[model.landmarks[[37, 38, 43, 44]], 1].mean()
            - v[model.landmarks[[41, 40, 47, 46]], 1].mean()
        )

    assert opening(_expression(model, "eye_close", 3.0)) < 0.3 * opening(mean)


def test_smile_raises_the_mouth_corners(model, mean):
    v = _expression(model, "smile", 2.0)
    corners = model.landmarks[[48, 54]]
    assert np.all(v[corners, 1] > mean[corners, 1] + 2.0)
    assert np.linalg.norm(v[corners[0]] - v[corners[1]]) > np.linalg.norm(
        mean[corners[0]] - mean[corners[1]]
    )


def test_male_mean_is_larger_than_female_mean(model):
    male, female = model.gender_shape["male"], model.gender_shape["female"]
    np.testing.assert_allclose(male, -female)
    sigmas = male[:3] / model.shape_std[:3]
    assert np.all((sigmas >= 0.9) & (sigmas <= 1.6))
    vm, vf = model.mean_vertices("male"), model.mean_vertices("female")
    assert _oicd(model, vm) > _oicd(model, vf)
    assert _zygomatic_width(model, vm) > _zygomatic_width(model, vf) + 5.0
    assert _face_height(model, vm) > _face_height(model, vf) + 4.0
    tip = model.landmarks[30]
    assert vm[tip, 2] > vf[tip, 2]


def test_reconstruct_numpy_and_torch_agree(model):
    alpha = np.linspace(-1, 1, model.n_shape)[None] * model.shape_std
    beta = np.linspace(1, -1, model.n_expression)[None] * model.expression_std
    a = model.reconstruct(alpha, beta)
    b = model.reconstruct(torch.tensor(alpha), torch.tensor(beta)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-3)


# --------------------------------------------------------------------- topology
def _edges(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique undirected edges (E, 2) and how many triangles use each (E,)."""
    e = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1
    )
    return np.unique(e, axis=0, return_counts=True)


def test_triangles_face_outwards(model, mean):
    a, b, c = (mean[model.triangles[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    centre = (a + b + c) / 3
    front = (np.abs(centre[:, 0]) < 40) & (centre[:, 1] > -95) & (centre[:, 2] > 60)
    assert np.mean(normal[front, 2] > 0) > 0.97
    outward = np.einsum("ij,ij->i", normal, centre - np.array([0.0, -20.0, 0.0]))
    assert np.mean(outward > 0) > 0.97


def test_no_degenerate_triangles_or_duplicate_vertices(model, mean):
    a, b, c = (mean[model.triangles[:, k]] for k in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    assert area.min() > 1e-3
    assert len(np.unique(model.triangles, axis=0)) == len(model.triangles)
    assert len(np.unique(np.round(mean, 4), axis=0)) == model.n_vertices
    assert np.array_equal(np.unique(model.triangles), np.arange(model.n_vertices))


def test_mesh_is_one_disc_without_holes(model, mean):
    """Connected, one boundary loop, Euler characteristic 1: a disc, so no holes in the face."""
    edges, count = _edges(model.triangles)
    assert count.max() <= 2  # manifold
    n = model.n_vertices
    assert n - len(edges) + len(model.triangles) == 1
    boundary = edges[count == 1]
    assert np.all(np.bincount(boundary.ravel(), minlength=n)[np.unique(boundary)] == 2)
    # Following the boundary from one vertex visits all boundary vertices: a single loop.
    nxt = {}
    for u, w in boundary:
        nxt.setdefault(u, []).append(w)
        nxt.setdefault(w, []).append(u)
    start = prev = boundary[0, 0]
    cur, steps = nxt[start][0], 1
    while cur != start:
        prev, cur = cur, next(w for w in nxt[cur] if w != prev)
        steps += 1
    assert steps == len(np.unique(boundary))
    # The border runs round the forehead, the sides of the head and under the jaw: far from
    # the nose tip (a hole at an eye or the mouth would be about 40 mm from it).
    border = mean[np.unique(boundary)]
    assert np.linalg.norm(border - mean[model.landmarks[30]], axis=1).min() > 75.0
