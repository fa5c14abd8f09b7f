"""Point-to-plane RMSE after rigid ICP registration (the paper's Table 3).

Wu et al., "Cross-Modal Perceptionist", CVPR 2022, Sec. 5: each prediction is rigidly
registered to its reference with ICP, then the root mean square of the point-to-plane
distances of the prediction's vertices to the reference surface is reported (mm).

Definitions used here:

* Reference surface: the reference vertices that belong to a triangle, each with its
  area-weighted vertex normal (the sum of the unnormalised cross products of its triangles).
  Prediction vertices on no triangle are not measured either.
* Correspondence of a point: its nearest reference vertex (exact; ``registration.GridIndex``).
* Point-to-plane distance of a point ``p`` with nearest reference vertex ``q`` and normal ``n``:
  ``|(p - q) . n|``.
* ICP: ``warmup`` point-to-point steps (Kabsch on the nearest-vertex pairs), then at most
  ``iterations`` point-to-plane steps: the linearised problem (Low, 2004)
  ``min sum(((p - c) x n . w + n . t + (p - q) . n)^2)`` over a small rotation ``w`` about the
  points' centroid ``c`` and a translation ``t``, solved as a 6 x 6 system by pseudo-inverse
  (so directions a surface does not constrain, e.g. sliding along a plane, are left unmoved)
  and applied as an exact rotation (Rodrigues). A prediction stops when the RMS point-to-plane
  residual at its fresh correspondences improved by less than the relative ``tolerance`` since
  the last step (nearest-vertex correspondences make ICP end in tiny limit cycles, so a bound
  on the step size would not stop it). No outlier rejection, no scaling.
* Sampling: registration uses ``fit_samples`` prediction vertices and the RMSE is taken over
  ``eval_samples`` vertices, each a subset spread evenly over the reference (``stratified_ids``,
  the same vertex ids for all predictions of a reference); ``None`` means all vertices. A
  nearest-vertex query costs a third of a microsecond per point, so 903 predictions x 53,215
  vertices would take about 15 s per ICP step; a rigid motion is fixed by a thousand points,
  and 5,000 evenly spread vertices give the RMSE over all vertices to within about 1 % (BFM,
  smooth synthetic deformations of 2 mm).

Per reference, its surface (normals, grid index) is built once and serves all its
predictions; the ICP loop runs compiled (``registration.py``), and references are spread over
``THREADS`` threads. Results do not depend on the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.metrics import registration
from voice2mesh.metrics.are import match_references
from voice2mesh.metrics.registration import GridIndex


@dataclass(frozen=True)
class IcpSettings:
    """How ICP registers and which vertices it measures (defaults: Table 3's whole mesh)."""

    iterations: int = 30  # point-to-plane steps at most; 0 (and warmup 0): no registration
    warmup: int = 0  # point-to-point steps first (for offsets of more than a few mm / degrees)
    tolerance: float = 1e-3  # stop once a step improves the RMS residual by less (relative)
    fit_samples: int | None = 1000  # prediction vertices driving the registration; None: all
    eval_samples: int | None = 5000  # prediction vertices the RMSE is taken over; None: all

    def __post_init__(self) -> None:
        counts = {"fit_samples": self.fit_samples, "eval_samples": self.eval_samples}
        bad = [f"{k}={v}" for k, v in counts.items() if v is not None and v < 1]
        if self.iterations < 0 or self.warmup < 0:
            bad.append(f"iterations={self.iterations}, warmup={self.warmup} (must be >= 0)")
        if not 0 < self.tolerance < 1:
            bad.append(f"tolerance={self.tolerance} (must be in (0, 1))")
        if bad:
            raise ValueError(f"invalid IcpSettings: {'; '.join(bad)}")


@dataclass(frozen=True)
class Surface:
    """Reference vertices, indexed for nearest-vertex queries, with their unit normals.

    Attributes:
        grid: exact nearest-neighbour index over the (M, 3) float64 vertices.
        normals: (M, 3) float64 unit normal of each vertex, in the order of ``grid.points``.
        row_of: (N,) int64 grid row of each mesh vertex id, -1 for those not on the surface
            (a prediction's vertex starts its search at its reference vertex's row).
    """

    grid: GridIndex
    normals: np.ndarray
    row_of: np.ndarray

    @classmethod
    def build(cls, vertices, normals: np.ndarray, ids: np.ndarray | None = None) -> Surface:
        """The surface of ``vertices[ids]`` (default: all) that lie on a triangle."""
        ids = np.arange(len(vertices)) if ids is None else np.asarray(ids)
        normals = np.take(normals, ids, axis=0)
        on_surface = np.einsum("mk,mk->m", normals, normals) > 0
        if not on_surface.any():
            raise ValueError("the reference surface is empty: no vertex lies on a triangle")
        kept = ids[on_surface]
        grid = GridIndex.build(np.take(np.asarray(vertices, np.float64), kept, axis=0))
        row_of = np.full(len(vertices), -1, np.int64)
        row_of[kept[grid.ids]] = np.arange(len(grid.ids))
        return cls(grid, np.ascontiguousarray(normals[on_surface][grid.ids]), row_of)

    def rmse(self, points: np.ndarray, ids: np.ndarray, R: np.ndarray, t: np.ndarray):
        """(B,) RMS point-to-plane distance to this surface of the vertices ``ids`` (E,) of
        meshes (B, E, 3), moved by R (B, 3, 3) and t (B, 3)."""
        return registration.rmse(
            _rows(points), self.row_of[ids], R, t, self.grid.arrays(), self.normals
        )


def vertex_normals(vertices, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3) float64; zero for vertices on no triangle.

    Args:
        vertices: (N, 3) mesh vertices.
        triangles: (F, 3) vertex ids, counter-clockwise seen from the outside.
    """
    v = np.ascontiguousarray(vertices, np.float64)
    triangles = np.ascontiguousarray(triangles, np.int64)
    if len(triangles) and not 0 <= triangles.min() <= triangles.max() < len(v):
        raise ValueError(f"triangles index vertices outside [0, {len(v)})")
    normals = _accumulate_normals(v, triangles)  # (N, 3)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


@njit(cache=True, nogil=True)
def _accumulate_normals(v: np.ndarray, triangles: np.ndarray) -> np.ndarray:  # pragma: no cover
    """(N, 3) sums of the cross products (twice the areas) of each vertex's triangles."""
    normals = np.zeros_like(v)
    for f in range(len(triangles)):
        a, b, c = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        ux, uy, uz = v[b, 0] - v[a, 0], v[b, 1] - v[a, 1], v[b, 2] - v[a, 2]
        wx, wy, wz = v[c, 0] - v[a, 0], v[c, 1] - v[a, 1], v[c, 2] - v[a, 2]
        nx, ny, nz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
        for k in range(3):
            i = triangles[f, k]
            normals[i, 0] += nx
            normals[i, 1] += ny
            normals[i, 2] += nz
    return normals


def rigid_icp(
    points: np.ndarray, ids: np.ndarray, surface: Surface, settings: IcpSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid transforms registering each point set to ``surface`` (the loop described above).

    Args:
        points: (B, S, 3) point sets: the vertices ``ids`` (S,) of B meshes.
        ids: (S,) their mesh vertex ids.
        surface: the reference surface.
        settings: iterations, warm-up and tolerance.

    Returns:
        R (B, 3, 3) and t (B, 3) with ``points @ R.T + t`` registered.
    """
    return registration.icp(
        _rows(points),
        surface.row_of[ids],
        surface.grid.arrays(),
        surface.normals,
        settings.warmup,
        settings.iterations,
        settings.tolerance,
    )


def _rows(points: np.ndarray) -> np.ndarray:
    """(B, S, 3) points as a C-contiguous float64 array (what the compiled loops take)."""
    return np.ascontiguousarray(points, np.float64)


THREADS = min(4, os.cpu_count() or 1)  # threads over references

# _SPREAD[x] puts bit i of a 10-bit x at bit 3i (Morton interleaving by table look-up).
_SPREAD = np.zeros(1024, np.int64)
for _bit in range(10):
    _SPREAD |= ((np.arange(1024) >> _bit) & 1) << (3 * _bit)


def stratified_ids(points: np.ndarray, *counts: int | None) -> list[np.ndarray]:
    """Sorted ids of ``count`` of the (M, 3) points, spread evenly over space, for each count.

    The points are ordered along a Morton (Z-order) curve through their bounding box and taken
    at even steps along it: a stratified sample, whose mean square distance estimates the mean
    over all points far better than a random subset of the same size. ``None`` (or a count of
    at least M) gives all ids.
    """
    points = np.asarray(points)
    lo, hi = registration.bounds(np.ascontiguousarray(points, np.float64))
    lo, hi = lo.astype(points.dtype), hi.astype(points.dtype)  # exact: both are coordinates
    span = hi - lo
    cells = ((points - lo) / np.where(span > 0, span, 1.0) * 1023).astype(np.int64)  # (M, 3)
    code = _SPREAD[cells[:, 0]] | (_SPREAD[cells[:, 1]] << 1) | (_SPREAD[cells[:, 2]] << 2)
    m = len(points)
    # A stable argsort of the 30-bit codes, as one plain sort of (code, id) packed in an int64
    # (several times faster: numpy sorts plain int64 arrays with SIMD).
    order = np.sort(code * m + np.arange(m)) % m  # (M,)
    return [
        np.arange(m)
        if c is None or c >= m
        else np.sort(order[(2 * np.arange(c) + 1) * m // (2 * c)])
        for c in counts
    ]


def register_and_measure(
    pred: np.ndarray, ref: np.ndarray, surface: Surface, ids: np.ndarray, settings: IcpSettings
) -> np.ndarray:
    """(b,) RMSE over the vertices ``ids`` of predictions (b, N, 3) after ICP to ``surface``.

    ``settings.fit_samples`` / ``eval_samples`` of the ``ids`` are taken evenly over the
    reference ``ref`` (N, 3).
    """
    subsets = stratified_ids(np.take(ref, ids, axis=0), settings.fit_samples, settings.eval_samples)
    fit, evaluate = (ids[k] for k in subsets)
    R, t = rigid_icp(np.take(pred, fit, axis=1), fit, surface, settings)
    return surface.rmse(np.take(pred, evaluate, axis=1), evaluate, R, t)


def for_each_reference(ref_index: np.ndarray, fn: Callable[[int, np.ndarray], None]) -> None:
    """Call ``fn(r, sel)`` for each reference r and the ids (B_r,) of its predictions.

    References are independent, so they run on ``THREADS`` threads (the compiled loops
    release the GIL); each call writes only its own predictions' results, so the results do
    not depend on the number of threads.
    """
    groups = [(r, np.flatnonzero(ref_index == r)) for r in np.unique(ref_index)]
    with ThreadPoolExecutor(THREADS) as pool:
        for done in [pool.submit(fn, r, sel) for r, sel in groups]:
            done.result()  # re-raises a failure


def registered_rmse(
    pred, ref, triangles: np.ndarray, *, ref_index=None, settings: IcpSettings | None = None
) -> np.ndarray:
    """Point-to-plane RMSE (mm) of each prediction after ICP to its reference.

    Args:
        pred: (B, N, 3) predicted vertices.
        ref: (N, 3) or (R, N, 3) reference vertices (same topology).
        triangles: (F, 3) the references' triangles (for their normals).
        ref_index: (B,) reference of each prediction (see ``are.match_references``).
        settings: ICP settings; default ``IcpSettings()``.

    Returns:
        (B,) float64 RMSE in the vertices' unit.
    """
    settings = settings or IcpSettings()
    pred, ref, ref_index = match_references(pred, ref, ref_index)
    ids = np.unique(triangles)  # (M,) vertices on the surface; the same on every mesh
    out = np.empty(len(pred))

    def measure(r: int, sel: np.ndarray) -> None:
        vertices = ref[r].astype(np.float64)  # (N, 3)
        surface = Surface.build(vertices, vertex_normals(vertices, triangles))
        out[sel] = register_and_measure(pred[sel], vertices, surface, ids, settings)

    for_each_reference(ref_index, measure)
    return out


def icp_rmse(
    model: MorphableModel, pred, ref, *, ref_index=None, settings: IcpSettings | None = None
) -> np.ndarray:
    """Whole-mesh point-to-plane RMSE (mm) after ICP (Table 3) on meshes of ``model``.

    Args:
        model: a dense model (its triangles give the reference normals).
        pred, ref, ref_index, settings: as in ``registered_rmse``.

    Returns:
        (B,) float64 RMSE in mm.
    """
    model.require_dense("Point-to-plane RMSE after ICP")
    return registered_rmse(pred, ref, model.triangles, ref_index=ref_index, settings=settings)
