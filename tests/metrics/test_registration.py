"""Compiled ICP: the grid's nearest neighbours, the steps, and batching over references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from test_icp import grid_mesh, hills  # tests/metrics is on sys.path under pytest

from voice2mesh.metrics import IcpSettings, registered_part_rmse, registered_rmse
from voice2mesh.metrics.registration import (
    GridIndex,
    _point_to_plane_step,
    _point_to_point_step,
)


def surfaces() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    relief, _ = grid_mesh(41, hills)
    return {
        "relief": relief + rng.normal(scale=0.05, size=relief.shape),
        "plane": grid_mesh(21)[0],  # no z extent
        "line": np.stack([np.linspace(0, 30, 200), np.zeros(200), np.zeros(200)], axis=1),
        "point": np.array([[1.0, 2.0, 3.0]]),
        "cloud": rng.uniform(-50, 50, (3000, 3)),
    }


@pytest.mark.parametrize("name", list(surfaces()))
def test_grid_finds_the_kdtree_neighbours(name):
    points = surfaces()[name]
    rng = np.random.default_rng(1)
    centre, size = points.mean(axis=0), np.ptp(points, axis=0).max() + 1.0
    queries = np.concatenate(
        [
            points + rng.normal(scale=0.7, size=points.shape),  # near the surface
            centre + rng.normal(scale=size, size=(500, 3)),  # around and far outside the grid
        ]
    )
    found = GridIndex.build(points).query(queries)
    distance, _ = cKDTree(points).query(queries)
    np.testing.assert_array_equal(np.linalg.norm(points[found] - queries, axis=1), distance)


def test_grid_non_finite_queries():
    grid = GridIndex.build(surfaces()["relief"])
    found = grid.query(np.array([[np.nan, 0.0, 0.0], [np.inf, 1.0, 2.0], [0.0, 0.0, 1e300]]))
    assert found[0] == found[1] == 0 and 0 <= found[2] < len(grid.points)


def numpy_point_to_plane_step(p, q, n):
    """The step as numpy computes it (batched, one set here): the definition in ``icp.py``."""
    c = p.mean(axis=0)
    centred = p - c
    radius = np.sqrt(np.mean(np.sum(centred**2, axis=1)))
    J = np.concatenate([np.cross(centred, n) / radius, n], axis=1)  # (S, 6)
    r = np.einsum("sk,sk->s", q - p, n)
    x = np.linalg.pinv(J.T @ J, rcond=1e-10, hermitian=True) @ (J.T @ r)
    R = Rotation.from_rotvec(x[:3] / radius).as_matrix()
    return R, c + x[3:] - R @ c


@pytest.mark.parametrize("flat", [False, True])
def test_point_to_plane_step_equals_numpy(flat):
    rng = np.random.default_rng(2)
    p = rng.normal(size=(300, 3)) * 10
    n = np.tile([0.0, 0.0, 1.0], (300, 1)) if flat else rng.normal(size=(300, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    q = p + rng.normal(size=(300, 3))
    for got, want in zip(
        _point_to_plane_step(p, q, n), numpy_point_to_plane_step(p, q, n), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_point_to_point_step_recovers_a_rigid_motion():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(100, 3)) * 10
    rotation = Rotation.from_rotvec([0.1, -0.2, 0.3]).as_matrix()
    R, t = _point_to_point_step(p, p @ rotation.T + [1.0, 2.0, 3.0])
    np.testing.assert_allclose(R, rotation, atol=1e-12)
    np.testing.assert_allclose(t, [1.0, 2.0, 3.0], atol=1e-12)


def test_batched_over_references_equals_one_pair_at_a_time():
    ref, triangles = grid_mesh(51, hills)
    rng = np.random.default_rng(4)
    refs = np.stack([ref + 0.5 * np.sin(ref / (4.0 + k)) for k in range(3)])  # (R, N, 3)
    ref_index = np.array([2, 0, 1, 2, 0, 1])
    preds = refs[ref_index] + 0.4 * np.sin(ref[:, [1, 2, 0]] / rng.uniform(3, 8, (6, 1, 1)))
    preds[::2] += [0.5, -0.3, 0.2]  # some of them moved
    settings = IcpSettings(fit_samples=300, eval_samples=1000)
    regions = {"left": np.flatnonzero(ref[:, 0] < 0), "right": np.flatnonzero(ref[:, 0] >= 0)}
    batched = registered_rmse(preds, refs, triangles, ref_index=ref_index, settings=settings)
    parts = registered_part_rmse(
        preds, refs, triangles, regions, ref_index=ref_index, settings=settings
    )
    for b, r in enumerate(ref_index):
        alone = registered_rmse(preds[b : b + 1], refs[r], triangles, settings=settings)
        assert batched[b] == alone[0] > 0.05
        part = registered_part_rmse(
            preds[b : b + 1], refs[r], triangles, regions, settings=settings
        )
        for name in regions:
            assert parts[name][b] == part[name][0]
