"""Landmarks from face-alignment's 3D-FAN (Bulat & Tzimiropoulos, ICCV 2017), as the paper did.

``face_alignment.FaceAlignment(LandmarksType.THREE_D, device=..., flip_input=False,
compile=False)`` runs the S3FD face detector and the 3D-FAN landmark network. On first use it
downloads three weight files into ``torch.hub.get_dir()/checkpoints``; voice2mesh never
downloads: offline users place the files there themselves (``FAN_WEIGHTS``), and
``FanBackend`` checks for them first with a message saying exactly that.

Detection is batched over images of equal size (S3FD is the expensive part); when a photo holds
several faces, the largest detection is used (VGGFace photos are centred on their subject).
FAN returns pixel coordinates with pixel centres on integers; voice2mesh's image coordinates put
them at +0.5, so 0.5 is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voice2mesh.landmarks.base import LandmarkError

FAN_WEIGHTS: tuple[str, ...] = (
    "3DFAN4-7835d9f11d.pth.tar",
    "depth-2a464da4ea.pth.tar",
    "s3fd-619a316812.pth",
)


def checkpoint_dir() -> Path:
    """Where face-alignment looks for its weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def missing_weights(folder: Path | None = None) -> list[str]:
    """The FAN weight files not present in ``folder`` (default: the torch hub cache)."""
    folder = checkpoint_dir() if folder is None else folder
    return [name for name in FAN_WEIGHTS if not (folder / name).is_file()]


def build_predictor(device: str) -> Any:
    """A face-alignment predictor, after checking that its weights are already on disk."""
    missing = missing_weights()
    if missing:
        raise FileNotFoundError(
            f"face-alignment weights not found: {', '.join(missing)} missing in "
            f"{checkpoint_dir()}. voice2mesh does not download them: copy the files there (or "
            "set TORCH_HOME so that $TORCH_HOME/hub/checkpoints holds them), or use "
            "landmarks.backend: pts with .pts files beside the images"
        )
    import face_alignment

    return face_alignment.FaceAlignment(
        face_alignment.LandmarksType.THREE_D, device=device, flip_input=False, compile=False
    )


class FanBackend:
    """3D-FAN landmarks; ``predictor`` may be injected (tests use a stand-in network object).

    The predictor needs face-alignment's two methods: ``face_detector.detect_from_batch(
    tensor (B, 3, H, W))`` → per image a list of boxes ``[x1, y1, x2, y2, score]``, and
    ``get_landmarks_from_image(image (H, W, 3), detected_faces=[box])`` → list of (68, 3).
    """

    name = "fan"

    def __init__(self, device: str = "cpu", batch_size: int = 8, predictor: Any = None) -> None:
        self.device = device
        self.batch_size = batch_size
        self.predictor = build_predictor(device) if predictor is None else predictor

    def detect(self, paths: Sequence[Path], images: Sequence[np.ndarray]) -> list:
        found: list = [None] * len(images)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(image.shape, []).append(i)
        for ids in by_size.values():
            batch = np.stack([images[i] for i in ids]).transpose(0, 3, 1, 2)  # (B, 3, H, W)
            tensor = torch.from_numpy(np.ascontiguousarray(batch)).float().to(self.device)
            with torch.no_grad():
                boxes = self.predictor.face_detector.detect_from_batch(tensor)
            for i, faces in zip(ids, boxes, strict=True):
                found[i] = self._landmarks(paths[i], images[i], faces)
        return found

    def _landmarks(self, path: Path, image: np.ndarray, faces) -> np.ndarray | None:
        if faces is None or len(faces) == 0:
            return None
        faces = np.asarray(faces, np.float64).reshape(len(faces), -1)
        area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        box = faces[int(np.argmax(area))]
        try:
            result = self.predictor.get_landmarks_from_image(image, detected_faces=[box])
        except (RuntimeError, ValueError) as error:
            raise LandmarkError(f"{path}: face-alignment failed ({error})") from error
        if not result:
            return None
        return np.asarray(result[0], np.float64)[:, :2] + 0.5  # (68, 2) (x, row)
