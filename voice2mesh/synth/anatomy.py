"""Face measurements of the true faces: what the voice links read, and a few more.

Each measurement is computed from true neutral vertices through the model's 68 landmarks and
measurement pairs, so it is defined for any ``MorphableModel``:

| key         | definition (ibug landmarks 0-based)                                    |
|-------------|------------------------------------------------------------------------|
| face_size   | geometric mean of OICD, bizygomatic width and face_length, mm           |
| face_length | nasion (27) to chin (8), mm                                             |
| nose_size   | nose length 27→33 plus tip protrusion (30) in front of the eye corners  |
| face_width  | bizygomatic width (the ``mid`` pair, cheekbones) / OICD                 |
| jaw_width   | width at the jaw / ear junctions (the ``ear`` pair) / OICD              |
| cheek       | lower-cheek width at mouth level (the ``cheek`` pair) / OICD            |
| chin        | lower-lip centre (57) to chin (8), mm                                   |

The first three are the anatomy behind the voice links (``voice_traits.COUPLED_TRAITS``): face
length and size, with the head, set the vocal-tract length; face size, standing in for body
size and so larynx size, weakly sets F0; the nose and nasal cavity set the nasal resonance.
The others drive no voice trait; the widths
are divided by the outer interocular distance (OICD) so that they describe the face's
proportions instead of repeating its size. All seven are kept in the truth tables
(``identities.csv``, ``z_*`` columns) so analyses can check what voices do and do not carry.

``within_gender_z`` standardises them per gender, so that a voice driven by them carries no
gender information beyond what gender itself shifts.
"""

from __future__ import annotations

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.facemodel import MorphableModel

ANATOMY_KEYS: tuple[str, ...] = (
    "face_size",
    "face_length",
    "face_width",
    "jaw_width",
    "nose_size",
    "chin",
    "cheek",
)


def measure(model: MorphableModel, vertices: np.ndarray) -> dict[str, np.ndarray]:
    """Anatomical measurements (mm, or ratios for the widths) of a batch of faces.

    Args:
        model: the face model the vertices belong to (landmarks and pairs are read from it).
        vertices: (B, N, 3) neutral faces.

    Returns:
        ``{key: (B,) float64}`` for every key of ``ANATOMY_KEYS``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    lm = v[:, model.landmarks]  # (B, 68, 3)
    pairs = model.pair_distances(v)

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(lm[:, a] - lm[:, b], axis=-1)

    eye_z = lm[:, [36, 45], 2].mean(axis=1)
    oicd = pairs["oicd"]
    out = {
        "face_width": pairs["mid"] / oicd,
        "face_length": dist(27, 8),
        "jaw_width": pairs["ear"] / oicd,
        "nose_size": dist(27, 33) + (lm[:, 30, 2] - eye_z),
        "chin": dist(57, 8),
        "cheek": pairs["cheek"] / oicd,
    }
    out["face_size"] = pm.cbrt(oicd * pairs["mid"] * out["face_length"])
    return {key: out[key] for key in ANATOMY_KEYS}


def within_gender_z(values: dict[str, np.ndarray], genders: np.ndarray) -> dict[str, np.ndarray]:
    """Standardise each measurement to mean 0 / std 1 within each gender.

    Args:
        values: ``{key: (B,)}`` measurements.
        genders: (B,) gender labels.

    Returns:
        ``{key: (B,)}`` z-scores; a gender with a single member gets z = 0.
    """
    genders = np.asarray(genders)
    out = {}
    for key, x in values.items():
        z = np.zeros_like(x, dtype=np.float64)
        for g in np.unique(genders):
            sel = genders == g
            std = x[sel].std()
            z[sel] = (x[sel] - x[sel].mean()) / std if std > 0 else 0.0
        out[key] = z
    return out
