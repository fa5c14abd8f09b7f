"""Compiled ICP: exact nearest-vertex search by a uniform grid, and the registration loop.

ICP asks for the nearest reference vertex of tens of millions of points (903 predictions x a
few thousand points x a few steps, at the paper's scale), all within millimetres of the
reference surface. A KD-tree (``scipy.spatial.cKDTree``) answers in about a microsecond a
point; a uniform grid whose cells hold about ``POINTS_PER_CELL`` vertices answers the same
question exactly in a third of that: the cells around the point are searched in rings of
growing Chebyshev radius, skipping cells farther than the best vertex so far, until no
unsearched cell can hold a nearer vertex. Distances are compared in float64, as the KD-tree
does; among vertices at exactly the same distance the first one found wins.

The ICP loop itself (``icp.py`` defines it) runs here per point set, so a step costs no
numpy temporaries or Python calls: at the paper's scale there are some 50,000 small steps.
Everything is in one module because numba's on-disk cache of a function is not invalidated
when a function it calls from another module changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

POINTS_PER_CELL = 16.0  # aimed-at vertices per cell a surface crosses (8-32 are all close)
MAX_CELLS = 1 << 22  # cap on the cell table (16 MiB of int32 offsets)


@dataclass(frozen=True)
class GridIndex:
    """Points bucketed by a uniform grid, for exact nearest-neighbour queries.

    Attributes:
        points: (M, 3) float64 points, sorted by cell (in their original order within a cell).
        ids: (M,) int64 original index of each sorted point.
        start: (C + 1,) int32 offsets: cell c holds sorted points ``start[c]:start[c + 1]``.
        lo: (3,) float64 corner of the grid.
        shape: (3,) int64 cells per axis (C = their product).
        cell: edge length of a cell.
    """

    points: np.ndarray
    ids: np.ndarray
    start: np.ndarray
    lo: np.ndarray
    shape: np.ndarray
    cell: float

    @classmethod
    def build(cls, points: np.ndarray) -> GridIndex:
        """Index (M, 3) points (M >= 1) sampled over a surface."""
        points = np.ascontiguousarray(points, np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise ValueError(f"need (M, 3) points with M >= 1, got shape {points.shape}")
        lo, hi = bounds(points)
        span = hi - lo
        # A surface's area is about its bounding box's largest face; a curve has none.
        a, b = np.sort(span)[1:]
        area = a * b if a > 0 else b * b / len(points)
        cell = float(np.sqrt(POINTS_PER_CELL * area / len(points))) if area > 0 else 1.0
        while np.prod(np.floor(span / cell) + 1) > MAX_CELLS:
            cell *= 1.25
        shape = (np.floor(span / cell) + 1).astype(np.int64)
        cells = np.minimum(((points - lo) / cell).astype(np.int64), shape - 1)  # (M, 3)
        flat = (cells[:, 0] * shape[1] + cells[:, 1]) * shape[2] + cells[:, 2]  # (M,)
        order, start = _bucket(flat, int(np.prod(shape)))
        return cls(np.take(points, order, axis=0), order, start, lo, shape, cell)

    def query(self, queries: np.ndarray) -> np.ndarray:
        """(Q,) int64 original index of the nearest point to each of the (Q, 3) queries."""
        queries = np.ascontiguousarray(queries, np.float64).reshape(-1, 3)
        return np.take(self.ids, _query(self.arrays(), queries))

    def arrays(self) -> tuple:
        """The fields the compiled functions take, as one tuple."""
        return self.points, self.start, self.lo, self.shape, self.cell


@njit(cache=True, nogil=True)
def bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """(3,) minimum and (3,) maximum of the (M, 3) points (numpy's axis-0 reductions of
    narrow arrays are several times slower)."""
    lo, hi = points[0].copy(), points[0].copy()
    for i in range(1, len(points)):
        for k in range(3):
            lo[k] = min(lo[k], points[i, k])
            hi[k] = max(hi[k], points[i, k])
    return lo, hi


@njit(cache=True, nogil=True)
def _bucket(flat: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Counting sort of points by cell: (M,) stable order and (C + 1,) int32 cell offsets."""
    start = np.zeros(n_cells + 1, np.int32)
    for c in flat:
        start[c + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(len(flat), np.int64)
    for i in range(len(flat)):
        order[fill[flat[i]]] = i
        fill[flat[i]] += 1
    return order, start


@njit(cache=True, nogil=True)
def _query(grid, queries):  # pragma: no cover (compiled)
    out = np.empty(len(queries), np.int64)
    for i in range(len(queries)):
        out[i] = _nearest(grid, queries[i, 0], queries[i, 1], queries[i, 2])
    return out


@njit(cache=True, nogil=True)
def _nearest(grid, x, y, z, best=np.inf, best_j=-1):  # pragma: no cover (compiled)
    """Row of ``grid``'s sorted points nearest to (x, y, z); 0 for a non-finite point.

    ``best_j`` (-1: none) is a row known to be at squared distance ``best``.
    """
    points, start, lo, shape, cell = grid
    if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
        return 0
    p = (x, y, z)
    c = (  # the point's cell, clamped into the grid
        int(min(max((x - lo[0]) / cell, 0.0), shape[0] - 1.0)),
        int(min(max((y - lo[1]) / cell, 0.0), shape[1] - 1.0)),
        int(min(max((z - lo[2]) / cell, 0.0), shape[2] - 1.0)),
    )
    r = 0
    while True:
        for ix in range(max(c[0] - r, 0), min(c[0] + r, shape[0] - 1) + 1):
            gx = _gap(x, lo[0] + ix * cell, cell)
            for iy in range(max(c[1] - r, 0), min(c[1] + r, shape[1] - 1) + 1):
                gy = _gap(y, lo[1] + iy * cell, cell)
                for iz in range(max(c[2] - r, 0), min(c[2] + r, shape[2] - 1) + 1):
                    if max(abs(ix - c[0]), abs(iy - c[1]), abs(iz - c[2])) != r:
                        continue  # searched in an earlier ring
                    gz = _gap(z, lo[2] + iz * cell, cell)
                    if gx * gx + gy * gy + gz * gz >= best:
                        continue  # the whole cell is farther than the best so far
                    k = (ix * shape[1] + iy) * shape[2] + iz
                    for j in range(start[k], start[k + 1]):
                        dx, dy, dz = points[j, 0] - x, points[j, 1] - y, points[j, 2] - z
                        d = dx * dx + dy * dy + dz * dz
                        if d < best:
                            best, best_j = d, j
        bound = np.inf  # distance from the point to the nearest cell not searched yet
        for a in range(3):
            if c[a] - r > 0:
                bound = min(bound, p[a] - (lo[a] + (c[a] - r) * cell))
            if c[a] + r < shape[a] - 1:
                bound = min(bound, lo[a] + (c[a] + r + 1) * cell - p[a])
        if bound == np.inf or (best_j >= 0 and bound >= 0 and best <= bound * bound):
            return best_j
        r += 1


@njit(cache=True, nogil=True)
def _nearest_from(grid, x, y, z, guess):  # pragma: no cover (compiled)
    """``_nearest`` given a row ``guess`` (-1: none) that is likely near (x, y, z).

    Every nearer point lies in the cells that the cube of half-width |guess - (x, y, z)| about
    the point meets; when that cube is under a cell wide (at most 8 cells), they are searched
    directly, else the rings of ``_nearest`` are, skipping cells farther than the guess.
    """
    points, start, lo, shape, cell = grid
    if guess < 0 or not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
        return _nearest(grid, x, y, z)
    dx, dy, dz = points[guess, 0] - x, points[guess, 1] - y, points[guess, 2] - z
    best = dx * dx + dy * dy + dz * dz
    reach = np.sqrt(best)
    if reach >= 0.5 * cell:
        return _nearest(grid, x, y, z, best, guess)
    # The cube's first and last cell per axis (scalars: an array here costs a heap
    # allocation per query, a large share of a query's time).
    x0, x1 = _cell_span(x, reach, lo[0], cell, shape[0])
    y0, y1 = _cell_span(y, reach, lo[1], cell, shape[1])
    z0, z1 = _cell_span(z, reach, lo[2], cell, shape[2])
    best_j = guess
    for ix in range(x0, x1 + 1):
        for iy in range(y0, y1 + 1):
            for iz in range(z0, z1 + 1):
                k = (ix * shape[1] + iy) * shape[2] + iz
                for j in range(start[k], start[k + 1]):
                    dx, dy, dz = points[j, 0] - x, points[j, 1] - y, points[j, 2] - z
                    d = dx * dx + dy * dy + dz * dz
                    if d < best:
                        best, best_j = d, j
    return best_j


@njit(cache=True, nogil=True)
def _cell_span(x, reach, low, cell, n):  # pragma: no cover (compiled)
    """First and last cell (clamped into [0, n)) of the interval [x - reach, x + reach]."""
    first = int(min(max((x - reach - low) / cell, 0.0), n - 1.0))
    last = int(min(max((x + reach - low) / cell, 0.0), n - 1.0))
    return first, last


@njit(cache=True, nogil=True)
def _gap(x, low, cell):  # pragma: no cover (compiled)
    """Distance from coordinate x to the interval [low, low + cell] (0 inside)."""
    if x < low:
        return low - x
    if x > low + cell:
        return x - low - cell
    return 0.0


@njit(cache=True, nogil=True)
def icp(points, guess, grid, normals, warmup, iterations, tolerance):  # pragma: no cover
    """R (B, 3, 3), t (B, 3) registering each of the (B, S, 3) point sets to a surface.

    ``grid`` (``GridIndex.arrays()``) indexes the surface's vertices; ``normals`` (M, 3) are
    their unit normals in the grid's order; ``guess`` (S,) a grid row likely near each point
    (-1: none), which only speeds the search up. The loop is ``icp.py``'s definition.
    """
    n_sets, n = points.shape[0], points.shape[1]
    R, t = np.zeros((n_sets, 3, 3)), np.zeros((n_sets, 3))
    current, q, nq = np.empty((n, 3)), np.empty((n, 3)), np.empty((n, 3))
    rows = np.empty(n, np.int64)
    for b in range(n_sets):
        Rb, tb = np.eye(3), np.zeros(3)
        previous = np.inf  # RMS residual before the last step
        rows[:] = guess
        for step in range(warmup + iterations):
            # Each step starts its search from the point's previous match.
            residual = _correspond(points[b], Rb, tb, grid, normals, rows, current, q, nq)
            if step < warmup:
                dR, dt = _point_to_point_step(current, q)
            else:
                if not residual < previous * (1.0 - tolerance):
                    break
                previous = residual
                dR, dt = _point_to_plane_step(current, q, nq)
            Rb, tb = dR @ Rb, dR @ tb + dt
        R[b], t[b] = Rb, tb
    return R, t


@njit(cache=True, nogil=True)
def rmse(points, guess, R, t, grid, normals):  # pragma: no cover (compiled)
    """(B,) RMS point-to-plane distance of the (B, S, 3) point sets moved by R, t (the other
    arguments as in ``icp``)."""
    n = points.shape[1]
    current, q, nq = np.empty((n, 3)), np.empty((n, 3)), np.empty((n, 3))
    rows = np.empty(n, np.int64)
    out = np.empty(len(points))
    for b in range(len(points)):
        rows[:] = guess
        out[b] = _correspond(points[b], R[b], t[b], grid, normals, rows, current, q, nq)
    return out


@njit(cache=True, nogil=True)
def _correspond(p, R, t, grid, normals, rows, current, q, nq):  # pragma: no cover (compiled)
    """Fill current = p R^T + t, its nearest vertices q and their normals nq (S, 3), and rows
    (S,) their grid rows (on entry: the guesses); return the RMS point-to-plane residual."""
    sorted_points = grid[0]
    total = 0.0
    for s in range(len(p)):
        for i in range(3):
            current[s, i] = R[i, 0] * p[s, 0] + R[i, 1] * p[s, 1] + R[i, 2] * p[s, 2] + t[i]
        j = _nearest_from(grid, current[s, 0], current[s, 1], current[s, 2], rows[s])
        rows[s] = j
        r = 0.0
        for i in range(3):
            q[s, i], nq[s, i] = sorted_points[j, i], normals[j, i]
            r += (q[s, i] - current[s, i]) * nq[s, i]
        total += r * r
    return np.sqrt(total / len(p))


@njit(cache=True, nogil=True)
def _point_to_point_step(p, q):  # pragma: no cover (compiled)
    """Kabsch: the rotation (3, 3) and translation (3,) best mapping p onto q (S, 3)."""
    pc, qc = _mean_rows(p), _mean_rows(q)
    H = (p - pc).T @ (q - qc)  # (3, 3)
    U, _, Vt = np.linalg.svd(H)
    D = np.eye(3)
    d = np.sign(np.linalg.det(Vt.T @ U.T))  # det(V U^T): no reflection
    D[2, 2] = 1.0 if d == 0 else d
    R = Vt.T @ D @ U.T
    return R, qc - R @ pc


@njit(cache=True, nogil=True)
def _point_to_plane_step(p, q, n):  # pragma: no cover (compiled)
    """One linearised point-to-plane step (Low, 2004): rotation (3, 3), translation (3,).

    Minimises sum(((p - c) x n . w + n . t + (p - q) . n)^2) for points p, matches q and
    normals n (S, 3), rotating about the centroid c (radius-scaled columns for conditioning),
    by pseudo-inverse of the 6 x 6 normal equations (eigenvalues under 1e-10 of the largest
    are dropped, as ``np.linalg.pinv(H, rcond=1e-10, hermitian=True)`` does).
    """
    c = _mean_rows(p)
    centred = p - c
    radius = np.sqrt(np.sum(centred**2) / len(p))
    radius = radius if radius > 0 else 1.0
    H, g, J = np.zeros((6, 6)), np.zeros(6), np.empty(6)
    for s in range(len(p)):
        a, m = centred[s], n[s]
        J[0] = (a[1] * m[2] - a[2] * m[1]) / radius
        J[1] = (a[2] * m[0] - a[0] * m[2]) / radius
        J[2] = (a[0] * m[1] - a[1] * m[0]) / radius
        J[3], J[4], J[5] = m[0], m[1], m[2]
        r = (q[s, 0] - p[s, 0]) * m[0] + (q[s, 1] - p[s, 1]) * m[1] + (q[s, 2] - p[s, 2]) * m[2]
        for i in range(6):
            g[i] += J[i] * r
            for k in range(6):
                H[i, k] += J[i] * J[k]
    values, vectors = np.linalg.eigh(H)
    cutoff = 1e-10 * np.max(np.abs(values))
    x = np.zeros(6)
    for i in range(6):
        if abs(values[i]) > cutoff:
            x += vectors[:, i] * (vectors[:, i] @ g) / values[i]
    R = _rodrigues(x[:3] / radius)
    return R, c + x[3:] - R @ c


@njit(cache=True, nogil=True)
def _rodrigues(w):  # pragma: no cover (compiled)
    """Rotation matrix (3, 3) of the rotation vector w (3,) (axis times angle)."""
    theta = np.sqrt(w[0] ** 2 + w[1] ** 2 + w[2] ** 2)
    K = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])
    if theta > 1e-12:
        a, b = np.sin(theta) / theta, (1.0 - np.cos(theta)) / theta**2
    else:
        a, b = 1.0, 0.5
    return np.eye(3) + a * K + b * (K @ K)


@njit(cache=True, nogil=True)
def _mean_rows(x):  # pragma: no cover (compiled)
    """(3,) mean of the (S, 3) rows."""
    out = np.zeros(3)
    for s in range(len(x)):
        out += x[s]
    return out / len(x)
