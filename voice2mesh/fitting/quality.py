"""How close fitted faces are to known true faces (the synthetic world's instrument).

Two distances between a fitted and a true neutral face:

* ``vertex_rmse_mm``: per-vertex RMSE in the canonical frame. Neutral faces differ only through
  their shape coefficients, so it is exact from the coefficient difference and the basis' Gram
  matrix, ``RMSE² = Δαᵀ (WᵀW) Δα / N``, without building meshes.
* ``aligned_rmse_mm``: the same after the best uniform scale and translation of the fit onto the
  truth. Landmarks in a (scaled-orthographic) photo say nothing about a face's absolute size,
  which the camera scale absorbs, so this is what a fit can recover; it is also why the paper's
  metrics normalise by the outer interocular distance.

Floors: the population mean face and the gender mean face, compared with the same truth.
"""

from __future__ import annotations

import numpy as np

from voice2mesh.facemodel import MorphableModel


def vertex_rmse(model: MorphableModel, shape_a: np.ndarray, shape_b: np.ndarray) -> np.ndarray:
    """(M,) per-vertex RMSE in mm between neutral faces with shape coefficients (M, Ks)."""
    model.require_dense("Per-vertex RMSE")
    w = model.shape_basis.astype(np.float64)
    gram = w.T @ w  # (Ks, Ks)
    delta = np.asarray(shape_a, np.float64) - np.asarray(shape_b, np.float64)
    return np.sqrt(np.einsum("mi,ij,mj->m", delta, gram, delta) / model.n_vertices)


def aligned_rmse(
    model: MorphableModel, shape_a: np.ndarray, shape_b: np.ndarray, chunk: int = 128
) -> np.ndarray:
    """(M,) per-vertex RMSE in mm after the best scale + translation of face a onto face b."""
    out = []
    for start in range(0, len(shape_a), chunk):
        a = model.reconstruct(np.asarray(shape_a[start : start + chunk], np.float32))
        b = model.reconstruct(np.asarray(shape_b[start : start + chunk], np.float32))
        a = a - a.mean(axis=1, keepdims=True)  # (B, N, 3)
        b = b - b.mean(axis=1, keepdims=True)
        scale = (a * b).sum(axis=(1, 2)) / (a * a).sum(axis=(1, 2))  # (B,)
        residual = scale[:, None, None] * a - b
        out.append(np.sqrt((residual**2).sum(axis=2).mean(axis=1)))
    return np.concatenate(out) if out else np.zeros(0)


def coefficient_rmse(model: MorphableModel, shape_a: np.ndarray, shape_b: np.ndarray) -> np.ndarray:
    """(M,) RMS over components of the coefficient difference in prior standard deviations."""
    delta = (np.asarray(shape_a) - np.asarray(shape_b)) / model.shape_std
    return np.sqrt(np.mean(delta**2, axis=1))


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "median": round(float(np.median(values)), 4)}


def fit_quality(
    model: MorphableModel, fitted: np.ndarray, true: np.ndarray, genders: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """Fit quality against truth with the mean-face floors.

    Args:
        model: the face model of both fits and truth.
        fitted: (M, Ks) fitted shape coefficients.
        true: (M, Ks) true shape coefficients of the same faces.
        genders: (M,) gender of each face (for the gender-mean floor).

    Returns:
        ``{"fit" | "mean_face" | "gender_mean_face": {"vertex_rmse_mm" | "aligned_rmse_mm" |
        "coef_rmse_sd": {"mean", "median"}}}``.
    """
    floors = {
        "mean_face": np.zeros_like(true),
        "gender_mean_face": np.stack([model.gender_mean_shape(str(g)) for g in genders]),
    }
    out = {}
    for name, estimate in {"fit": fitted, **floors}.items():
        out[name] = {
            "vertex_rmse_mm": _summary(vertex_rmse(model, estimate, true)),
            "aligned_rmse_mm": _summary(aligned_rmse(model, estimate, true)),
            "coef_rmse_sd": _summary(coefficient_rmse(model, estimate, true)),
        }
    return out
