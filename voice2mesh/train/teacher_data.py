"""Training data of the image -> 3DMM teacher: 3DDFA-V2 crops of the face images and their fits.

As 3DDFA was trained on 300W-LP (images with fitted 3DMM parameters), our teacher learns from
the face images with the ``fit3dmm`` stage's fits as labels. Per usable fit:

* the crop: the 3DDFA-V2 box rule (``roi_box_from_bbox``) applied to the bounding box of the
  image's 68 detected landmarks, cut with zero padding and resized to 120x120, BGR;
* the label (62,): the fit's image pose moved into that crop's frame in 3DDFA-V2's 12-d layout
  (``pose_to_crop``; it acts on micrometre vertices), then the 40 shape and 10 expression
  coefficients (fewer are zero-padded, more are an error).

Only ``fits/``, ``landmarks/`` and the images are read, never the synthetic world's truth.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F  # noqa: N812

from voice2mesh.data.corpus import read_corpus
from voice2mesh.data.crops import (
    box_from_landmarks,
    crop_faces,
    pose_to_crop,
    roi_box_from_bbox,
)
from voice2mesh.facemodel.bfm import N_EXPRESSION, N_SHAPE
from voice2mesh.fitting.store import read_fits
from voice2mesh.landmarks.store import read_landmarks

log = logging.getLogger(__name__)


class TeacherDataset(NamedTuple):
    """Crops and labels of the usable fits (rows aligned)."""

    crops: np.ndarray  # (N, 120, 120, 3) uint8 BGR
    labels: np.ndarray  # (N, 62) float32 raw 3DDFA-V2 parameters (crop-frame pose, shape, exp)
    identities: np.ndarray  # (N,) str
    splits: np.ndarray  # (N,) str, "train" / "val" / "test"
    paths: np.ndarray  # (N,) str image paths as the index lists them
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason) of usable fits whose image failed


TRAINING_SPLITS = ("train", "val")  # what training stages may read: never the test identities


def load_bgr(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR image (3DDFA-V2 reads with OpenCV, hence BGR)."""
    try:
        with Image.open(path) as image:
            return np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])
    except OSError as error:
        raise OSError(
            f"{path}: cannot read the face image ({error}); replace or remove it"
        ) from error


def read_crops(
    paths: np.ndarray, points: np.ndarray, root: Path | str, source: Path | str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[tuple[str, str], ...]]:
    """3DDFA-V2 crops of the images ``root / paths`` around their (N, 68, 2) landmarks.

    An image that cannot be read is skipped with a warning and listed; none readable is an
    error naming ``source`` (the folder the paths came from).

    Returns:
        ``(kept rows (M,), crops (M, 120, 120, 3) BGR, boxes (M, 4), image heights (M,),
        skipped ((path, reason), ...))``.
    """
    loaded, skipped = {}, []
    for k, path in enumerate(paths):
        try:
            loaded[k] = load_bgr(Path(root) / path)
        except OSError as error:  # one unreadable image must not end the stage: listed, skipped
            log.warning("skipped %s", error)
            skipped.append((str(path), str(error)))
    keep = np.array(sorted(loaded), np.int64)
    if not len(keep):
        raise ValueError(f"{source}: no readable face image; see the warnings")
    images = [loaded[k] for k in keep]
    crops, boxes = crop_faces(images, roi_box_from_bbox(box_from_landmarks(points[keep])))
    heights = np.array([image.shape[0] for image in images], np.float64)
    return keep, crops, boxes, heights, tuple(skipped)


def photo_crops(
    landmarks_folder: Path | str, splits: tuple[str, ...], root: Path | str = "."
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[str, str], ...]]:
    """Crops of every photo with landmarks of the identities in ``splits``, fitted or not.

    Returns:
        ``(crops (N, 120, 120, 3) BGR, identities (N,) str, skipped)``.
    """
    index, points, _ = read_landmarks(Path(landmarks_folder))
    wanted = np.flatnonzero(index.split.isin(splits).to_numpy())
    paths = index.path.to_numpy(str)[wanted]
    keep, crops, _, _, skipped = read_crops(paths, points[wanted], root, landmarks_folder)
    return crops, index.identity.to_numpy(str)[wanted[keep]], skipped


