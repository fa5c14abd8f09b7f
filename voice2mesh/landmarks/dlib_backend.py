"""Landmarks from dlib's 68-point iBUG shape predictor (Kazemi & Sullivan, CVPR 2014), offline.

The weights ship inside pip packages, so nothing is downloaded: ``dlib-bin`` (a prebuilt dlib)
and ``face-recognition-models`` (``shape_predictor_68_face_landmarks.dat``, trained on iBUG
300-W, and ``mmod_human_face_detector.dat``). Faces are found by dlib's HOG frontal detector
(``detector="hog"``, the default: a fraction of a second per photo on a CPU) or its CNN
max-margin detector (King, arXiv:1502.00046; ``"cnn"``: seconds per photo, more poses).

Detection runs on a copy whose longer side is at most ``max_side`` pixels (the detectors' window
is 80 px, and the faces of a big photo are big); when nothing is found there, the copy is
upsampled ×2 once, for faces of 40-80 px. The HOG model only knows roughly upright faces, so it
also searches copies rotated by ``angles`` degrees; a face found in a rotated copy gets its
landmarks in the full-resolution image rotated the same way, mapped back. The shape predictor
always runs at full resolution. dlib puts pixel centres on integers, voice2mesh at +0.5.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from voice2mesh.landmarks.base import Face, LandmarkError

INSTALL = "pip install dlib-bin face-recognition-models"
PREDICTOR = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
# emma.jpg's right face (tilted, half turned away) is found by HOG only in a copy turned by
# -20°, so HOG searches three copies (the upright pass alone found image_0010's face turned by
# up to ±45°). Turned copies add false positives (scores 0.1-0.3 on image_0010 turned by 15-20°),
# so a face seen only in one must score TURNED_MIN_SCORE (emma's scores 1.0; chosen on 4 photos).
HOG_ANGLES: tuple[float, ...] = (0.0, -20.0, 20.0)
TURNED_MIN_SCORE = 0.5


def model_dir() -> Path:
    """The ``models`` folder of face-recognition-models, located without importing it.

    Its own ``*_location()`` functions import ``pkg_resources``, which setuptools 81 removed
    (https://github.com/ageitgey/face_recognition/issues/1645), so the files are found by path.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the dlib landmark backend needs the face-recognition-models package, which holds "
            f"its weights; install it (no download at run time afterwards): {INSTALL}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def load_models(detector: Literal["hog", "cnn"]) -> tuple[Any, Any, Any]:
    """(the dlib module, a face detector, the 68-point shape predictor).

    Raises:
        ImportError: dlib or face-recognition-models is not installed (the message says how).
        FileNotFoundError: a weight file is missing from the installed package.
    """
    try:
        import dlib
    except ImportError as error:
        raise ImportError(
            f"the dlib landmark backend needs dlib ({error}); install it: {INSTALL}"
        ) from error
    folder = model_dir()
    needed = [PREDICTOR] + ([CNN_DETECTOR] if detector == "cnn" else [])
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: {', '.join(missing)} missing; reinstall the package: "
            "pip install --force-reinstall face-recognition-models"
        )
    if detector == "hog":
        find = dlib.get_frontal_face_detector()
    else:
        find = dlib.cnn_face_detection_model_v1(str(folder / CNN_DETECTOR))
    return dlib, find, dlib.shape_predictor(str(folder / PREDICTOR))


def turn(points: np.ndarray, angle: float, size: tuple[int, int], to: tuple[int, int]):
    """Where (K, 2) points (x, row) of an image of ``size`` (h, w) land in its copy turned by
    ``angle`` degrees counter-clockwise with ``PIL.Image.rotate(angle, expand=True)``, of
    ``to`` (h, w); ``turn(q, -angle, to, size)`` maps back."""
    t = np.deg2rad(angle)
    d = np.asarray(points, np.float64) - np.array([size[1], size[0]]) / 2  # from the centre
    x = np.cos(t) * d[:, 0] + np.sin(t) * d[:, 1]
    y = -np.sin(t) * d[:, 0] + np.cos(t) * d[:, 1]
    return np.stack([x, y], axis=1) + np.array([to[1], to[0]]) / 2


def _rotate(image: np.ndarray, angle: float) -> np.ndarray:
    if angle == 0:
        return image
    turned = Image.fromarray(image).rotate(angle, Image.Resampling.BILINEAR, expand=True)
    return np.asarray(turned)


