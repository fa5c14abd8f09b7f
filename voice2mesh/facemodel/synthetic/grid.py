"""The (column, row) grid and the smooth base head of the procedural synthetic face.

The face is a regular grid wrapped around the front of a head. Column ``i`` is a polar angle
``phi`` about the vertical axis (0 = straight ahead, +-``PHI_MAX`` just behind the ears); row
``j`` is a frontal height ``eta`` in mm that is remapped per column so that the bottom row
follows the jaw line and the top row the forehead boundary. Horizontal sections are
superellipses whose half-width ``A(y)``, depth ``B(y)`` and exponent ``p(y)`` vary with
height; the bottom of every column rolls under the jaw like the BFM's noneck mesh.

Construction frame (the final model uses it unchanged): millimetres, x to the image-right,
y up, z towards the camera; the origin lies on the midline at the height of the outer eye
corners and at the depth of the ear junctions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator

from voice2mesh import portable as pm

PHI_MAX = np.deg2rad(97.0)  # azimuth of the side boundary (just behind the ear junction)
STOMION_Y = -70.0  # mouth line at the midline (mm)
# The mouth seam: five rows this close to the mouth line (mm); the middle three are recessed
# into the mouth so that the lips can part (jaw open) without tearing the mesh.
SEAM_OFFSETS = np.array([0.5, 0.25, 0.0, -0.25, -0.5])
ETA_TOP, ETA_JAW, UNDER_JAW = 78.0, -117.0, 16.0  # frontal top, menton, under-jaw length (mm)
ROLL_RADIUS = 9.0  # radius (mm) of the rounded edge where the jaw turns under

# Head sections by height y (mm): half-width A, depth B of the front ahead of the ear plane
# and the superellipse exponent p (2 = ellipse, larger = flatter front).
_SECTION_Y = np.array([-125.0, -115, -100, -90, -80, -70, -55, -40, -20, 0, 30, 60, 90])
_SECTION_A = np.array([34.0, 38, 46, 50, 54, 58.5, 64, 67, 68.5, 69.5, 70, 66, 52])
_SECTION_B = np.array([83.0, 85, 87, 87, 88, 89, 89, 89.5, 90, 91, 90, 83, 60])
_SECTION_P = np.array([2.0, 2.0, 2.1, 2.2, 2.3, 2.45, 2.55, 2.6, 2.6, 2.5, 2.35, 2.15, 2.0])
# The jaw line (bottom boundary before rolling under): y (mm) at the section's eccentric
# angle (degrees; see ``_eccentric_angle``).
_JAW_ANGLE = np.array([0.0, 20, 35, 50, 65, 78, 87, 92, 97])
_JAW_Y = np.array([-117.0, -116.4, -114.5, -110, -100.5, -89, -80, -68, -53])


@dataclass(frozen=True)
class BaseGrid:
    """The base head sampled on the grid (all arrays are (R, C) over rows x columns).

    Attributes:
        points: (R, C, 3) base surface positions in mm.
        normals: (R, C, 3) outward unit normals of the base surface.
        phi: (R, C) polar angle about the vertical axis in radians (0 = straight ahead).
        eta: (R, C) frontal row height in mm (the row's y at the midline before remapping).
        under: (R, C) how far (mm, >= 0) a vertex has rolled under the jaw edge.
        seam: (R, C) int, index into ``SEAM_OFFSETS`` for mouth-seam rows, -1 elsewhere.
    """

    points: np.ndarray
    normals: np.ndarray
    phi: np.ndarray
    eta: np.ndarray
    under: np.ndarray
    seam: np.ndarray


def column_azimuths(resolution: int) -> np.ndarray:
    """(C,) azimuths in radians, symmetric about 0, denser at the front of the face.

    Args:
        resolution: number of grid cells across the face (even, >= 20).
    """
    half = np.linspace(0.0, 1.0, resolution // 2 + 1)[1:]
    s = np.concatenate([-half[::-1], [0.0], half])  # exactly antisymmetric
    return PHI_MAX * (0.45 * s + 0.55 * s * s * s)


def row_heights(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Frontal row heights ``eta`` (mm, increasing) and each row's seam index (-1 if none).

    Rows are densest over eyes, nose and mouth; the five seam rows replace ordinary rows
    within 1.2 mm of the mouth line.
    """
    scale = 120.0 / resolution
    eta, rows = ETA_JAW - UNDER_JAW, []
    while eta < ETA_TOP:
        rows.append(eta)
        face = smoothstep(-92.0, -84.0, eta) * (1.0 - smoothstep(14.0, 24.0, eta))
        eta += scale * (1.1 + 1.2 * (1.0 - face))  # ~1.1 mm over the face, ~2.3 mm elsewhere
    rows = np.asarray(rows)
    rows = rows[0] + (rows - rows[0]) * (ETA_TOP - rows[0]) / (rows[-1] - rows[0])  # end at top
    keep = np.abs(rows - STOMION_Y) > 1.2
    seam_rows = STOMION_Y + SEAM_OFFSETS
    eta = np.concatenate([rows[keep], seam_rows])
    seam = np.concatenate([np.full(int(keep.sum()), -1), np.arange(len(SEAM_OFFSETS))])
    order = np.argsort(eta, kind="stable")
    return eta[order], seam[order]


def jaw_line(angle: np.ndarray) -> np.ndarray:
    """Height (mm) of the jaw line at eccentric angle ``angle`` (radians, any shape)."""
    return PchipInterpolator(_JAW_ANGLE, _JAW_Y)(np.rad2deg(np.abs(angle)))


def top_line(phi: np.ndarray) -> np.ndarray:
    """Height (mm) of the upper boundary (forehead, temples) at azimuth ``phi``."""
    return ETA_TOP - 40.0 * (np.abs(phi) / PHI_MAX) ** 2


def build_base(resolution: int) -> BaseGrid:
    """The smooth base head on the grid, before any anatomical feature is added."""
    phi_c = column_azimuths(resolution)  # (C,)
    eta_r, seam_r = row_heights(resolution)  # (R,)
    phi, eta = np.meshgrid(phi_c, eta_r)  # (R, C)
    seam = np.broadcast_to(seam_r[:, None], phi.shape).copy()
    jaw = jaw_line(_eccentric_angle(phi, np.full_like(phi, ETA_JAW + ROLL_RADIUS)))
    for _ in range(2):  # the jaw line is read at the section where the jaw edge starts rolling
        jaw = jaw_line(_eccentric_angle(phi, jaw + ROLL_RADIUS))
    top = top_line(phi)
    # Rows above the menton are stretched between the jaw line and the top line; rows below it
    # continue around the rounded jaw edge and under the jaw (arc length below the edge).
    frac = (eta - ETA_JAW) / (ETA_TOP - ETA_JAW)
    y_lin = np.where(eta >= ETA_JAW, jaw + frac * (top - jaw), jaw + (eta - ETA_JAW))
    y, inset, under = _roll_under(y_lin - jaw)
    y = y + jaw
    y_section = np.maximum(y, jaw + ROLL_RADIUS)  # the rolled edge keeps the edge's section
    x, z = _section(phi, y_section)
    nx, nz = _section_normal(phi, y_section)
    x = x - inset * nx
    z = z - inset * nz
    points = np.stack([x, y, z], axis=-1)  # (R, C, 3)
    return BaseGrid(points, grid_normals(points), phi, eta, under, seam)


def _roll_under(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round the jaw edge: height above the jaw line, inward inset and under-jaw depth.

    Args:
        d: (...) linear height above the jaw line in mm (negative = below, i.e. arc length
            past the edge).

    Returns:
        (y, inset, under): new height above the jaw line, inward displacement, and the arc
        length travelled past the start of the roll (0 on the face proper).
    """
    r = ROLL_RADIUS
    alpha = np.clip((r - d) / r, 0.0, np.pi / 2)  # angle round the edge (rad)
    beyond = np.maximum(r - d - r * np.pi / 2, 0.0)  # arc length on the flat underside
    y = np.where(d >= r, d, r - r * pm.sin(alpha) + 0.05 * beyond)  # underside rises slightly
    inset = r * (1.0 - pm.cos(alpha)) + beyond
    return y, inset, np.maximum(r - d, 0.0)


def _interp(y: np.ndarray, table: np.ndarray) -> np.ndarray:
    return CubicSpline(_SECTION_Y, table, bc_type="natural")(y)


def _section(phi: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Superellipse section point (x, z) at polar angle ``phi`` (from +z) and height ``y``.

    The polar form moves at a nearly even speed round the section, so columns evenly spaced
    in ``phi`` are evenly spaced on the face (the eccentric form ``|x/a| = |sin t|^(2/p)``
    leaves its widest gap on the midline, right through the nose).
    """
    a, b, p = _interp(y, _SECTION_A), _interp(y, _SECTION_B), _interp(y, _SECTION_P)
    s, c = pm.sin(phi), pm.cos(phi)
    r = pm.power(pm.power(np.abs(s / a), p) + pm.power(np.abs(c / b), p), -1.0 / p)
    return r * s, r * c


def _eccentric_angle(phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Angle t of the section point at polar angle ``phi`` in the form |x/a| = |sin t|^(2/p).

    The jaw line is tabulated in this angle: it spreads the chin and jaw evenly, whereas
    the polar angle crowds the whole chin into a few degrees.
    """
    a, p = _interp(y, _SECTION_A), _interp(y, _SECTION_P)
    x, z = _section(phi, y)
    t = pm.arcsin(pm.power(np.clip(np.abs(x) / a, 0.0, 1.0), p / 2.0))
    return np.where(z < 0, np.pi - t, t)


def _section_normal(phi: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal outward unit normal (nx, nz) of the section at ``phi``, ``y``."""
    a, b, p = _interp(y, _SECTION_A), _interp(y, _SECTION_B), _interp(y, _SECTION_P)
    x, z = _section(phi, y)
    # Gradient of |x/a|^p + |z/b|^p.
    gx = np.sign(x) * pm.power(np.abs(x / a), p - 1) / a
    gz = np.sign(z) * pm.power(np.abs(z / b), p - 1) / b
    norm = np.hypot(gx, gz)
    return gx / norm, gz / norm


def grid_normals(points: np.ndarray) -> np.ndarray:
    """(R, C, 3) outward unit normals of a grid surface from central differences."""
    d_col = np.gradient(points, axis=1)  # along increasing azimuth (towards +x at the front)
    d_row = np.gradient(points, axis=0)  # along increasing eta (upwards)
    n = np.cross(d_col, d_row)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def grid_triangles(n_rows: int, n_cols: int) -> np.ndarray:
    """(2 (R-1) (C-1), 3) triangles of an R x C grid, counter-clockwise seen from outside.

    Quads are split along mirrored diagonals on the two halves, so the triangulation itself is
    left-right symmetric.
    """
    j, i = np.meshgrid(np.arange(n_rows - 1), np.arange(n_cols - 1), indexing="ij")
    v00 = (j * n_cols + i).ravel()  # lower-left corner (row j, column i)
    v01, v10, v11 = v00 + 1, v00 + n_cols, v00 + n_cols + 1
    left = (i < (n_cols - 1) // 2).ravel()
    # Columns increase to +x and rows upwards, so (v00, v01, v11) is counter-clockwise.
    tri_a = np.where(left[:, None], np.stack([v00, v01, v11], 1), np.stack([v00, v01, v10], 1))
    tri_b = np.where(left[:, None], np.stack([v00, v11, v10], 1), np.stack([v01, v11, v10], 1))
    return np.concatenate([tri_a, tri_b]).astype(np.int64)


def smoothstep(lo: float, hi: float, x):
    """0 below ``lo``, 1 above ``hi``, C1-smooth in between (``lo > hi`` reverses)."""
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
