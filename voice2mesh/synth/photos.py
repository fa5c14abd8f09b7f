"""One identity's face photographs with their labels: shared by the world and the teacher corpus.

Each photo draws an expression (neutral with probability ``nuisance.neutral_fraction``), a pose
(``images.sample_pose``) and the rest of ``images.face_image``'s nuisance, is written as a JPEG
with detector-like noisy ibug landmarks beside it (``.pts``), and is described by a record of its
true parameters (pose, expression, exact landmarks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from voice2mesh import portable as pm
from voice2mesh.data.pts import write_pts
from voice2mesh.facemodel import MorphableModel
from voice2mesh.io import atomic_path
from voice2mesh.synth.images import face_image, identity_colours, sample_pose
from voice2mesh.synth.spec import CorpusParams, SynthParams

PhotoSpec = SynthParams | CorpusParams  # both carry the photo fields render_photos reads


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Write (H, W, 3) uint8 RGB as a JPEG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="JPEG", quality=quality)


def render_photos(
    model: MorphableModel,
    shape: np.ndarray,
    gender: str,
    spec: PhotoSpec,
    rng: np.random.Generator,
    look: np.random.Generator,
    root: Path,
    folder: str,
) -> list[dict]:
    """Render and write the photos of one identity.

    Args:
        model: the true face model.
        shape: (Ks,) the identity's shape coefficients.
        gender: ``female`` or ``male`` (hair, facial hair, make-up: ``images.identity_colours``).
        spec: how to photograph (``synth`` or ``teacher_corpus`` params): the number of
            photos (``images_per_identity``, inclusive), ``image_size``, ``nuisance``,
            ``landmark_noise_px`` (detector-like noise on the written ``.pts``), ``jpeg_quality``.
        rng: the identity's random stream (colours, count, then per photo).
        look: the identity's stream of gendered style draws.
        root: the output root; photos go to ``root / folder / NNNNN.jpg``.
        folder: the photos' folder relative to ``root`` (also the records' path prefix).

    Returns:
        One record per photo: ``path`` (relative to ``root``), ``pose`` (3, 4), ``expression``
        (Ke,), ``landmarks_2d`` (68, 2) exact, ``noisy_landmarks`` (68, 2) as written,
        ``visible`` (68,), ``landmarks_3d`` (68, 3).
    """
    colours = identity_colours(rng, gender, look)
    records = []
    low, high = spec.images_per_identity
    size, nuisance = spec.image_size, spec.nuisance
    for k in range(1, int(rng.integers(low, high + 1)) + 1):
        expression = pm.standard_normal(rng, model.n_expression) * np.asarray(model.expression_std)
        expression *= nuisance.expression_scale * (rng.random() >= nuisance.neutral_fraction)
        vertices = model.reconstruct(shape[None], expression[None].astype(np.float32))[0]
        pose = sample_pose(model, rng, size, nuisance)
        image, lm2d, visible = face_image(model, vertices, colours, pose, rng, size)
        noisy = lm2d + spec.landmark_noise_px * pm.standard_normal(rng, lm2d.shape)
        write_jpeg(root / folder / f"{k:05d}.jpg", image, spec.jpeg_quality)
        write_pts(root / folder / f"{k:05d}.pts", noisy)
        records.append(
            {
                "path": f"{folder}/{k:05d}.jpg",
                "pose": pose,
                "expression": expression.astype(np.float32),
                "landmarks_2d": lm2d,
                "noisy_landmarks": noisy,
                "visible": visible,
                "landmarks_3d": vertices[model.landmarks],
            }
        )
    return records
