"""One photo's 68 landmarks → a fitted 3DMM face, its landmark error, and an overlay picture.

The fit is the ``fit3dmm`` stage's: ``voice2mesh.fitting.fit_landmarks`` (MAP pose + shape +
expression, scaled orthographic) with the stage's default settings, on one image. The error is
the RMS distance in pixels between the input landmarks and the fitted model's projected ones,
over the landmarks the fit used (those the model has a vertex for: all 68 for BFM and the
synthetic model, 50 for the SFM, whose jaw contour is unmapped), and the same over the
outer-eye-corner distance of the input (ibug points 37 and 46, 1-based), the usual
normalisation of landmark errors (300-W).

This module sits beside ``cli.py``, not in ``fitting/`` or ``render/``, so that editing it does
not rerun the pipeline stages that depend on those packages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.fitting import FitResult, fit_landmarks
from voice2mesh.render import draw_landmarks, image_grid, overlay, project, render, to_pixels

EYE_CORNERS = (36, 45)  # ibug 37 and 46 (1-based): the outer eye corners
DETECTED = (0, 200, 0)  # green
FITTED = (40, 90, 255)  # blue
MARGIN = 0.15  # free border around the face in the overlay, a fraction of the face's extent


@dataclass(frozen=True, eq=False)
class PhotoFit:
    """One photo's fit.

    Attributes:
        result: ``fit_landmarks``'s result for this one image (fields of length 1).
        detected: (68, 2) the input landmarks (x, row).
        fitted: (68, 2) the fitted face's landmarks projected into the photo (x, row); NaN
            where the model has no vertex.
        used: (68,) bool, the landmarks the fit used (finite and mapped by the model).
        rmse_px: RMS point distance between ``detected`` and ``fitted`` over ``used``, pixels.
        rmse_eye: ``rmse_px`` over the outer-eye-corner distance of ``detected`` (NaN when
            either corner is missing).
        seconds: wall time of the fit.
    """

    result: FitResult
    detected: np.ndarray
    fitted: np.ndarray
    used: np.ndarray
    rmse_px: float
    rmse_eye: float
    seconds: float

    @property
    def finite(self) -> bool:
        """Whether the fit produced finite parameters (it needs ≥ 4 usable landmarks)."""
        r = self.result
        return bool(np.isfinite(r.pose).all() and np.isfinite(r.shape).all())


def fit_photo(
    model: MorphableModel, points: np.ndarray, height: int, landmark_sigma: float = 0.02
) -> PhotoFit:
    """Fit ``model`` to one photo's (68, 2) landmarks (x, row) of an image ``height`` rows tall.

    Args:
        model: any face model (a landmark-only one such as ``bfm68`` fits too).
        points: (68, 2) ibug landmarks in image coordinates; NaN points are ignored.
        height: the photo's height in pixels.
        landmark_sigma: landmark noise std as a fraction of the face size (``fit3dmm``'s).
    """
    points = np.asarray(points, np.float64)
    start = time.perf_counter()
    result = fit_landmarks(model, points[None], np.array([height]), landmark_sigma=landmark_sigma)
    seconds = time.perf_counter() - start
    X = model.reconstruct(
        np.nan_to_num(result.shape), np.nan_to_num(result.expression), landmarks_only=True
    )[0]  # (68, 3), NaN where unmapped
    fitted = to_pixels(project(X, result.pose[0]), height)[:, :2]  # (68, 2)
    used = model.landmark_valid & np.isfinite(points).all(1) & np.isfinite(fitted).all(1)
    rmse = (
        float(np.sqrt(((fitted[used] - points[used]) ** 2).sum(1).mean())) if used.any() else np.nan
    )
    eyes = float(np.linalg.norm(points[EYE_CORNERS[0]] - points[EYE_CORNERS[1]]))
    return PhotoFit(
        result, points, fitted, used, rmse, rmse / eyes if eyes > 0 else np.nan, seconds
    )


def fitted_vertices(model: MorphableModel, fit: PhotoFit) -> np.ndarray:
    """(N, 3) the fitted face in the model's canonical frame (mm; the pose is not applied)."""
    return model.reconstruct(fit.result.shape, fit.result.expression)[0]


def _crop_box(image: np.ndarray, points: np.ndarray) -> tuple[int, int, int, int]:
    """x0, r0, x1, r1: the finite ``points``' bounding box grown by ``MARGIN``, in the image."""
    h, w = image.shape[:2]
    finite = points[np.isfinite(points).all(1)]
    lo, hi = finite.min(0), finite.max(0)
    grow = MARGIN * (hi - lo).max()
    x0, r0 = np.clip(np.floor(lo - grow), 0, [w - 1, h - 1]).astype(int)
    x1, r1 = np.clip(np.ceil(hi + grow), [x0 + 1, r0 + 1], [w, h]).astype(int)
    return int(x0), int(r0), int(x1), int(r1)


def fit_overlay(image: np.ndarray, model: MorphableModel, fit: PhotoFit, size: int) -> np.ndarray:
    """(H', W', 3) uint8: the photo around the face, its longer side ``size`` pixels, with the
    fitted mesh shaded over it (dense models only), the input landmarks green (rings: not used
    by the fit) and the fitted ones blue (rings: hidden by the mesh), and the RMSE as caption.

    Args:
        image: (H, W, 3) uint8 photo.
        model: the fitted model.
        fit: ``fit_photo``'s result on ``image``.
        size: pixels of the picture's longer side (the crop is scaled up or down to it).
    """
    pose = fit.result.pose[0]  # (3, 4) in the photo's pixels, y up from the bottom
    vertices = fitted_vertices(model, fit) if model.dense else None
    extent = [fit.detected, fit.fitted]
    if vertices is not None:
        extent.append(to_pixels(project(vertices, pose), image.shape[0])[:, :2])
    x0, r0, x1, r1 = _crop_box(image, np.concatenate(extent))
    scale = size / max(x1 - x0, r1 - r0)
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((r1 - r0) * scale))
    k = np.array([w / (x1 - x0), h / (r1 - r0)])  # (2,) x and row scale of the crop
    view = np.asarray(Image.fromarray(image[r0:r1, x0:x1]).resize((w, h), Image.Resampling.LANCZOS))
    visible = np.isfinite(fit.fitted).all(1)
    if vertices is not None:
        # The crop's own pose: x' = kx (x - x0); height up y' = ky (y - (H - r1)).
        shifted = pose * np.array([[k[0]], [k[1]], [k.mean()]])
        shifted[:2, 3] = k * (pose[:2, 3] - [x0, image.shape[0] - r1])
        shaded = render(vertices, model.triangles, shifted, (h, w), landmarks=model.landmarks)
        view = overlay(view, shaded, alpha=0.5)
        visible &= shaded.landmarks_visible
    radius = max(1.5, size / 160)
    view = draw_landmarks(
        view, (fit.detected - [x0, r0]) * k, fit.used, DETECTED, radius, hidden_color=DETECTED
    )
    view = draw_landmarks(
        view, (fit.fitted - [x0, r0]) * k, visible, FITTED, radius, hidden_color=FITTED
    )
    caption = (
        "green: input, blue: fitted\n"
        f"RMSE {fit.rmse_px:.1f} px = {fit.rmse_eye:.3f} of the eye-corner distance"
    )
    return image_grid([[view]], col_labels=[caption])
