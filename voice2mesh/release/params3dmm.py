"""The release's per-image 3DMM parameters, mapped to 3DDFA's 40 shape + 10 expression.

Voxceleb-3D gives each reconstructed face as BFM-2009 parameters: 199 shape and 29 expression
coefficients (the authors' README, "Voxceleb-3D" (1) and "Evaluation" 1). Files are read as one
plain float array of 228 values, shape first: the README names the two parts in that order
(199 + 29) but documents no file layout, and no release parameter file is among the reference
assets, so other layouts are refused with a message saying what was expected.

The mapping to this project's coefficients is truncation, both for shape and expression:

* shape: the first 40 of 199. The README: "SynergyNet follows 3DDFA-v2 and uses the first
  40-dim out of 199-dim as the shape code. Thus, the first 40 in 199 correspond to first 40-dim
  in SynergyNet".
* expression: the first 10 of 29. The authors' code has no 29 -> 10 step of its own: its
  networks (``network.py``: ``SynergyNet.reconstruct_vertex``, ``Generator1D_directMLP``) use
  3DDFA's 10-column ``w_exp``, and 3DDFA builds that basis by keeping the first 10 columns of
  the 29-column one, as it keeps the first 40 of the 199 shape columns (cleardusk/3DDFA
  ``utils/io.py`` ``load_bfm``, lines 69-72: ``w_shp[:, :40]``, ``w_exp[:, :10]``). So the
  first 10 of the 29 coefficients are 3DDFA's 10, in 3DDFA's raw units.

Both are in 3DDFA's raw units, the units of this project's BFM coefficients
(``facemodel.bfm``), so they are stored unscaled. Components past 40 / 10 are dropped: the
project's BFM bases have no columns for them. A coefficient more than ``MAX_SIGMAS`` prior
standard deviations (3DDFA-V2's, ``facemodel.bfm.DEFAULT_*_STD``) from the mean face marks a
file in other units or a broken fit; it is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice2mesh.facemodel.bfm import DEFAULT_EXPRESSION_STD, DEFAULT_SHAPE_STD
from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.release.errors import ReleaseError, ReleaseFileError
from voice2mesh.release.npy import load_npy

N_SHAPE_BFM, N_EXPRESSION_BFM = 199, 29  # the release's BFM-2009 parameters per image
N_SHAPE, N_EXPRESSION = len(DEFAULT_SHAPE_STD), len(DEFAULT_EXPRESSION_STD)  # 3DDFA's 40 + 10
MAX_SIGMAS = 20.0  # a real face's coefficients lie within a few prior std of the mean


def check_counts(n_shape: int, n_expression: int) -> None:
    """Refuse component counts the release or the project's BFM cannot give."""
    if not (1 <= n_shape <= N_SHAPE and 0 <= n_expression <= N_EXPRESSION):
        raise ReleaseError(
            f"n_shape {n_shape} / n_expression {n_expression}: the release maps to at most "
            f"3DDFA's {N_SHAPE} shape / {N_EXPRESSION} expression components (the project's BFM "
            "bases); set face_model.n_shape / n_expression within those"
        )


def read_params(
    path: Path | str, n_shape: int = N_SHAPE, n_expression: int = N_EXPRESSION
) -> tuple[np.ndarray, np.ndarray]:
    """One parameter file as 3DDFA's raw coefficients: ((n_shape,), (n_expression,)) float64.

    Args:
        path: a ``.npy`` holding 228 floats: 199 shape, then 29 expression (any shape with
            228 elements and one non-unit axis, e.g. (228,), (228, 1)).
        n_shape: leading shape components kept (<= 40).
        n_expression: leading expression components kept (<= 10).

    Raises:
        ReleaseFileError: unreadable or pickled (``unreadable``), not 228 floats
            (``bad_shape``), NaN / infinity (``non_finite``), or beyond ``MAX_SIGMAS``
            (``implausible``).
    """
    check_counts(n_shape, n_expression)
    total = N_SHAPE_BFM + N_EXPRESSION_BFM
    fix = f"save np.concatenate([shape_199, expression_29]) ({total} floats) with np.save"
    array = load_npy(path, fix)
    if array.dtype.kind != "f" or array.size != total or sum(n > 1 for n in array.shape) != 1:
        raise ReleaseFileError(
            path,
            f"holds {array.dtype} {array.shape}; expected {total} floats: {N_SHAPE_BFM} BFM-2009 "
            f"shape then {N_EXPRESSION_BFM} expression coefficients",
            "bad_shape",
        )
    values = array.reshape(-1).astype(np.float64)
    if not np.isfinite(values).all():
        raise ReleaseFileError(path, "holds NaN or infinite coefficients", "non_finite")
    shape = values[:N_SHAPE_BFM][:n_shape]
    expression = values[N_SHAPE_BFM:][:n_expression]
    z = np.concatenate(
        [shape / DEFAULT_SHAPE_STD[:n_shape], expression / DEFAULT_EXPRESSION_STD[:n_expression]]
    )
    if np.abs(z).max() > MAX_SIGMAS:
        k = int(np.argmax(np.abs(z)))
        which = f"shape {k}" if k < n_shape else f"expression {k - n_shape}"
        raise ReleaseFileError(
            path,
            f"coefficient {which} is {np.abs(z).max():.3g} prior standard deviations from the "
            f"mean face (limit {MAX_SIGMAS:g}); expected 3DDFA's raw units (shape std ~1e4-6e5)",
            "implausible",
        )
    return shape, expression


def release_fits(shape: np.ndarray, expression: np.ndarray) -> FitResult:
    """The authors' fits as ``FitResult`` rows, for the ``fit3dmm`` store.

    They give no pose and no landmark residuals, so those fields are NaN and ``n_valid`` 0;
    ``converged`` is True (the fit is taken as given) and ``expression_strength`` is
    ``‖β / σe‖ / √Ke`` with 3DDFA-V2's σe, as ``fit_landmarks`` computes it.

    Args:
        shape: (M, Ks) raw shape coefficients.
        expression: (M, Ke) raw expression coefficients.
    """
    m, ke = len(shape), expression.shape[1]
    nan = np.full(m, np.nan)
    strength = np.linalg.norm(expression / DEFAULT_EXPRESSION_STD[:ke], axis=1) / np.sqrt(
        max(ke, 1)
    )
    return FitResult(
        pose=np.full((m, 3, 4), np.nan),
        shape=np.asarray(shape, np.float64),
        expression=np.asarray(expression, np.float64),
        residual_px=nan,
        residual_norm=nan.copy(),
        face_size_px=nan.copy(),
        converged=np.ones(m, bool),
        objective=nan.copy(),
        yaw=nan.copy(),
        pitch=nan.copy(),
        roll=nan.copy(),
        expression_strength=strength,
        n_valid=np.zeros(m, np.int64),
    )
