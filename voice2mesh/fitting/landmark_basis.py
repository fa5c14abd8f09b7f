"""The 68 landmark rows of a face model, prepared once for batched landmark fitting.

Only ``MorphableModel.reconstruct(..., landmarks_only=True)`` is used, so landmark-only models
(``bfm68``) work exactly like dense ones. The bases are *whitened* (one unit = one prior
standard deviation divided by the square root of the prior weight) and then *rotated* by the
eigenvectors of their Gram matrix, so that the coefficient prior is ``‖y‖²`` and the 3D
data term ``Σ_l ‖B_l y‖²`` is ``Σ_k E_k y_k²``: the whitened, rotated coordinates ``y`` make
the lifted-3D coefficient step of the fitter a diagonal (per-coefficient) operation.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch

from voice2mesh.facemodel.model import MorphableModel

# Unique entries of a symmetric 3x3 matrix G, in the order G6 uses (xx, yy, zz, xy, xz, yz).
PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


@dataclass(frozen=True, eq=False)
class LandmarkBasis:
    """Landmark rows of a model in the fitter's coordinates (torch, float64, on one device).

    Attributes:
        index: (L,) int64 ibug indices (0-based) of the L landmarks the model has vertices for;
            only these take part in fitting.
        mean: (3, L) mean landmark positions in mm (coordinate-major: the landmark axis is
            last so that torch vectorises along it).
        basis: (3, L, K) rotated whitened basis ``B``; coordinate c of landmark l moves by
            ``B[c, l] @ y`` mm. K = Ks + Ke.
        eigenvalues: (K,) ``E`` with ``Σ_cl B[c, l]ᵀ B[c, l] = diag(E)``, descending: the
            leading directions move the landmarks most per prior standard deviation.
        to_raw: (K, K) raw coefficients ``[α, β] = y @ to_raw`` (model units).
        pair_products: (6, K, K) ``B[c]ᵀ B[d]`` for the (c, d) of ``PAIRS``, the off-diagonal
            pairs symmetrised (``C_cd + C_dc``), so that for a symmetric 3x3 ``G`` the sum over
            landmarks ``Σ_l B[:, l]ᵀ G B[:, l] = Σ_j G6[j] pair_products[j]`` with
            ``G6 = G[PAIRS]``.
        product_diagonals: (6, K) the diagonals of ``pair_products``.
        n_shape: Ks (the first Ks raw coefficients are shape, the rest expression).
        size_mm: √(w·h) of the mean face's landmark bounding box (x, y) in mm.
    """

    index: np.ndarray
    mean: torch.Tensor
    basis: torch.Tensor
    eigenvalues: torch.Tensor
    to_raw: torch.Tensor
    pair_products: torch.Tensor
    product_diagonals: torch.Tensor
    n_shape: int
    size_mm: float

    def to(self, dtype: torch.dtype) -> LandmarkBasis:
        """The same basis with its tensors in ``dtype``."""
        changes = {
            f.name: getattr(self, f.name).to(dtype)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **changes)

    @property
    def flat(self) -> torch.Tensor:
        """(3L, K) the basis with coordinate and landmark axes merged (rows c L + l)."""
        return self.basis.reshape(-1, self.basis.shape[-1])


def _landmark_bases(model: MorphableModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (3, L) and per-sigma bases (3, L, Ks), (3, L, Ke) of the L mapped landmarks."""
    ks, ke = model.n_shape, model.n_expression
    shape_std = model.shape_std.astype(np.float64)
    expression_std = model.expression_std.astype(np.float64)
    mean = model.reconstruct(np.zeros((1, ks)), landmarks_only=True)[0]  # (68, 3)
    # One prior sigma per coefficient keeps the differences well scaled (BFM stds are ~1e5).
    shape = model.reconstruct(np.diag(shape_std), landmarks_only=True) - mean  # (Ks, 68, 3)
    expression = (
        model.reconstruct(np.zeros((ke, ks)), np.diag(expression_std), landmarks_only=True) - mean
    )  # (Ke, 68, 3)
    mapped = model.landmark_valid
    return (
        mean[mapped].T,  # (3, L)
        shape[:, mapped].transpose(2, 1, 0),  # (3, L, Ks)
        expression[:, mapped].transpose(2, 1, 0),  # (3, L, Ke)
    )


@functools.lru_cache(maxsize=8)
def landmark_basis(
    model: MorphableModel, shape_prior: float, expression_prior: float, device: str
) -> LandmarkBasis:
    """Prepare (and cache) a model's landmark rows for fitting.

    Args:
        model: any ``MorphableModel`` (dense or landmark-only).
        shape_prior: weight λs > 0 of the standard-normal shape prior ``λs ‖α/σs‖²``.
        expression_prior: weight λe > 0 of the expression prior ``λe ‖β/σe‖²``.
        device: torch device string.

    Returns:
        The ``LandmarkBasis``.
    """
    if shape_prior <= 0 or expression_prior <= 0:
        raise ValueError(
            f"shape_prior and expression_prior must be > 0 (got {shape_prior}, "
            f"{expression_prior}): without a prior the 68 landmarks do not determine every "
            "coefficient"
        )
    mean, shape, expression = _landmark_bases(model)
    scale = np.concatenate(
        [
            model.shape_std.astype(np.float64) / np.sqrt(shape_prior),
            model.expression_std.astype(np.float64) / np.sqrt(expression_prior),
        ]
    )  # (K,) raw units per whitened unit
    whitened = np.concatenate(
        [shape / np.sqrt(shape_prior), expression / np.sqrt(expression_prior)], axis=2
    )  # (3, L, K)
    flat = whitened.reshape(-1, whitened.shape[2])
    eigenvalues, vectors = np.linalg.eigh(flat.T @ flat)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]  # most informative first
    rotated = whitened @ vectors  # (3, L, K)
    products = []
    for c, d in PAIRS:
        product = rotated[c].T @ rotated[d]
        products.append(product if c == d else product + product.T)
    as_tensor = functools.partial(torch.as_tensor, dtype=torch.float64, device=device)
    return LandmarkBasis(
        index=np.flatnonzero(model.landmark_valid),
        mean=as_tensor(mean),
        basis=as_tensor(rotated),
        eigenvalues=as_tensor(np.clip(eigenvalues, 0.0, None)),
        to_raw=as_tensor(vectors.T * scale[None, :]),
        pair_products=as_tensor(np.stack(products)),
        product_diagonals=as_tensor(np.stack([np.diag(p) for p in products])),
        n_shape=model.n_shape,
        size_mm=float(np.sqrt(np.prod(np.ptp(mean[:2], axis=1)))),
    )
