"""The 68 ibug landmark vertices of the synthetic face.

Landmarks on the image-left half and the midline are placed at anatomical targets taken from
the same curves that shape the relief (lid margins, vermilion borders, brow crest); their
image-right partners are the mirror vertices, so the set is exactly symmetric. The jaw contour
(0-16) follows the frontal outline of the lower face at equal arc-length steps, from beside
the ear just below eye level round to the chin.
"""

from __future__ import annotations

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.facemodel.synthetic.grid import SEAM_OFFSETS, STOMION_Y
from voice2mesh.facemodel.synthetic.mesh import SyntheticMesh
from voice2mesh.facemodel.synthetic.relief import (
    EYE_INNER,
    EYE_OUTER,
    MOUTH_HALF_WIDTH,
    brow_line,
    eye_fissure,
    lip_borders,
)

# ibug index of each landmark's mirror image (0-based).
IBUG_MIRROR = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)
_CONTOUR_CENTRE_Y = -40.0  # the jaw outline is traced by rays from (0, this) (mm)
_CONTOUR_TOP_Y = -8.0  # height of ibug point 0 (beside the ear, just below the eye line)
_CONTOUR_MIN_Z = 15.0  # the contour runs this far (mm) in front of the ear junctions
_UPPER_INNER, _SEAM_MID, _LOWER_INNER = 0, len(SEAM_OFFSETS) // 2, len(SEAM_OFFSETS) - 1


def _targets() -> dict[int, tuple[float, float, str]]:
    """Image-left and midline landmarks: ``{ibug: (x, y, where)}`` (mm).

    ``where`` restricts the search: "front" (front-facing surface), "mid" (the midline
    column) or "seam<k>" (mouth-seam row k).
    """
    t: dict[int, tuple[float, float, str]] = {}
    for k, ax in zip(range(17, 22), (47.0, 39.0, 30.5, 22.0, 14.0), strict=True):
        t[k] = (-ax, float(brow_line(ax)) + 1.0, "front")
    for k, y in zip((27, 28, 29), (3.0, -9.5, -22.0), strict=True):
        t[k] = (0.0, y, "mid")
    t.update({31: (-10.0, -45.5, "front"), 32: (-5.0, -47.0, "front"), 33: (0.0, -48.5, "mid")})
    (x0, y0), (x1, y1) = EYE_INNER, EYE_OUTER
    t[36], t[39] = (-x1, y1, "front"), (-x0, y0, "front")
    for k_up, k_lo, u in ((37, 41, 2.0 / 3.0), (38, 40, 1.0 / 3.0)):
        ax = x0 + u * (x1 - x0)
        _, upper, lower, _ = eye_fissure(np.array(ax), np.array(0.0))
        t[k_up], t[k_lo] = (-ax, float(upper), "front"), (-ax, float(lower), "front")
    t[48] = (-MOUTH_HALF_WIDTH - 0.5, STOMION_Y, f"seam{_SEAM_MID}")
    for k, ax in ((49, 15.0), (50, 6.0), (51, 0.0)):
        t[k] = (-ax, float(lip_borders(np.array(ax))[0]), "mid" if ax == 0 else "front")
    for k, ax in ((57, 0.0), (58, 8.0), (59, 16.0)):
        t[k] = (-ax, float(lip_borders(np.array(ax))[1]), "mid" if ax == 0 else "front")
    t[60] = (-MOUTH_HALF_WIDTH + 3.0, STOMION_Y, f"seam{_SEAM_MID}")
    for k, row, ax in (
        (61, _UPPER_INNER, 10.0),
        (62, _UPPER_INNER, 0.0),
        (66, _LOWER_INNER, 0.0),
        (67, _LOWER_INNER, 10.0),
    ):
        t[k] = (-ax, STOMION_Y + float(SEAM_OFFSETS[row]), f"seam{row}")
    return t


def find_landmarks(mesh: SyntheticMesh) -> np.ndarray:
    """(68,) int64 vertex ids of the ibug landmarks on the synthetic mean face."""
    v = mesh.vertices
    n_rows, n_cols = mesh.grid_shape
    front = (mesh.normals[:, 2] > 0.2) & (mesh.base.under.ravel() == 0)
    midline = np.zeros(len(v), bool)
    midline[np.arange(n_rows) * n_cols + n_cols // 2] = True
    seam = mesh.base.seam.ravel()
    ids = np.full(68, -1, np.int64)
    for k, (x, y, where) in _targets().items():
        if where == "mid":
            allowed = midline & front
        elif where.startswith("seam"):
            allowed = seam == int(where[4:])
        else:
            allowed = front & (v[:, 0] <= 0.0)
        cand = np.flatnonzero(allowed)
        ids[k] = cand[np.argmin(np.hypot(v[cand, 0] - x, v[cand, 1] - y))]
    mid_ids = np.flatnonzero(midline)
    ids[30] = mid_ids[np.argmax(v[mid_ids, 2])]  # nose tip: the most forward midline point
    chin = mid_ids[np.argmin(v[mid_ids, 1])]  # the lowest midline point
    contour = np.append(_jaw_contour(v, v[:, 2] > _CONTOUR_MIN_Z), chin)  # ibug 0-8
    # Points on the rounded jaw edge move up their column until they face the camera a little
    # (the silhouette itself is only grazed by a frontal view).
    rolled = mesh.base.under.ravel() > 0
    for _ in range(n_rows):
        low = rolled[contour] & (mesh.normals[contour, 2] < 0.25)
        if not low.any():
            break
        contour = np.where(low, contour + n_cols, contour)
    ids[:9] = contour
    for k in range(68):
        if ids[k] < 0:
            ids[k] = mesh.mirror[ids[IBUG_MIRROR[k]]]
    return ids


def _jaw_contour(v: np.ndarray, ahead: np.ndarray, n_rays: int = 240) -> np.ndarray:
    """(8,) vertex ids of ibug 0-7: the frontal outline of the image-left lower face.

    Rays from a point in the middle of the face sweep from beside the ear down to the chin;
    the outermost vertex near each ray traces the outline, which is cut into eight equal
    arc-length steps ending one step before the chin.

    Args:
        v: (N, 3) vertices.
        ahead: (N,) bool, the vertices that may carry the outline (in front of the ears and
            facing the camera a little, so
            the contour stays on the face and a frontal view sees it).
    """
    centre = np.array([0.0, _CONTOUR_CENTRE_Y])
    rel = v[:, :2] - centre  # (N, 2)
    angle = pm.arctan2(rel[:, 0], -rel[:, 1])  # 0 straight down, negative towards -x
    radius = np.hypot(rel[:, 0], rel[:, 1])
    top = pm.arctan2(-np.abs(v[ahead, 0]).max(), -(_CONTOUR_TOP_Y - _CONTOUR_CENTRE_Y))
    rays = np.linspace(top, 0.0, n_rays)
    half = 0.5 * (rays[1] - rays[0]) * 1.5
    outline = []
    for ray in rays:
        near = np.flatnonzero((np.abs(angle - ray) <= abs(half)) & ahead)
        outline.append(near[np.argmax(radius[near])])
    outline = np.asarray(outline)
    pts = v[outline, :2]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    steps = np.linspace(0.0, arc[-1], 9)[:8]
    return outline[np.searchsorted(arc, steps).clip(0, len(outline) - 1)]
