"""The 10 expression components of the synthetic face.

Each is a localised displacement field (frontal coordinates in mm, see ``shape``)
that looks like its named expression at +3 standard deviations. Jaw opening rotates everything
below the mouth seam about the jaw hinge; the seam rows are pushed back into the mouth so the
parted lips show a cavity instead of tearing the mesh.
"""

from __future__ import annotations

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.facemodel.synthetic.basis import Component, vec
from voice2mesh.facemodel.synthetic.grid import SEAM_OFFSETS, STOMION_Y, smoothstep
from voice2mesh.facemodel.synthetic.mesh import SyntheticMesh
from voice2mesh.facemodel.synthetic.relief import MOUTH_HALF_WIDTH, eye_fissure, gauss

JAW_HINGE = (-18.0, 5.0)  # (y, z) of the jaw's rotation axis, in front of the ears (mm)
# Per mouth-seam row: the share of the jaw's motion it follows (the upper inner lip stays, the
# lower inner lip moves fully) and how far it sinks into the mouth (mm per mm of chin drop).
_SEAM_FOLLOW = np.linspace(0.0, 1.0, len(SEAM_OFFSETS))
_CAVITY = np.array([0.0, 0.7, 1.0, 0.7, 0.0])


def _xyz(mesh: SyntheticMesh):
    v = mesh.vertices
    return v[:, 0], v[:, 1], v[:, 2], np.abs(v[:, 0]), np.sign(v[:, 0])


def jaw_open(mesh):
    _, y, z, ax, _ = _xyz(mesh)
    # Below the mouth line moves with the jaw; across the lips the change is a step (the seam),
    # on the cheeks it spreads over ~15 mm so the skin stretches.
    width = 0.3 + 14.0 * smoothstep(18.0, 40.0, ax)
    below = pm.expit((STOMION_Y - y) / width)
    seam = mesh.base.seam.ravel()
    on_seam = seam >= 0
    row = np.clip(seam, 0, len(SEAM_OFFSETS) - 1)
    in_mouth = smoothstep(1.0, 0.8, ax / MOUTH_HALF_WIDTH) * on_seam
    below = in_mouth * _SEAM_FOLLOW[row] + (1.0 - in_mouth) * below
    hinge_y, hinge_z = JAW_HINGE
    dy, dz = -(z - hinge_z) * below, (y - hinge_y) * below  # small rotation about the x axis
    cavity = np.where(on_seam, _CAVITY[row], 0.0)
    chin_drop = np.hypot(-115.0 - hinge_y, 80.0 - hinge_z)  # mm per radian at the chin
    return vec(mesh, dy=dy, dz=dz - 0.5 * chin_drop * cavity * in_mouth)


def smile(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    corner = gauss(ax, y, 24.0, STOMION_Y, 9.0, 8.0)
    cheek = gauss(ax, y, 36.0, -42.0, 13.0, 12.0)
    lid = gauss(ax, y, 31.0, -5.0, 10.0, 3.0)
    return (
        vec(mesh, dx=0.5 * sx * corner, dy=0.8 * corner, dz=-0.3 * corner)
        + vec(mesh, dx=0.1 * sx * cheek, dy=0.45 * cheek, dz=0.4 * cheek)
        + vec(mesh, dy=0.25 * lid)
    )


def lip_pucker(mesh):
    x, y, _, ax, sx = _xyz(mesh)
    lips = gauss(ax, y, 0.0, STOMION_Y, 14.0, 9.0)
    corner = gauss(ax, y, 24.0, STOMION_Y, 7.0, 7.0)
    return vec(mesh, dx=-0.04 * x * lips - 0.6 * sx * corner, dz=lips)


def brow_raise(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    brows = gauss(ax, y, 28.0, 14.0, 26.0, 9.0) * smoothstep(70.0, 45.0, ax)
    return vec(mesh, dy=brows, dz=-0.1 * brows)


def brow_frown(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    inner = gauss(ax, y, 16.0, 13.0, 10.0, 7.0)
    return vec(mesh, dx=-0.7 * sx * inner, dy=-0.7 * inner, dz=0.3 * inner)


def eye_close(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    u, upper, lower, inside = eye_fissure(ax, y)
    along = np.sqrt(pm.sin(np.pi * np.clip(u, 0.0, 1.0)))
    opening = pm.expit(inside / 0.6)
    # The lids meet a fifth of the way up the fissure: the fissure collapses onto that line,
    # the upper lid descends with the skin above it (fading towards the brow) and the lower
    # lid rises a little.
    gap = np.clip(upper - lower, 0.0, None)
    meet = lower + 0.2 * gap
    fade_above = pm.exp(-0.5 * (np.clip(y - upper, 0.0, None) / 10.0) ** 2)
    fade_below = pm.exp(-0.5 * (np.clip(lower - y, 0.0, None) / 3.0) ** 2)
    dy = np.where(
        y > upper, -0.8 * gap * fade_above, np.where(y < lower, 0.2 * gap * fade_below, meet - y)
    )
    return vec(mesh, dy=dy * along, dz=2.0 * opening * along)


def lip_press(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    lips = gauss(ax, y, 0.0, STOMION_Y, 22.0, 8.0)
    corner = gauss(ax, y, 25.0, STOMION_Y, 7.0, 7.0)
    return vec(mesh, dx=1.5 * sx * corner, dy=-0.3 * (y - STOMION_Y) * lips, dz=-1.0 * lips)


def mouth_left_right(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dx=gauss(ax, y, 0.0, STOMION_Y, 20.0, 12.0))


def cheek_puff(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return mesh.normals * gauss(ax, y, 36.0, -62.0, 14.0, 14.0)[:, None]


def sneer(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    lip = gauss(ax, y, 13.0, -52.0, 9.0, 8.0)
    wing = gauss(ax, y, 12.0, -42.0, 6.0, 5.0)
    bridge = gauss(ax, y, 8.0, -5.0, 5.0, 6.0)
    return vec(mesh, dy=lip + 0.7 * wing - 0.3 * bridge, dz=0.2 * lip)


_DESIGN: tuple[tuple[object, float, bool], ...] = (
    (jaw_open, 6.0, True),
    (smile, 3.0, True),
    (lip_pucker, 3.0, True),
    (brow_raise, 3.0, True),
    (brow_frown, 2.0, True),
    (eye_close, 2.6, True),
    (lip_press, 1.6, True),
    (mouth_left_right, 3.5, False),
    (cheek_puff, 2.5, True),
    (sneer, 1.8, True),
)


def expression_components() -> list[Component]:
    """The 10 designed expression components (names are ``EXPRESSION_COMPONENT_NAMES``)."""
    return [Component(fn.__name__, fn, peak, sym) for fn, peak, sym in _DESIGN]


EXPRESSION_COMPONENT_NAMES: tuple[str, ...] = tuple(c.name for c in expression_components())
