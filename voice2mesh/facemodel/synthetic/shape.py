"""The 40 identity (shape) components of the synthetic face, most important first.

Each is a smooth displacement field on the mean face (frontal coordinates in mm, eye line at
y = 0, mouth line at y = -70, chin at y = -115) with the peak displacement it should cause at
one standard deviation. The leading ones mirror what a PCA of real faces finds first (overall
width and length, jaw, chin, forehead, nose, eye spacing, cheeks); then finer anatomical ones;
then smooth generic fields, symmetric and asymmetric, so that the model can express what the
named ones cannot.
"""

from __future__ import annotations

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.facemodel.synthetic.basis import Component, legendre, vec
from voice2mesh.facemodel.synthetic.grid import STOMION_Y, smoothstep
from voice2mesh.facemodel.synthetic.mesh import SyntheticMesh
from voice2mesh.facemodel.synthetic.relief import brow_line, gauss, nose_relief


def _xyz(mesh: SyntheticMesh):
    v = mesh.vertices
    return v[:, 0], v[:, 1], v[:, 2], np.abs(v[:, 0]), np.sign(v[:, 0])


def _along_normal(mesh: SyntheticMesh, weight) -> np.ndarray:
    return mesh.normals * np.asarray(weight)[:, None]


def face_width(mesh):
    x, y, _, _, _ = _xyz(mesh)
    return vec(mesh, dx=x * (0.75 + 0.25 * pm.exp(-0.5 * ((y + 15.0) / 35.0) ** 2)))


def face_length(mesh):
    _, y, _, _, _ = _xyz(mesh)
    below = np.minimum(y - 5.0, 0.0)  # the face below the nasion stretches down
    above = 0.35 * np.maximum(y - 5.0, 0.0)  # the forehead follows a little
    return vec(mesh, dy=below + above)


def jaw_width(mesh):
    x, y, _, _, _ = _xyz(mesh)
    return vec(mesh, dx=x * smoothstep(-30.0, -85.0, y))


