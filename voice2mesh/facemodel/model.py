"""One interface for every 3D Morphable Model (3DMM).

A face is ``mean + shape_basis @ alpha + expression_basis @ beta`` in millimetres, in the
canonical frame: x to the face's image-right (the viewer's right), y up, z towards the
camera. Bases are stored flattened with x, y, z interleaved per vertex, rows ``3*v + c``,
so a batch of faces is one matrix product.

``alpha`` and ``beta`` are *raw* coefficients in the units the model was published in
(3DDFA's 40 shape / 10 expression values for BFM, sigma-units for eos models); their prior
standard deviations are ``shape_std`` / ``expression_std`` so that ``alpha / shape_std`` is
standard normal under the model's prior.

Left and right follow the ibug 68-point convention, which is image based: ``left_eye`` is the
eye on the image's left (ibug points 37-42, 1-based; negative x here), i.e. the subject's
right eye.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numba import njit

PAIR_NAMES: tuple[str, ...] = ("oicd", "ear", "forehead", "mid", "cheek")
REGION_NAMES: tuple[str, ...] = (
    "left_eye",
    "right_eye",
    "nose",
    "mouth",
    "left_cheek",
    "right_cheek",
)
GENDERS: tuple[str, ...] = ("male", "female")


class DenseBasisUnavailable(RuntimeError):
    """Raised when a landmark-only model is asked for something that needs the full mesh."""


def _as_tensor(array: np.ndarray, **kw) -> torch.Tensor:
    """``torch.as_tensor`` of a read-only model array, which is only ever read, never written.

    torch warns on wrapping non-writable numpy arrays; the tensors made here feed out-of-place
    arithmetic only, so the warning is noise (and copying the dense basis per call is costly).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, **kw)


