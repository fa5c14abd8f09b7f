"""Landmarks from ibug ``.pts`` files beside the images (the synthetic world's default)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voice2mesh.data.pts import PtsError, read_pts
from voice2mesh.landmarks.base import LandmarkError


class PtsBackend:
    """Reads ``<image stem>.pts`` next to each image (what a detector already reported)."""

    name = "pts"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def detect(self, paths: Sequence[Path], images: Sequence[np.ndarray]) -> list:
        found = []
        for path in paths:
            pts = Path(path).with_suffix(".pts")
            if not pts.is_file():
                raise LandmarkError(f"{path}: no landmark file {pts.name} beside the image")
            try:
                found.append(read_pts(pts))
            except PtsError as error:
                raise LandmarkError(str(error)) from error
        return found