def chin(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    w = gauss(ax, y, 0.0, -105.0, 24.0, 16.0)
    return vec(mesh, dy=-0.6 * w, dz=w)


def forehead(mesh):
    _, y, _, _, _ = _xyz(mesh)
    t = np.clip((y - 12.0) / 66.0, 0.0, None) ** 2
    return vec(mesh, dy=0.7 * t, dz=-t)


def nose_size(mesh):
    x, y, _, ax, _ = _xyz(mesh)
    # A bigger nose sits on a more projecting, longer midface.
    nose = nose_relief(ax, y) / 21.0
    midface = gauss(ax, y, 0.0, -35.0, 24.0, 26.0)
    return vec(mesh, dx=0.08 * x * nose, dy=-0.45 * nose - 0.35 * midface, dz=nose + 0.6 * midface)


def eye_spacing(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    return vec(mesh, dx=sx * gauss(ax, y, 32.0, 3.0, 15.0, 14.0))


def cheek_fullness(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return _along_normal(mesh, gauss(ax, y, 42.0, -45.0, 15.0, 16.0))


def nose_width(mesh):
    x, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dx=x * gauss(ax, y, 0.0, -40.0, 17.0, 9.0))


def lip_thickness(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    w = gauss(ax, y, 0.0, STOMION_Y, 20.0, 7.0)
    return vec(mesh, dy=0.5 * pm.tanh((y - STOMION_Y) / 3.0) * w, dz=w)


def brow_ridge(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    w = pm.exp(-0.5 * ((y - brow_line(ax)) / 6.0) ** 2) * smoothstep(60.0, 35.0, ax)
    return _along_normal(mesh, w + 0.5 * gauss(ax, y, 0.0, 10.0, 10.0, 8.0))


def cheekbone_height(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    w = gauss(ax, y, 50.0, -17.0, 14.0, 11.0)
    return vec(mesh, dy=w) + 0.5 * _along_normal(mesh, w)


def jaw_angle(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    w = gauss(ax, y, 54.0, -82.0, 12.0, 10.0)
    return vec(mesh, dx=0.6 * sx * w, dy=-w)


def face_depth(mesh):
    _, _, z, _, _ = _xyz(mesh)
    return vec(mesh, dz=z - 40.0)


def mouth_width(mesh):
    x, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dx=x * gauss(ax, y, 0.0, STOMION_Y, 24.0, 9.0))


def eye_size(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    w = gauss(ax, y, 30.5, 0.5, 10.0, 7.0)
    return vec(mesh, dx=sx * (ax - 30.5) * w, dy=(y - 0.5) * w)


def eye_height(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dy=gauss(ax, y, 30.0, 5.0, 16.0, 14.0))


def nose_bridge(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dz=gauss(ax, y, 0.0, -12.0, 6.0, 13.0))


def mouth_height(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dy=-gauss(ax, y, 0.0, STOMION_Y, 28.0, 13.0))


def chin_width(mesh):
    x, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dx=x * gauss(ax, y, 18.0, -105.0, 18.0, 12.0))


def midface_protrusion(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dz=gauss(ax, y, 0.0, -50.0, 32.0, 18.0))


def mandible_protrusion(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dz=smoothstep(-72.0, -105.0, y) * smoothstep(70.0, 20.0, ax))


def nose_tip(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dy=gauss(ax, y, 0.0, -40.0, 11.0, 6.0))


def temple_width(mesh):
    _, y, _, ax, sx = _xyz(mesh)
    return vec(mesh, dx=sx * gauss(ax, y, 60.0, 25.0, 15.0, 20.0))


def forehead_width(mesh):
    x, y, _, _, _ = _xyz(mesh)
    return vec(mesh, dx=x * smoothstep(10.0, 70.0, y))


def eye_depth(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(mesh, dz=-gauss(ax, y, 30.0, 0.0, 13.0, 9.0))


def face_roundness(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return _along_normal(
        mesh,
        pm.exp(-0.5 * ((ax - 55.0) / 14.0) ** 2)
        * smoothstep(40.0, 10.0, y)
        * smoothstep(-100.0, -60.0, y),
    )


def upper_lip_length(mesh):
    _, y, _, ax, _ = _xyz(mesh)
    return vec(
        mesh,
        dy=-smoothstep(-48.0, -62.0, y) * smoothstep(-95.0, -75.0, y) * smoothstep(40.0, 15.0, ax),
    )


def _generic(i: int, j: int):
    """Smooth normal displacement ``P_i(x / 70) P_j((y + 20) / 100)``; odd i is asymmetric."""

    def field(mesh: SyntheticMesh) -> np.ndarray:
        x, y, _, _, _ = _xyz(mesh)
        return _along_normal(mesh, legendre(i, x / 70.0) * legendre(j, (y + 20.0) / 100.0))

    field.__name__ = f"generic_{i}_{j}"
    return field


_NAMED: tuple[tuple[object, float], ...] = (
    (face_width, 3.0),
    (face_length, 3.5),
    (jaw_width, 2.5),
    (chin, 3.0),
    (forehead, 3.0),
    (nose_size, 3.0),
    (eye_spacing, 2.0),
    (cheek_fullness, 1.8),
    (face_depth, 2.0),
    (cheekbone_height, 2.0),
    (jaw_angle, 2.0),
    (nose_width, 1.8),
    (lip_thickness, 1.8),
    (brow_ridge, 2.2),
    (mouth_width, 1.8),
    (mandible_protrusion, 1.5),
    (temple_width, 1.5),
    (mouth_height, 1.5),
    (eye_height, 1.5),
    (midface_protrusion, 1.5),
    (chin_width, 1.5),
    (face_roundness, 1.5),
    (forehead_width, 1.5),
    (upper_lip_length, 1.2),
    (eye_depth, 1.2),
    (eye_size, 0.8),
    (nose_bridge, 1.5),
    (nose_tip, 1.2),
)
_GENERIC: tuple[tuple[int, int], ...] = (
    (2, 1),
    (1, 1),
    (0, 2),
    (1, 2),
    (2, 2),
    (3, 0),
    (4, 0),
    (3, 1),
    (0, 3),
    (1, 3),
    (2, 3),
    (3, 2),
)
GENERIC_PEAK_MM = 1.0


def shape_components() -> list[Component]:
    """The 40 designed shape components in order (names are ``SHAPE_COMPONENT_NAMES``)."""
    comps = [Component(fn.__name__, fn, peak) for fn, peak in _NAMED]
    comps += [
        Component(f"generic_{i}_{j}", _generic(i, j), GENERIC_PEAK_MM, i % 2 == 0)
        for i, j in _GENERIC
    ]
    return comps


SHAPE_COMPONENT_NAMES: tuple[str, ...] = tuple(c.name for c in shape_components())
