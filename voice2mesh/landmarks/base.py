"""The landmark-backend interface and the runner that applies one to many images.

A backend turns a batch of images into 68 ibug landmarks per image, in voice2mesh image
coordinates (x, row) with the top-left pixel's centre at (0.5, 0.5). It may return ``None`` for
an image with no face (the runner lists it as a reject) or raise ``LandmarkError`` for that
image alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError


class LandmarkError(RuntimeError):
    """One image's landmarks could not be produced; the message names the file."""


class LandmarkBackend(Protocol):
    """What every landmark backend provides."""

    name: str
    batch_size: int

    def detect(self, paths: Sequence[Path], images: Sequence[np.ndarray]) -> list:
        """(68, 2) float landmarks (x, row) or None (no face) per image; may raise LandmarkError."""
        ...


@dataclass(frozen=True)
class Face:
    """One face a multi-face backend found (``DlibBackend.faces``), in image coordinates."""

    box: np.ndarray  # (4,) float x1, y1, x2, y2: the detector's box, pixel edges
    points: np.ndarray  # (68, 2) float (x, row)
    score: float  # the detector's confidence (its own scale)
    angle: float  # degrees the image was turned for the detector to find it (0: upright)


@dataclass(frozen=True)
class LandmarkResult:
    """Landmarks of the images that worked, and the rejects with reasons."""

    paths: list[str]  # (M,)
    points: np.ndarray  # (M, 68, 2) float32 (x, row)
    sizes: np.ndarray  # (M, 2) int32 image (height, width)
    rejects: list[tuple[str, str]]  # (path, reason)


def load_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; raises LandmarkError naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise LandmarkError(f"{path}: unreadable image ({error})") from error


def detect_landmarks(
    backend: LandmarkBackend,
    paths: Sequence[Path],
    progress: Callable[[Iterator], Iterator] = iter,
) -> LandmarkResult:
    """Run ``backend`` over ``paths`` in batches; one bad image never stops the run."""
    kept, points, sizes, rejects = [], [], [], []
    starts = range(0, len(paths), max(1, backend.batch_size))
    for start in progress(iter(starts)):
        batch_paths, images = [], []
        for path in paths[start : start + backend.batch_size]:
            try:
                images.append(load_image(Path(path)))
                batch_paths.append(Path(path))
            except LandmarkError as error:
                rejects.append((str(path), str(error)))
        for path, image, found in zip(
            batch_paths, images, _detect(backend, batch_paths, images), strict=True
        ):
            reason = _problem(found, image)
            if reason:
                rejects.append((str(path), reason))
                continue
            kept.append(str(path))
            points.append(np.asarray(found, np.float32))
            sizes.append(image.shape[:2])
    return LandmarkResult(
        kept,
        np.asarray(points, np.float32).reshape(-1, 68, 2),
        np.asarray(sizes, np.int32).reshape(-1, 2),
        rejects,
    )


def _detect(backend: LandmarkBackend, paths: list[Path], images: list[np.ndarray]) -> list:
    """Batch detection; if the batch fails, retry image by image to isolate the bad one."""
    if not images:
        return []
    try:
        return list(backend.detect(paths, images))
    except LandmarkError:
        found = []
        for path, image in zip(paths, images, strict=True):
            try:
                found.extend(backend.detect([path], [image]))
            except LandmarkError as error:
                found.append(str(error))
        return found


def _problem(found, image: np.ndarray) -> str | None:
    if isinstance(found, str):
        return found
    if found is None:
        return "no face detected"
    points = np.asarray(found, np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        return f"landmarks have shape {points.shape} or non-finite values, expected (68, 2)"
    h, w = image.shape[:2]
    outside = (points[:, 0] < -0.25 * w) | (points[:, 0] > 1.25 * w)
    outside |= (points[:, 1] < -0.25 * h) | (points[:, 1] > 1.25 * h)
    if outside.any():
        return f"{int(outside.sum())} landmarks far outside the {w}x{h} image"
    return None