@dataclass(frozen=True, eq=False)
class MorphableModel:
    """A linear 3D face model.

    Attributes:
        name: short identifier, e.g. ``"synthetic"``, ``"sfm"``, ``"bfm"``, ``"bfm68"``.
        mean: (N, 3) float32 mean face in mm.
        shape_basis: (3N, Ks) float32, interleaved xyz rows.
        shape_std: (Ks,) float32 prior std of each raw shape coefficient.
        expression_basis: (3N, Ke) float32, interleaved xyz rows.
        expression_std: (Ke,) float32 prior std of each raw expression coefficient.
        triangles: (F, 3) int64 vertex ids, counter-clockwise seen from +z; ``None`` for
            landmark-only models.
        landmarks: (68,) int64 vertex ids in ibug order; -1 where the model has no vertex for
            that landmark (e.g. the SFM's jaw contour).
        pairs: measurement point pairs ``{name: (v0, v1)}`` for ``PAIR_NAMES``.
        regions: part vertex ids ``{name: (M,) int64}`` for ``REGION_NAMES``.
        gender_shape: optional ``{"male": (Ks,), "female": (Ks,)}`` mean shape coefficients of
            each gender (the synthetic world samples faces around them).
        source: file the model came from (for error messages), ``None`` if procedural.
        shape_names: optional names of the leading shape components (for figures).
        expression_names: optional names of the expression components.
        dense: False for landmark-only models (only the 68 landmark rows are known).
    """

    name: str
    mean: np.ndarray
    shape_basis: np.ndarray
    shape_std: np.ndarray
    expression_basis: np.ndarray
    expression_std: np.ndarray
    triangles: np.ndarray | None
    landmarks: np.ndarray
    pairs: dict[str, tuple[int, int]] = field(default_factory=dict)
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    gender_shape: dict[str, np.ndarray] | None = None
    source: Path | None = None
    shape_names: tuple[str, ...] = ()
    expression_names: tuple[str, ...] = ()
    dense: bool = True

    def __post_init__(self) -> None:
        n = self.mean.shape[0]
        where = f"model {self.name!r}" + (f" from {self.source}" if self.source else "")
        checks = [
            (self.mean.shape == (n, 3), f"mean must be (N, 3), got {self.mean.shape}"),
            (self.shape_basis.shape[0] == 3 * n, "shape_basis must have 3N rows"),
            (self.expression_basis.shape[0] == 3 * n, "expression_basis must have 3N rows"),
            (self.shape_std.shape == (self.n_shape,), "shape_std must be (Ks,)"),
            (self.expression_std.shape == (self.n_expression,), "expression_std must be (Ke,)"),
            (self.landmarks.shape == (68,), f"landmarks must be (68,), got {self.landmarks.shape}"),
            (int(self.landmarks.max()) < n, "landmark vertex id out of range"),
        ]
        if self.triangles is not None:
            checks.append(
                (
                    self.triangles.ndim == 2 and self.triangles.shape[1] == 3,
                    "triangles must be (F, 3)",
                )
            )
            checks.append((int(self.triangles.max()) < n, "triangle vertex id out of range"))
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{where}: {message}")
        for array in (self.mean, self.shape_basis, self.expression_basis):
            array.setflags(write=False)

    @classmethod
    def without_basis(
        cls,
        name: str,
        mean: np.ndarray,
        *,
        triangles: np.ndarray | None = None,
        landmarks: np.ndarray | None = None,
        pairs: dict[str, tuple[int, int]] | None = None,
        regions: dict[str, np.ndarray] | None = None,
        source: Path | None = None,
        dense: bool | None = None,
    ) -> MorphableModel:
        """A mean mesh with its semantics and no variation (one zero shape/expression column).

        Enough wherever only vertices, landmarks, pairs and regions are read (the metrics, a
        mesh without a model); ``dense`` defaults to whether ``triangles`` are given.
        """
        empty = np.zeros((np.asarray(mean).size, 1), np.float32)
        return cls(
            name=name,
            mean=np.asarray(mean, np.float32),
            shape_basis=empty,
            shape_std=np.ones(1, np.float32),
            expression_basis=empty.copy(),
            expression_std=np.ones(1, np.float32),
            triangles=triangles,
            landmarks=np.zeros(68, np.int64) if landmarks is None else landmarks,
            pairs=pairs or {},
            regions=regions or {},
            source=source,
            dense=triangles is not None if dense is None else dense,
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shape_basis.shape[1])

    @property
    def n_expression(self) -> int:
        return int(self.expression_basis.shape[1])

    @property
    def landmark_valid(self) -> np.ndarray:
        """(68,) bool: which ibug landmarks have a vertex in this model."""
        return self.landmarks >= 0

    def require_dense(self, what: str) -> None:
        """Fail clearly when ``what`` needs the full mesh of a landmark-only model."""
        if not self.dense or self.triangles is None:
            raise DenseBasisUnavailable(
                f"{what} needs a dense face mesh, but model {self.name!r}"
                + (f" ({self.source})" if self.source else "")
                + " only has the 68 landmark rows of its basis. Load the full model instead "
                "(BFM: 3DDFA-V2 bfm_noneck_v3.pkl or the 3DDFA v1 53,215-vertex arrays), or "
                "use landmarks_only=True where only the 68 landmarks are needed."
            )

    # ---------------------------------------------------------- reconstruction
    def reconstruct(self, shape, expression=None, *, landmarks_only: bool = False):
        """Vertices of a batch of faces.

        Args:
            shape: (B, Ks') raw shape coefficients, Ks' <= Ks (missing ones are zero);
                numpy array or torch tensor.
            expression: (B, Ke') raw expression coefficients or ``None`` for neutral.
            landmarks_only: return only the 68 landmark vertices (NaN where unmapped).

        Returns:
            (B, N, 3) vertices, or (B, 68, 3) with ``landmarks_only``; same array library,
            dtype and device as ``shape``.
        """
        if not landmarks_only:
            self.require_dense("Dense reconstruction")
        rows = self._landmark_rows() if landmarks_only else None
        if isinstance(shape, torch.Tensor):
            return self._reconstruct_torch(shape, expression, rows)
        return self._reconstruct_numpy(np.asarray(shape), expression, rows)

    def _landmark_rows(self) -> np.ndarray:
        ids = np.where(self.landmarks >= 0, self.landmarks, 0)
        return (3 * ids[:, None] + np.arange(3)[None, :]).reshape(-1)  # (204,)

    def _parts(self, rows: np.ndarray | None):
        mean = self.mean.reshape(-1)
        if rows is None:
            return mean, self.shape_basis, self.expression_basis
        return mean[rows], self.shape_basis[rows], self.expression_basis[rows]

    def _reconstruct_numpy(self, shape, expression, rows) -> np.ndarray:
        # Not ``coefficients @ basis.T``: BLAS picks its kernel (and its rounding) by CPU, which
        # made the synthetic world differ between machines; _add_products is the same everywhere.
        mean = self.mean.reshape(-1) if rows is None else self.mean.reshape(-1)[rows]
        dtype = np.result_type(shape.dtype, np.float32)
        flat = np.broadcast_to(mean.astype(dtype), (shape.shape[0], mean.shape[0])).copy()
        _add_products(flat, shape.astype(dtype), self._components("shape", rows, dtype))
        if expression is not None:
            expression = np.asarray(expression, dtype=dtype)
            _add_products(flat, expression, self._components("expression", rows, dtype))
        return self._finish(flat.reshape(shape.shape[0], -1, 3), rows, np.nan)

    @functools.cached_property
    def _component_cache(self) -> dict:  # {(kind, dtype): (K, 3N)} for _components
        return {}

    def _components(self, kind: str, rows: np.ndarray | None, dtype) -> np.ndarray:
        """(K, R) basis of ``kind`` ("shape" or "expression"), one contiguous row per component."""
        basis = self.shape_basis if kind == "shape" else self.expression_basis
        if rows is not None:
            return np.ascontiguousarray(basis[rows].T, dtype)
        key = (kind, np.dtype(dtype).str)
        if key not in self._component_cache:
            self._component_cache[key] = np.ascontiguousarray(basis.T, dtype)
        return self._component_cache[key]

    def _reconstruct_torch(self, shape, expression, rows) -> torch.Tensor:
        mean, w_shp, w_exp = self._parts(rows)
        kw = {"dtype": shape.dtype, "device": shape.device}
        flat = _as_tensor(mean, **kw).expand(shape.shape[0], -1)
        flat = flat + shape @ _as_tensor(w_shp[:, : shape.shape[1]], **kw).T
        if expression is not None:
            expression = torch.as_tensor(expression, **kw)
            flat = flat + expression @ _as_tensor(w_exp[:, : expression.shape[1]], **kw).T
        return self._finish(flat.reshape(shape.shape[0], -1, 3), rows, float("nan"))

    def _finish(self, verts, rows, nan):
        if rows is not None and not self.landmark_valid.all():
            verts[:, ~self.landmark_valid] = nan
        return verts

    # ------------------------------------------------------------- conveniences
    def truncated(self, n_shape: int, n_expression: int) -> MorphableModel:
        """The same model restricted to its leading ``n_shape`` / ``n_expression`` components."""
        if n_shape > self.n_shape or n_expression > self.n_expression:
            raise ValueError(
                f"model {self.name!r} has {self.n_shape} shape / {self.n_expression} expression "
                f"components; {n_shape} / {n_expression} were requested (face_model.n_shape / "
                "face_model.n_expression)"
            )
        gender = None
        if self.gender_shape is not None:
            gender = {g: c[:n_shape] for g, c in self.gender_shape.items()}
        return dataclasses.replace(
            self,
            shape_basis=self.shape_basis[:, :n_shape],
            shape_std=self.shape_std[:n_shape],
            expression_basis=self.expression_basis[:, :n_expression],
            expression_std=self.expression_std[:n_expression],
            gender_shape=gender,
            shape_names=self.shape_names[:n_shape],
            expression_names=self.expression_names[:n_expression],
        )

    def gender_mean_shape(self, gender: str) -> np.ndarray:
        """(Ks,) mean shape coefficients of ``gender`` (zeros when the model has none)."""
        if self.gender_shape is None:
            return np.zeros(self.n_shape, np.float32)
        if gender not in self.gender_shape:
            raise KeyError(
                f"unknown gender {gender!r}; expected one of {sorted(self.gender_shape)}"
            )
        return self.gender_shape[gender]

    def mean_vertices(self, gender: str | None = None) -> np.ndarray:
        """(N, 3) mean face, or the mean face of one gender."""
        if gender is None:
            return np.asarray(self.mean)
        return self.reconstruct(self.gender_mean_shape(gender)[None])[0]

    def pair_distances(self, vertices) -> dict[str, np.ndarray]:
        """Distances (B,) of every measurement pair on (B, N, 3) vertices."""
        vertices = np.asarray(vertices)
        return {
            name: np.linalg.norm(vertices[:, a] - vertices[:, b], axis=-1)
            for name, (a, b) in self.pairs.items()
        }


TILE = 256  # output columns per pass: the batch's rows of them stay in cache over all K


@njit(cache=True, nogil=True)
def _add_products(out: np.ndarray, coefficients: np.ndarray, components: np.ndarray) -> None:
    """out (B, R) += coefficients (B, K') @ components[:K'] (K, R), products added in order.

    Column tiles and the component-outer loop change only the order in which elements are
    visited, not the order of the products added to each one (k = 0, 1, ...), so the result
    is bit-identical whatever ``TILE`` (twice as fast as row by row at B = 200, where every row
    streamed all K components). ``nogil``: the evaluation's scoring threads reconstruct
    concurrently."""
    n_columns = out.shape[1]
    for start in range(0, n_columns, TILE):
        stop = min(start + TILE, n_columns)
        for k in range(coefficients.shape[1]):
            component = components[k, start:stop]
            for b in range(out.shape[0]):
                row, c = out[b, start:stop], coefficients[b, k]
                for r in range(stop - start):
                    row[r] += c * component[r]
