"""Which landmark vertices a render shows: exact point-in-triangle depth tests (numba)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from voice2mesh.render.camera import to_pixels

# Landmark occlusion tolerance as a fraction of the mesh's depth range.
OCCLUSION_TOLERANCE = 0.015


@njit(cache=True)
def _occluded(xy, z, triangles, query, query_z, tol):  # pragma: no cover - compiled
    """(K,) bool: is some triangle in front of each query point by more than ``tol``?

    xy (N, 2) float64 (x, row); z (N,) float64; triangles (F, 3) int64; query (K, 2) float64
    (x, row) with NaN rows never occluded; query_z (K,) float64.
    """
    out = np.zeros(query.shape[0], np.bool_)
    for f in range(triangles.shape[0]):
        i0, i1, i2 = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        x0, y0, x1, y1, x2, y2 = xy[i0, 0], xy[i0, 1], xy[i1, 0], xy[i1, 1], xy[i2, 0], xy[i2, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if not (abs(area) > 1e-12) or not math.isfinite(area):
            continue
        xmin, xmax = min(x0, x1, x2), max(x0, x1, x2)
        ymin, ymax = min(y0, y1, y2), max(y0, y1, y2)
        for k in range(query.shape[0]):
            px, py = query[k, 0], query[k, 1]
            if out[k] or not (xmin <= px <= xmax and ymin <= py <= ymax):
                continue
            w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area
            w1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) / area
            w2 = 1.0 - w0 - w1
            if min(w0, w1, w2) >= -1e-9 and w0 * z[i0] + w1 * z[i1] + w2 * z[i2] > query_z[k] + tol:
                out[k] = True
    return out


def landmark_visibility(ids, points, size, triangles) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) (x, row) positions and (68,) visibility of landmark vertices.

    A landmark is occluded when some triangle contains its exact (x, row) position with a
    depth there exceeding the landmark's by more than ``OCCLUSION_TOLERANCE`` of the mesh's
    depth range. Testing the exact position against every triangle (rather than reading the
    z-buffer at a pixel centre) keeps vertices on steep slopes near the silhouette visible and
    catches occluders thinner than a pixel.
    """
    H, W = size
    xy = to_pixels(points, H)  # (N, 2)
    mapped = ids >= 0
    safe = np.where(mapped, ids, 0)
    lm_2d = np.where(mapped[:, None], xy[safe], np.nan)  # (68, 2)
    tol = OCCLUSION_TOLERANCE * float(np.nanmax(points[:, 2]) - np.nanmin(points[:, 2])) + 1e-6
    with np.errstate(invalid="ignore"):
        inside = mapped & np.all((lm_2d >= 0) & (lm_2d < [W, H]), axis=1)
    z = np.ascontiguousarray(points[:, 2])
    occluded = _occluded(xy, z, triangles, np.ascontiguousarray(lm_2d), z[safe], tol)
    return lm_2d, inside & ~occluded
