"""Measurement pairs and part regions for any face mesh, derived from its 68 landmarks.

The paper's reference code measures BFM-53,215 vertex pairs (``BFM_PAIRS``). Other meshes get
*semantically equivalent* pairs: each BFM point is expressed in a landmark frame (origin
between the outer eye corners, x along them, unit = outer interocular distance), and the
other mesh's vertex nearest to that normalised 3D location is taken. The left point is found
and the right one is its mirror, so derived pairs are symmetric on symmetric meshes.

Regions (image-left/right, see ``model.py``) are the front-facing vertices inside padded
boxes around landmark groups; the cheek boxes lie between the lower eyelid, the mouth-corner
level, the nose wing and the jaw contour.
"""

from __future__ import annotations

import numpy as np

# The paper's reference pairs on the 3DDFA v1 BFM (53,215 vertices, 0-based vertex ids).
# 14607 is not the mirror image of 2217: the reference code uses it, so we keep it for BFM.
BFM_PAIRS: dict[str, tuple[int, int]] = {
    "oicd": (2217, 14607),
    "forehead": (1678, 42117),
    "cheek": (2294, 13635),
    "ear": (20636, 34153),
    "mid": (2130, 15003),
}

# The left point of each non-OICD pair in the landmark frame, measured on the BFM mean face
# (left/right averaged): (x, y, z) in units of the landmark OICD from the midpoint of the outer
# eye corners; z < 0 is behind them.
_PAIR_TARGETS: dict[str, tuple[float, float, float]] = {
    "forehead": (-0.63, 0.14, -0.01),
    "cheek": (-0.55, -0.74, -0.025),
    "mid": (-0.60, -0.32, 0.015),
    "ear": (-0.77, -0.59, -0.785),
}


def landmark_frame(mean: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Origin (3,) between the outer eye corners (ibug 37 and 46) and the OICD (mm)."""
    a, b = mean[landmarks[36]], mean[landmarks[45]]
    return (a + b) / 2.0, float(np.sqrt(np.sum((a - b) ** 2)))  # norm() of a vector uses BLAS


def _mirror_vertex(mean: np.ndarray, v: int) -> int:
    target = mean[v] * np.array([-1.0, 1.0, 1.0])
    return int(np.argmin(np.linalg.norm(mean - target, axis=1)))


def derive_pairs(mean: np.ndarray, landmarks: np.ndarray) -> dict[str, tuple[int, int]]:
    """Symmetric measurement pairs equivalent to ``BFM_PAIRS`` for any mesh.

    Args:
        mean: (N, 3) mean face in mm, canonical frame, roughly left-right symmetric about x=0.
        landmarks: (68,) ibug vertex ids; 36 and 45 (outer eye corners) must be mapped.

    Returns:
        ``{"oicd": (l, r), "ear": ..., "forehead": ..., "mid": ..., "cheek": ...}``.
    """
    if landmarks[36] < 0 or landmarks[45] < 0:
        raise ValueError("derive_pairs needs the outer eye corners (ibug 37 and 46) mapped")
    origin, oicd = landmark_frame(mean, landmarks)
    local = (mean - origin) / oicd
    pairs = {"oicd": (int(landmarks[36]), int(landmarks[45]))}
    for name, target in _PAIR_TARGETS.items():
        left = int(np.argmin(np.linalg.norm(local - np.asarray(target), axis=1)))
        pairs[name] = (left, _mirror_vertex(mean, left))
    return pairs


def _box_members(local: np.ndarray, front: np.ndarray, lo, hi) -> np.ndarray:
    inside = np.all((local[:, :2] >= lo) & (local[:, :2] <= hi), axis=1)
    return np.flatnonzero(inside & front)


def derive_regions(mean: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """The six part regions of the paper's Table 4 for any mesh.

    Args:
        mean: (N, 3) mean face in mm.
        landmarks: (68,) ibug vertex ids; eyes, nose and mouth landmarks must be mapped.

    Returns:
        ``{region: (M,) int64 vertex ids}`` for left_eye, right_eye, nose, mouth, left_cheek,
        right_cheek.
    """
    origin, oicd = landmark_frame(mean, landmarks)
    local = (mean - origin) / oicd
    lm = local[np.where(landmarks >= 0, landmarks, 0)]
    # Front-facing: in front of the ear junction depth (excludes the sides of the head).
    front = local[:, 2] > lm[[36, 45], 2].mean() - 0.25
    pad = 0.08

    def box(ids: list[int], px: float = pad, py: float = pad) -> tuple[np.ndarray, np.ndarray]:
        pts = lm[ids, :2]
        margin = np.array([px, py])
        return pts.min(0) - margin, pts.max(0) + margin

    regions = {
        "left_eye": box(list(range(36, 42))),
        "right_eye": box(list(range(42, 48))),
        "nose": box(list(range(27, 36)), px=0.05, py=0.02),
        "mouth": box(list(range(48, 68)), px=0.05, py=0.05),
    }
    eye_bottom = min(lm[40, 1], lm[47, 1]) - pad - 0.02
    mouth_y = lm[[48, 54], 1].mean()
    wing = np.abs(lm[[31, 35], 0]).max() + 0.04
    outer = np.abs(lm[[2, 14], 0]).min() - 0.04 if (landmarks[[2, 14]] >= 0).all() else 0.62
    regions["left_cheek"] = (np.array([-outer, mouth_y]), np.array([-wing, eye_bottom]))
    regions["right_cheek"] = (np.array([wing, mouth_y]), np.array([outer, eye_bottom]))
    return {name: _box_members(local, front, lo, hi) for name, (lo, hi) in regions.items()}
