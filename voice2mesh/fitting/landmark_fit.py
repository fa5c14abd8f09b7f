"""Fit 3DMM pose, shape and expression to 68 detected 2D landmarks, many images at once.

Per image, ``fit_landmarks`` finds the maximum a-posteriori (MAP) scaled-orthographic pose
``[sR | t]`` and raw coefficients ``α`` (shape), ``β`` (expression) of

    E = Σ_l ‖proj(X_l) − p_l‖² / σ_px²  +  λs ‖α / σs‖²  +  λe ‖β / σe‖²

over the valid landmarks l (detector-valid, finite and mapped to a model vertex), where
``X = reconstruct(α, β, landmarks_only=True)``; with λs = λe = 1 this is the MAP estimate under
the model's Gaussian prior and i.i.d. Gaussian landmark noise of std σ_px per coordinate.

Landmark noise scales with the face, so the noise is given relative to the *face size*
``f = √(w·h)`` of the bounding box of the image's detected landmarks (every finite,
detector-valid point, whether or not the model maps it, so f does not depend on the model):
``σ_px = landmark_sigma · f``. The default 0.02 is 2 px on a 100 px face, about a good 2D
detector's error plus the misfit of a low-dimensional model to a real face. Raise it for noisier
landmarks: the prior then pulls the coefficients further towards the mean face.

The iterations (``voice2mesh.fitting.solver``): ``n_iterations`` alternating pose / coefficient
steps like eos's (affine camera → nearest scaled rotation → coefficients given the pose, here
by a lifted-3D EM step that needs no per-image factorisation), then ``n_refine`` joint
Gauss-Newton steps over pose and coefficients, whose fixed point is the exact MAP estimate.
The defaults (2 + 1) buy speed with a little accuracy: on the SFM benchmark
(``benchmarks/bench_fitting.py``) 55-63x eos's throughput at landmark errors within 1.5 % of
the converged fit's (10 + 4 steps) and below eos's. The fit stops short of the exact minimum
(E above it by a median 1.5-5 % of E on synthetic SFM faces, 0.4 % on BFM ones); ``converged``
estimates that gap, and ``tol`` = 0.1 flags larger ones. Raise ``n_refine`` (4) and lower
``tol`` (1e-3) for the exact MAP estimate. All
images of a batch are solved together (tensors with a leading image axis, no loop over
images); ``batch_size`` only bounds the memory, and an image's result does not depend on the
batch it is in (up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.fitting.camera_fit import rotation_angles_batch
from voice2mesh.fitting.landmark_basis import landmark_basis
from voice2mesh.fitting.solver import fit_batch

MIN_POINTS = 4  # an affine camera needs 4 non-coplanar points


@dataclass(frozen=True, eq=False)
class FitResult:
    """Per-image landmark fits; every field has a leading image axis M.

    Attributes:
        pose: (M, 3, 4) ``[sR | t]`` in the ``voice2mesh.render.camera`` convention (x = column,
            y = height up from the image bottom, tz = 0).
        shape: (M, Ks) raw shape coefficients α.
        expression: (M, Ke) raw expression coefficients β.
        residual_px: (M,) RMS landmark error in pixels, ``√(Σ_l ‖proj(X_l) − p_l‖² / n_valid)``.
        residual_norm: (M,) ``residual_px / face_size_px``.
        face_size_px: (M,) √(bbox width · height) of the detected landmarks (module docstring).
        converged: (M,) finite and E within tol · (1 + E) of its minimum, as estimated by
            ``fit_landmarks`` (see ``tol``).
        objective: (M,) final MAP objective E (dimensionless).
        yaw, pitch, roll: (M,) degrees (``voice2mesh.render.camera.rotation_angles``).
        expression_strength: (M,) ``‖β / σe‖ / √Ke``, ≈ 1 for a typical expression, 0 neutral.
        n_valid: (M,) landmarks used (detector-valid, finite and mapped by the model).
    """

    pose: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    residual_px: np.ndarray
    residual_norm: np.ndarray
    face_size_px: np.ndarray
    converged: np.ndarray
    objective: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    expression_strength: np.ndarray
    n_valid: np.ndarray

    def __len__(self) -> int:
        return int(self.pose.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field by name (e.g. for ``np.savez``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _face_size(xy: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(M,) √(w·h) of the bounding box of the usable points (NaN with fewer than 2).

    Args:
        xy: (M, 2, 68) points, coordinate-major.
        usable: (M, 68) bool.
    """
    mask = ~usable[:, None]
    extent = np.where(mask, -np.inf, xy).max(2) - np.where(mask, np.inf, xy).min(2)  # (M, 2)
    with np.errstate(invalid="ignore"):
        size = np.sqrt(extent[:, 0] * extent[:, 1])
    return np.where(usable.sum(1) >= 2, size, np.nan)


