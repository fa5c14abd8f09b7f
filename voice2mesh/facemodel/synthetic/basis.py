"""Turning designed displacement fields into an orthonormal basis with prior std-devs.

Each component of the synthetic model is first designed as a smooth (N, 3) displacement field
on the mean face (``shape``, ``expression``), together with the largest
displacement (mm) it should cause at one standard deviation. The fields are symmetrised,
orthonormalised *in order* (QR, signs kept), so the leading components keep their meaning and
later ones only contribute what is new, and each gets the standard deviation that makes its
peak per-vertex displacement at one std equal to the design value.

Units: the basis columns have unit L2 norm over all 3N coordinates, so a raw coefficient
``alpha_k`` moves the vertices by ``alpha_k * basis[:, k]`` mm; ``std_k`` is therefore the L2
norm (mm) of the one-std displacement, and ``std_k / sqrt(N)`` its per-vertex RMS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from voice2mesh.facemodel.synthetic.mesh import SyntheticMesh

# A field maps the mean mesh to an (N, 3) displacement (any overall scale).
FieldFn = Callable[[SyntheticMesh], np.ndarray]
STD_DECAY = 0.97  # each std is at most this fraction of the previous one (strictly decreasing)


@dataclass(frozen=True)
class Component:
    """One designed component.

    Attributes:
        name: what it does, e.g. ``"face_width"``.
        field: the displacement field.
        peak_mm: largest per-vertex displacement (mm) at one standard deviation.
        symmetric: True for left-right symmetric fields, False for antisymmetric ones.
    """

    name: str
    field: FieldFn
    peak_mm: float
    symmetric: bool = True


def vec(mesh: SyntheticMesh, dx=0.0, dy=0.0, dz=0.0) -> np.ndarray:
    """(N, 3) field from per-vertex (or scalar) x, y and z displacements."""
    n = len(mesh.vertices)
    return np.stack([np.broadcast_to(np.asarray(d, np.float64), (n,)) for d in (dx, dy, dz)], 1)


def symmetrise(field: np.ndarray, mirror: np.ndarray, symmetric: bool) -> np.ndarray:
    """Exactly (anti)symmetric part of an (N, 3) field under the mirror x -> -x.

    A symmetric field satisfies ``d[mirror] = (-dx, dy, dz)``; an antisymmetric one
    ``d[mirror] = (dx, -dy, -dz)``.
    """
    flip = np.array([-1.0, 1.0, 1.0])
    mirrored = field[mirror] * flip
    return 0.5 * (field + mirrored) if symmetric else 0.5 * (field - mirrored)


def build_basis(
    mesh: SyntheticMesh, components: Sequence[Component], decreasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis and prior std-devs of designed components.

    Args:
        mesh: the synthetic mean face.
        components: K designed components, most important first.
        decreasing: cap each std at ``STD_DECAY`` times the previous one, so the stds
            strictly decrease like a PCA's (later components then move less than designed).

    Returns:
        (basis, std): (3N, K) float64 with orthonormal columns (interleaved xyz rows) and
        (K,) float64 standard deviations.

    Raises:
        ValueError: when a component is (almost) a combination of the earlier ones.
    """
    fields = [symmetrise(c.field(mesh), mesh.mirror, c.symmetric).reshape(-1) for c in components]
    matrix = np.stack(fields, axis=1)  # (3N, K)
    q, diag_r = orthonormalise(matrix)
    novelty = diag_r / np.linalg.norm(matrix, axis=0)
    for c, value in zip(components, novelty, strict=True):
        if value < 0.05:
            raise ValueError(
                f"synthetic component {c.name!r} is almost a combination of the "
                f"earlier ones (novel fraction {value:.3f}); redesign its field"
            )
    peak = np.linalg.norm(q.reshape(-1, 3, q.shape[1]), axis=1).max(axis=0)  # (K,) per unit
    std = np.array([c.peak_mm for c in components]) / peak
    for k in range(1, len(std) if decreasing else 0):
        std[k] = min(std[k], STD_DECAY * std[k - 1])
    return q, std


def orthonormalise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin QR with a positive diagonal: Gram–Schmidt in column order, each column twice.

    Modified Gram–Schmidt with one re-orthogonalisation pass ("twice is enough": Giraud et al.
    2005, Numer. Math. 101) gives LAPACK's Householder Q to rounding, with diag(R) > 0. Here
    every dot product is an elementwise product and a fixed-order sum: ``np.linalg.qr``'s BLAS
    kernels round differently on different CPUs, which made the face model differ between
    machines.

    Args:
        matrix: (M, K) columns to orthonormalise, linearly independent.

    Returns:
        q (M, K) with orthonormal columns spanning the leading columns in order, and diag(R)
        (K,): the norm of what column k adds to the columns before it.
    """
    q = np.array(matrix, np.float64).T  # (K, M): one contiguous row per column
    diag_r = np.zeros(len(q))
    for k in range(len(q)):
        for _ in range(2):
            for j in range(k):
                q[k] -= np.sum(q[j] * q[k]) * q[j]
        diag_r[k] = np.sqrt(np.sum(q[k] * q[k]))
        q[k] /= diag_r[k]
    return q.T, diag_r


def legendre(order: int, t):
    """Legendre polynomial ``P_order(t)`` (orders 0-4)."""
    t = np.asarray(t, np.float64)
    return [
        np.ones_like(t),
        t,
        (3 * t**2 - 1) / 2,
        (5 * t * t * t - 3 * t) / 2,  # products, not t**3: numpy's pow rounds per CPU
        (35 * (t * t) * (t * t) - 30 * t**2 + 3) / 8,
    ][order]
