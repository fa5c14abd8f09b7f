"""Drawing on images: landmark markers, render overlays, labelled grids and PNG saving.

Images are (H, W, 3) uint8 RGB arrays; (H, W) grayscale inputs are promoted to RGB. Points are
(x, row) image coordinates with pixel (r, c) centred at (c + 0.5, r + 0.5), as produced by
:func:`voice2mesh.render.camera.to_pixels`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from voice2mesh.io import atomic_path
from voice2mesh.render.rasterize import RenderResult


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A new (H, W, 3) uint8 copy of an (H, W) or (H, W, 3) image."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255)
    return image.astype(np.uint8, copy=True)


def draw_landmarks(
    image: np.ndarray,
    points: np.ndarray,
    visible: np.ndarray | None = None,
    color: tuple[int, int, int] = (0, 220, 0),
    radius: float = 2.0,
    hidden_color: tuple[int, int, int] = (230, 40, 40),
) -> np.ndarray:
    """Draw points as filled discs (visible) or hollow rings (not visible).

    Args:
        image: (H, W, 3) or (H, W) image; not modified.
        points: (K, 2) (x, row) coordinates; NaN points are skipped.
        visible: (K,) bool; default all visible.
        color: RGB of visible points.
        radius: disc radius in pixels (pixels whose centre is within it are painted).
        hidden_color: RGB of the rings drawn for points that are not visible.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    out = as_rgb(image)
    points = np.asarray(points, np.float64).reshape(-1, 2)
    visible = np.ones(len(points), bool) if visible is None else np.asarray(visible, bool)
    if visible.shape != (len(points),):
        raise ValueError(f"visible must be ({len(points)},), got {visible.shape}")
    keep = np.isfinite(points).all(axis=1)
    points, visible = points[keep], visible[keep]
    H, W = out.shape[:2]
    reach = int(np.ceil(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    rows = np.floor(points[:, 1])[:, None, None].astype(np.int64) + offsets[None, :, None]
    cols = np.floor(points[:, 0])[:, None, None].astype(np.int64) + offsets[None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)  # (K, 2R+3, 2R+3)
    dist = np.hypot(cols + 0.5 - points[:, 0, None, None], rows + 0.5 - points[:, 1, None, None])
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    disc = inside & (dist <= radius) & visible[:, None, None]
    ring = inside & (dist <= radius) & (dist > radius - 1.0) & ~visible[:, None, None]
    out[rows[disc], cols[disc]] = color
    out[rows[ring], cols[ring]] = hidden_color
    return out


def overlay(image: np.ndarray, result: RenderResult, alpha: float = 0.6) -> np.ndarray:
    """Blend a render over a photo where the render's mask is set.

    Args:
        image: (H, W, 3) or (H, W) photo of the render's size; not modified.
        result: the render.
        alpha: weight of the render inside its mask, in [0, 1].

    Returns:
        A new (H, W, 3) uint8 image.
    """
    out = as_rgb(image)
    if out.shape != result.image.shape:
        raise ValueError(
            f"image shape {out.shape} does not match the render's "
            f"{result.image.shape}; render with size=image.shape[:2]"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    m = result.mask
    blend = alpha * result.image[m].astype(np.float64) + (1.0 - alpha) * out[m]
    out[m] = np.round(blend).astype(np.uint8)
    return out


def image_grid(
    images: list[list[np.ndarray | None]],
    pad: int = 2,
    background: int = 255,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
) -> np.ndarray:
    """Compose images into one grid image.

    Each row is as tall as its tallest image and each column as wide as its widest; smaller
    images are centred in their cells. Rows may have different lengths; ``None`` is an empty
    cell.

    Args:
        images: rows of (h, w, 3) or (h, w) uint8 images.
        pad: pixels between cells and around the grid.
        background: gray level of the padding and empty cells.
        row_labels: one text per row, written left of the row.
        col_labels: one text per column, written above the column.

    Returns:
        (H, W, 3) uint8 grid.
    """
    n_rows, n_cols = len(images), max((len(row) for row in images), default=0)
    if n_rows == 0 or n_cols == 0:
        raise ValueError("image_grid needs at least one image")
    for name, labels, n in (("row_labels", row_labels, n_rows), ("col_labels", col_labels, n_cols)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} entries for {n} {name[:3]}s")
    cells = [[None if im is None else as_rgb(im) for im in row] for row in images]
    heights = [max((im.shape[0] for im in row if im is not None), default=0) for row in cells]
    widths = [
        max((row[j].shape[1] for row in cells if j < len(row) and row[j] is not None), default=0)
        for j in range(n_cols)
    ]
    left = _text_extent(row_labels)[0] + pad if row_labels else 0
    top = _text_extent(col_labels)[1] + pad if col_labels else 0
    y0 = top + pad + np.concatenate([[0], np.cumsum(np.add(heights, pad))])  # (n_rows + 1,)
    x0 = left + pad + np.concatenate([[0], np.cumsum(np.add(widths, pad))])  # (n_cols + 1,)
    grid = np.full((int(y0[-1]), int(x0[-1]), 3), background, np.uint8)
    for i, row in enumerate(cells):
        for j, im in enumerate(row):
            if im is not None:
                y = y0[i] + (heights[i] - im.shape[0]) // 2
                x = x0[j] + (widths[j] - im.shape[1]) // 2
                grid[y : y + im.shape[0], x : x + im.shape[1]] = im
    if row_labels or col_labels:
        canvas = Image.fromarray(grid)
        pen = ImageDraw.Draw(canvas)
        ink = (0, 0, 0) if background > 127 else (255, 255, 255)
        for i, text in enumerate(row_labels or []):
            h = _text_extent([text])[1]
            pen.text((pad, int(y0[i]) + (heights[i] - h) // 2), text, fill=ink, font=label_font())
        for j, text in enumerate(col_labels or []):
            w = _text_extent([text])[0]
            pen.text((int(x0[j]) + (widths[j] - w) // 2, pad), text, fill=ink, font=label_font())
        grid = np.asarray(canvas).copy()
    return grid


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an image as PNG atomically (temporary file in the same folder, then rename).

    Args:
        path: destination; parent folders are created.
        image: (H, W, 3) or (H, W) uint8.

    Returns:
        The destination path.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(as_rgb(image)).save(tmp, format="PNG")
    return path


@functools.lru_cache(maxsize=1)
def label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib; has σ, °, ±), or PIL's default font."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return ImageFont.truetype(str(path), 13)
    except (ImportError, OSError):
        return ImageFont.load_default()


def _text_extent(texts: list[str]) -> tuple[int, int]:
    """(width, height) in pixels from the drawing origin of the largest of ``texts``."""
    pen = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [pen.textbbox((0, 0), text, font=label_font()) for text in texts]
    return max(int(b[2]) for b in boxes), max(int(b[3]) for b in boxes)
