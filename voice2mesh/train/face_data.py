"""Face images for the GAN: decoded once into one uint8 array, normalised per batch.

Wen et al.'s ``dataset.py``: RGB, resized to 64x64, ``x / 127.5 - 1`` (so [-1, 1]), and a
random horizontal flip with probability 0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from voice2mesh.models.gan import IMAGE_SIZE


def load_faces(
    paths: list[str] | list[Path], root: Path | str = ".", size: int = IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Decode, convert to RGB and resize (bicubic, Pillow's default) every image.

    Args:
        paths: image files; relative ones are taken from ``root``.
        root: the folder relative paths start from (the repository root for the manifest).
        size: output height and width.

    Returns:
        ``(images, kept, rejects)``: (N, size, size, 3) uint8 images of the readable files;
        (N,) int64 positions in ``paths`` of those images; one ``{path, reason}`` per file that
        could not be read (missing, truncated, not an image), which is skipped.
    """
    images = np.empty((len(paths), size, size, 3), np.uint8)
    kept: list[int] = []
    rejects: list[dict[str, str]] = []
    for k, path in enumerate(paths):
        file = Path(root) / path
        try:
            with Image.open(file) as im:
                rgb = im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
                images[len(kept)] = np.asarray(rgb)
        except (OSError, UnidentifiedImageError, ValueError) as err:  # PIL raises all three
            rejects.append({"path": str(path), "reason": f"{type(err).__name__}: {err}"})
            continue
        kept.append(k)
    return images[: len(kept)], np.asarray(kept, np.int64), rejects


def to_tensor(images: np.ndarray, flip: np.ndarray | None = None) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]; ``flip`` (B,) bool mirrors rows."""
    if flip is not None:
        images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return x.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) images in [-1, 1] (clamped) -> (B, H, W, 3) uint8."""
    x = (images.detach().clamp(-1, 1) + 1.0) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