def make_labels(
    pose: np.ndarray, shape: np.ndarray, expression: np.ndarray, boxes: np.ndarray, heights
) -> np.ndarray:
    """(N, 62) float32 labels from image poses (N, 3, 4), coefficients and the crops' boxes."""
    n = len(pose)
    coefficients = []
    for name, values, size in (("shape", shape, N_SHAPE), ("expression", expression, N_EXPRESSION)):
        values = np.asarray(values, np.float64).reshape(n, -1)
        if values.shape[1] > size:
            raise ValueError(
                f"the fits have {values.shape[1]} {name} coefficients; 3DDFA-V2's layout holds "
                f"{size} (set face_model n_shape/n_expression to at most 40/10 and refit)"
            )
        coefficients.append(np.pad(values, ((0, 0), (0, size - values.shape[1]))))
    labels = np.concatenate([pose_to_crop(pose, boxes, heights), *coefficients], axis=1)
    return labels.astype(np.float32)


def build_teacher_dataset(
    fits_folder: Path | str,
    landmarks_folder: Path | str,
    root: Path | str = ".",
    splits: tuple[str, ...] = TRAINING_SPLITS,
) -> TeacherDataset:
    """Crops and labels of every usable fit of the identities in ``splits``.

    Args:
        fits_folder: the ``fit3dmm`` output (``read_fits``).
        landmarks_folder: the ``landmarks`` output (``read_landmarks``) the fits were made from.
        root: the folder the index's relative image paths start from (the project root).
        splits: the manifest splits whose images are read; the default leaves the test (A–E)
            identities unread, as every training stage must (only ``evaluate`` asks for them).

    Returns:
        A ``TeacherDataset``; rows follow the fits index, unusable fits left out, and fits whose
        image cannot be read listed in ``skipped`` (with a warning) rather than failing.
    """
    fits = read_fits(Path(fits_folder))
    index, points, _ = read_landmarks(Path(landmarks_folder))
    row_of = {p: i for i, p in enumerate(index.path)}
    missing = [p for p in fits.index.path if p not in row_of]
    if missing:
        raise ValueError(
            f"{landmarks_folder}: no landmarks for {len(missing)} fitted images (e.g. "
            f"{missing[0]}); rerun fit3dmm on these landmarks"
        )
    wanted = np.flatnonzero(fits.usable & fits.index.split.isin(splits).to_numpy())
    if not len(wanted):
        raise ValueError(f"{fits_folder}: no usable fit in the splits {', '.join(splits)}")
    paths = fits.index.path.to_numpy(str)[wanted]
    rows = [row_of[p] for p in paths]
    keep, crops, boxes, heights, skipped = read_crops(paths, points[rows], root, fits_folder)
    keep = wanted[keep]
    table = fits.index.iloc[keep]
    result = fits.result
    labels = make_labels(
        result.pose[keep], result.shape[keep], result.expression[keep], boxes, heights
    )
    return TeacherDataset(
        crops,
        labels,
        table.identity.to_numpy(str),
        table.split.to_numpy(str),
        table.path.to_numpy(str),
        skipped,
    )


def build_corpus_dataset(root: Path | str) -> TeacherDataset:
    """Crops and labels of the teacher corpus (``synth.corpus``), cut as the fits' crops are.

    The crop box comes from each photo's noisy detector-like landmarks and the label from the
    corpus's own parameters (``make_labels``); ``splits`` are the corpus's train/val identities.
    A photo that cannot be read is listed in ``skipped`` (with a warning), not fatal.
    """
    root = Path(root)
    corpus = read_corpus(root)
    keep, crops, boxes, heights, skipped = read_crops(corpus.path, corpus.landmarks, root, root)
    labels = make_labels(
        corpus.pose[keep], corpus.shape[keep], corpus.expression[keep], boxes, heights
    )
    return TeacherDataset(
        crops,
        labels,
        corpus.identity[keep],
        corpus.split[keep],
        corpus.path[keep],
        skipped,
    )


def gan_faces(dataset: TeacherDataset, split: str = "train", size: int = 64) -> tuple:
    """The GAN's real faces: the teacher's crops of one split, RGB, area-resized to ``size``.

    Training the GAN on the same framing as the teacher's input keeps the paper's cascade
    consistent: a generated 64 x 64 face, upsampled to 120 x 120, looks like a teacher crop.

    Returns:
        ``(images (N, size, size, 3) uint8 RGB, identities (N,) str)``.
    """
    rows = np.flatnonzero(dataset.splits == split)
    if rows.size == 0:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros(0, str)
    x = torch.from_numpy(dataset.crops[rows][..., ::-1].copy()).permute(0, 3, 1, 2).float()
    small = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    images = small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return images, dataset.identities[rows]