class DlibBackend:
    """dlib's HOG (or CNN) face detector and 68-point shape predictor.

    Args:
        batch_size: images per ``detect`` call (dlib runs them one by one).
        detector: ``"hog"`` (fast) or ``"cnn"`` (slower on a CPU, finds more poses).
        max_side: detection runs on a copy at most this many pixels on its longer side.
        angles: degrees by which copies are turned for more passes; default ``HOG_ANGLES``
            for HOG and upright only for the CNN (one CNN pass costs seconds).
    """

    name = "dlib"

    def __init__(
        self,
        batch_size: int = 16,
        detector: Literal["hog", "cnn"] = "hog",
        max_side: int = 1280,
        angles: Sequence[float] | None = None,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector {detector!r}: use 'hog' or 'cnn'")
        self.batch_size = batch_size
        self.detector = detector
        self.max_side = max_side
        default = HOG_ANGLES if detector == "hog" else (0.0,)
        self.angles = tuple(float(a) for a in (default if angles is None else angles))
        self._dlib, self._find, self._predict = load_models(detector)

    def detect(self, paths: Sequence[Path], images: Sequence[np.ndarray]) -> list:
        found = []
        for path, image in zip(paths, images, strict=True):
            try:
                faces = self.faces(image)
            except RuntimeError as error:  # dlib reports bad input as RuntimeError
                raise LandmarkError(f"{path}: dlib failed ({error})") from error
            found.append(faces[0].points if faces else None)
        return found

    def faces(self, image: np.ndarray) -> list[Face]:
        """Every face in an (H, W, 3) uint8 RGB image, the largest box first."""
        image = np.ascontiguousarray(image, np.uint8)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image
        if scale < 1:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        found = self._search(small, upsample=0) or self._search(small, upsample=1)
        zoom = np.array([w / small.shape[1], h / small.shape[0]])
        faces, turned = [], {}
        for angle, centre, half, score in _distinct(found):
            centre, half = centre * zoom, half * zoom
            if angle not in turned:
                turned[angle] = _rotate(image, angle)
            view = turned[angle]
            at = turn(centre[None], angle, (h, w), view.shape[:2])[0]
            points = turn(self._shape(view, at, half), -angle, view.shape[:2], (h, w))
            box = np.concatenate([centre - half, centre + half])
            faces.append(Face(box, points, score, angle))
        return sorted(faces, key=lambda f: -np.prod(f.box[2:] - f.box[:2]))

    def _search(self, small: np.ndarray, upsample: int) -> list[tuple]:
        """(angle, centre (2,), half size (2,), score) of each detection, in ``small``'s
        upright coordinates, from every turned copy."""
        found = []
        for angle in self.angles:
            view = _rotate(small, angle)
            if self.detector == "hog":
                rects, scores, _ = self._find.run(view, upsample, 0.0)
            else:
                detections = self._find(view, upsample)
                rects, scores = [d.rect for d in detections], [d.confidence for d in detections]
            for rect, score in zip(rects, scores, strict=True):
                if angle != 0 and score < TURNED_MIN_SCORE:
                    continue
                x1, y1, x2, y2 = rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1
                middle = [[(x1 + x2) / 2, (y1 + y2) / 2]]
                centre = turn(middle, -angle, view.shape[:2], small.shape[:2])[0]
                found.append((angle, centre, np.array([x2 - x1, y2 - y1]) / 2, float(score)))
        return found

    def _shape(self, image: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks (x, row) of the face in the box ``centre ± half`` of ``image``."""
        x1, y1 = np.round(centre - half).astype(int)
        x2, y2 = np.round(centre + half).astype(int) - 1  # dlib's right/bottom are inclusive
        shape = self._predict(image, self._dlib.rectangle(x1, y1, x2, y2))
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64) + 0.5


def _distinct(found: list[tuple]) -> list[tuple]:
    """One detection per face: upright passes first, then by score; a detection whose centre
    lies in a kept box (or whose box holds a kept centre) is the same face seen again."""
    kept: list[tuple] = []
    for candidate in sorted(found, key=lambda c: (c[0] != 0, -c[3])):
        _, centre, half, _ = candidate
        if not any(
            (np.abs(centre - c) < h).all() or (np.abs(centre - c) < half).all()
            for _, c, h, _ in kept
        ):
            kept.append(candidate)
    return kept
