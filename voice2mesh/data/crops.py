"""3DDFA-V2's face crop and its 62-d parameter layout: crop boxes, crops, pose conversions.

Guo et al., *Towards Fast, Accurate and Stable 3D Dense Face Alignment* (ECCV 2020); the
teacher (``models.teacher``) sees faces cut this way and predicts parameters in this frame.

Parameters (3DDFA-V2's 62-d layout): ``p[:12].reshape(3, 4) = [R | offset]`` (R includes the
scale), ``p[12:52]`` shape, ``p[52:62]`` expression coefficients, raw. The pose acts on vertices
in **micrometres** (3DDFA's BFM units; ours are mm, hence ``UM_PER_MM``) and lands in the
120x120 crop frame, y up:

    q = R @ (1000 * X_mm) + offset                                         (project_params)
    image x = (q_x - 1) * kx + sx,  image y = (120 - q_y) * ky + sy        (similar_transform)

with ``kx, ky = (ex - sx) / 120, (ey - sy) / 120`` of the crop's box; 3DDFA-V2's pixel-index
coordinates (pixel centre at an integer) become voice2mesh's (x, row) (pixel centre at +0.5) by
adding 0.5. Boxes ``(x1, y1, x2, y2)`` are in image pixels as a face detector gives them; the crop
covers the rounded ``roi_box_from_bbox`` box, zero-padded outside the image (``crop_img``), and
is resized to 120x120 (bilinear; 3DDFA-V2 uses OpenCV's INTER_LINEAR).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from voice2mesh.facemodel.bfm import UM_PER_MM
from voice2mesh.facemodel.model import MorphableModel

CROP_SIZE = 120  # 3DDFA-V2's input side
HALF_PIXEL = 0.5  # voice2mesh (x, row) = 3DDFA-V2 pixel-index coordinates + 0.5


def roi_box_from_bbox(bbox: np.ndarray) -> np.ndarray:
    """3DDFA-V2's ``parse_roi_box_from_bbox``: (..., 4) face boxes -> (..., 4) square crop boxes.

    The side is ``int(1.58 * (w + h) / 2)`` and the centre moves down by 0.14 of ``(w + h) / 2``.
    """
    bbox = np.asarray(bbox, np.float64)
    left, top, right, bottom = np.moveaxis(bbox[..., :4], -1, 0)
    old_size = (right - left + bottom - top) / 2
    cx, cy = right - (right - left) / 2, bottom - (bottom - top) / 2 + old_size * 0.14
    size = np.trunc(old_size * 1.58)
    sx, sy = cx - size / 2, cy - size / 2
    return np.stack([sx, sy, sx + size, sy + size], axis=-1)


def box_from_landmarks(points: np.ndarray) -> np.ndarray:
    """(..., 68, 2) voice2mesh (x, row) landmarks -> (..., 4) their bounding box in box pixels."""
    points = np.asarray(points, np.float64) - HALF_PIXEL
    return np.concatenate([np.nanmin(points, axis=-2), np.nanmax(points, axis=-2)], axis=-1)


def crop_faces(
    images: Sequence[np.ndarray], roi_boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cut and resize one crop per box (3DDFA-V2's ``crop_img`` + resize).

    Args:
        images: N images (H, W, 3) uint8 (any channel order; 3DDFA-V2 expects BGR), or one image
            per box.
        roi_boxes: (N, 4) crop boxes (``roi_box_from_bbox``).

    Returns:
        ``(crops, boxes)``: (N, 120, 120, 3) uint8 and the (N, 4) rounded boxes they cover (use
        these to map points back, ``crop_to_image``).
    """
    boxes = np.round(np.asarray(roi_boxes, np.float64).reshape(-1, 4))
    if len(images) != len(boxes):
        raise ValueError(f"crop_faces: {len(images)} images but {len(boxes)} boxes")
    crops = np.empty((len(boxes), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for i, (image, box) in enumerate(zip(images, boxes, strict=True)):
        crop = Image.fromarray(np.asarray(image, np.uint8)).crop(tuple(int(v) for v in box))
        crops[i] = np.asarray(crop.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR))
    return crops, boxes


def _box_scales(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    boxes = np.asarray(boxes, np.float64)
    sx, sy, ex, ey = np.moveaxis(boxes, -1, 0)
    kx, ky = (ex - sx) / CROP_SIZE, (ey - sy) / CROP_SIZE
    return sx, sy, kx, ky, (kx + ky) / 2


def pose_to_crop(pose: np.ndarray, boxes: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Image poses -> 3DDFA-V2's 12-d crop-frame poses (the inverse of ``crop_pose_to_image``).

    Args:
        pose: (N, 3, 4) ``[sR | t]`` on mm vertices in ``voice2mesh.render.camera``'s convention
            (x = column, y = height up from the bottom of an image of height H).
        boxes: (N, 4) the boxes the crops cover.
        heights: (N,) image heights H.

    Returns:
        (N, 12) float64 ``[R | offset]`` rows, acting on micrometre vertices (module docstring).
    """
    pose = np.asarray(pose, np.float64)
    sx, sy, kx, ky, k = _box_scales(boxes)
    h = np.asarray(heights, np.float64)
    linear = pose[:, :, :3] / np.stack([kx, ky, k], axis=-1)[:, :, None] / UM_PER_MM
    t = pose[:, :, 3]
    offset = np.stack(
        [
            (t[:, 0] - HALF_PIXEL - sx) / kx + 1,
            CROP_SIZE - (h - t[:, 1] - HALF_PIXEL - sy) / ky,
            t[:, 2] / k + 1,
        ],
        axis=-1,
    )
    return np.concatenate([linear, offset[:, :, None]], axis=2).reshape(-1, 12)


def crop_pose_to_image(params: np.ndarray, boxes: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """(N, >= 12) 3DDFA-V2 parameters -> (N, 3, 4) image poses on mm vertices (see above)."""
    rt = np.asarray(params, np.float64)[:, :12].reshape(-1, 3, 4)
    sx, sy, kx, ky, k = _box_scales(boxes)
    h = np.asarray(heights, np.float64)
    linear = rt[:, :, :3] * np.stack([kx, ky, k], axis=-1)[:, :, None] * UM_PER_MM
    offset = rt[:, :, 3]
    t = np.stack(
        [
            (offset[:, 0] - 1) * kx + sx + HALF_PIXEL,
            h - ((CROP_SIZE - offset[:, 1]) * ky + sy + HALF_PIXEL),
            (offset[:, 2] - 1) * k,
        ],
        axis=-1,
    )
    return np.concatenate([linear, t[:, :, None]], axis=2)


def project_params(params: np.ndarray, model: MorphableModel) -> np.ndarray:
    """(N, 62) raw parameters -> (N, 68, 3) landmarks in the 120x120 crop frame (y up).

    ``model`` supplies the 68-landmark mean and bases in mm (e.g. ``load_bfm68`` for a
    3DDFA-V2 checkpoint, the training face model for our own teacher).
    """
    params = np.asarray(params, np.float64)
    ks, ke = model.n_shape, model.n_expression
    shape, expression = params[:, 12 : 12 + ks], params[:, 52 : 52 + ke]
    vertices = model.reconstruct(shape, expression, landmarks_only=True) * UM_PER_MM  # (N, 68, 3)
    rt = params[:, :12].reshape(-1, 3, 4)
    return vertices @ np.swapaxes(rt[:, :, :3], 1, 2) + rt[:, None, :, 3]


def crop_to_image(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, L, >= 2) crop-frame points -> (N, L, 2) voice2mesh image (x, row) coordinates.

    3DDFA-V2's ``similar_transform`` (x - 1, 120 - y, scaled into the box) plus half a pixel.
    """
    points = np.asarray(points, np.float64)
    sx, sy, kx, ky, _ = (v[:, None] for v in _box_scales(boxes))
    x = (points[..., 0] - 1) * kx + sx + HALF_PIXEL
    row = (CROP_SIZE - points[..., 1]) * ky + sy + HALF_PIXEL
    return np.stack([x, row], axis=-1)