def _check_inputs(
    points: np.ndarray, heights: np.ndarray, valid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Height-up (M, 2, 68) points and the (M, 68) usable mask (valid and finite)."""
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"points must be (M, 68, 2) image (x, row) landmarks, got {points.shape}")
    m = points.shape[0]
    heights = np.broadcast_to(np.asarray(heights, np.float64), (m,))
    valid = np.ones((m, 68), bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != (m, 68):
        raise ValueError(f"valid must be (M, 68) = ({m}, 68) booleans, got {valid.shape}")
    xy = np.stack([points[..., 0], heights[:, None] - points[..., 1]], 1)  # (M, 2, 68)
    return xy, valid & np.isfinite(xy).all(1)


def fit_landmarks(
    model: MorphableModel,
    points: np.ndarray,
    heights: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    n_iterations: int = 2,
    n_refine: int = 1,
    landmark_sigma: float = 0.02,
    shape_prior: float = 1.0,
    expression_prior: float = 1.0,
    tol: float = 0.1,
    batch_size: int = 256,
    device: str = "cpu",
) -> FitResult:
    """MAP fit of pose, shape and expression to 68 landmarks per image (module docstring).

    Args:
        model: any face model; only its 68 landmark rows are used (``bfm68`` works).
        points: (M, 68, 2) landmarks in image coordinates (x = column, row), ibug order.
        heights: (M,) image heights in pixels (rows become heights up: ``y = H − row``).
        valid: optional (M, 68) bool, False for landmarks to ignore (e.g. occluded). Non-finite
            points and landmarks the model has no vertex for are always ignored.
        n_iterations: alternating pose / coefficient iterations (≥ 1).
        n_refine: joint Gauss-Newton refinement steps afterwards (≥ 0).
        landmark_sigma: landmark noise std as a fraction of the face size (> 0).
        shape_prior: weight λs of the shape prior (1 = the model's prior).
        expression_prior: weight λe of the expression prior (1 = the model's prior).
        tol: convergence tolerance relative to 1 + E: with refinement on the decrease of E that
            one more Gauss-Newton step would bring (the final gradient against the last step's
            normal matrix); without refinement on the change over the last alternating
            iteration, which can stall before the minimum.
        batch_size: images solved together (memory grows as batch_size · (6 + K)²).
        device: torch device.

    Returns:
        The ``FitResult``; images with fewer than 4 usable landmarks get NaN parameters.
    """
    if n_iterations < 1 or n_refine < 0 or landmark_sigma <= 0 or batch_size < 1:
        raise ValueError(
            "need n_iterations >= 1, n_refine >= 0, landmark_sigma > 0 and batch_size >= 1; "
            f"got {n_iterations}, {n_refine}, {landmark_sigma}, {batch_size}"
        )
    xy, usable = _check_inputs(points, heights, valid)
    basis = landmark_basis(model, float(shape_prior), float(expression_prior), str(device))
    size = _face_size(xy, usable)  # from every usable point, mapped by the model or not
    xy, weights = xy[:, :, basis.index], usable[:, basis.index]  # (M, 2, L), (M, L)
    n_valid = weights.sum(1)
    ok = (n_valid >= MIN_POINTS) & np.isfinite(size) & (size > 0)
    # Targets centred on the valid landmarks and divided by the face size. Hopeless images
    # get a harmless stand-in (the mean face) and NaN results, so nothing non-finite enters
    # the batched algebra.
    centre = np.where(weights[:, None], xy, 0.0).sum(2) / np.maximum(n_valid, 1)[:, None]
    q = (xy - centre[..., None]) / np.where(ok, size, 1.0)[:, None, None]
    stand_in = basis.mean[:2].cpu().numpy() / 100.0  # (2, L)
    q = np.where(ok[:, None, None] & weights[:, None], q, stand_in)
    w = weights | ~ok[:, None]
    chunks = []
    for start in range(0, max(len(q), 1), batch_size):  # one (empty) batch for M = 0
        part = slice(start, start + batch_size)
        chunks.append(
            fit_batch(basis, q[part], w[part], landmark_sigma, n_iterations, n_refine, device)
        )
    R, s, t, y, energy, change, misfit = (
        np.concatenate(parts) for parts in zip(*chunks, strict=True)
    )
    raw = y @ basis.to_raw.cpu().numpy()  # (M, K)
    shape, expression = raw[:, : basis.n_shape], raw[:, basis.n_shape :]
    pose = np.concatenate([(s * size)[:, None, None] * R, np.zeros((len(R), 3, 1))], 2)
    pose[:, :2, 3] = t * size[:, None] + centre
    pose[~ok], shape[~ok], expression[~ok] = np.nan, np.nan, np.nan
    converged = change <= tol * (1.0 + np.abs(energy))
    squared_px = misfit * np.where(ok, size, np.nan) ** 2  # (M,) Σ_l ‖proj(X_l) − p_l‖² in px²
    return _package(model, pose, shape, expression, squared_px, n_valid, size, energy, converged)


def _package(
    model: MorphableModel,
    pose: np.ndarray,
    shape: np.ndarray,
    expression: np.ndarray,
    squared_px: np.ndarray,
    n_valid: np.ndarray,
    size: np.ndarray,
    energy: np.ndarray,
    converged: np.ndarray,
) -> FitResult:
    """The residual in pixels and the summary fields of the fits."""
    finite = np.isfinite(pose).all((1, 2)) & np.isfinite(shape).all(1)
    finite &= np.isfinite(expression).all(1) & np.isfinite(energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = np.where(finite, np.sqrt(squared_px / n_valid), np.nan)
    scale = np.linalg.norm(pose[:, 0, :3], axis=-1)
    yaw, pitch, roll = rotation_angles_batch(pose[:, :, :3] / scale[:, None, None])
    strength = np.linalg.norm(expression / model.expression_std, axis=1)
    return FitResult(
        pose=pose,
        shape=shape,
        expression=expression,
        residual_px=residual,
        residual_norm=residual / size,
        face_size_px=size,
        converged=finite & converged,
        objective=np.where(finite, energy, np.nan),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        expression_strength=strength / np.sqrt(max(model.n_expression, 1)),
        n_valid=n_valid,
    )


def diverged_reasons(
    result: FitResult, *, max_residual_norm: float = 0.1, min_valid: int = 20
) -> list[str | None]:
    """Why each fit should be rejected (None for a usable fit).

    Args:
        result: fits of M images.
        max_residual_norm: largest acceptable ``residual_norm`` (fraction of the face size).
        min_valid: fewest landmarks a fit may rest on.

    Returns:
        M entries: None, or the reasons joined by "; ", e.g. "fewer than 20 valid landmarks (3)";
        a fit with no other problem that did not converge gets "did not converge".
    """
    reasons: list[str | None] = []
    scale = np.linalg.norm(result.pose[:, 0, :3], axis=-1)
    for i in range(len(result)):
        why = []
        if result.n_valid[i] < min_valid:
            why.append(f"fewer than {min_valid} valid landmarks ({int(result.n_valid[i])})")
        params = (result.pose[i], result.shape[i], result.expression[i])
        if not all(np.isfinite(x).all() for x in params):
            why.append("non-finite parameters")
        elif not scale[i] > 0:
            why.append("pose scale ≤ 0")
        if result.residual_norm[i] > max_residual_norm:
            why.append(
                f"landmark residual {result.residual_norm[i]:.3g} of face size > "
                f"{max_residual_norm:g}"
            )
        if not why and not result.converged[i]:
            why.append("did not converge")
        reasons.append("; ".join(why) if why else None)
    return reasons
