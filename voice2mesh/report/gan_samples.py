"""Sample sheet of the voice -> face GAN (``reports/figures/gan_samples.png``).

One row per identity (test identities by default: never seen in training): one of its real
face photos, then the faces generated from several of its utterances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.audio.features import FeatureStore
from voice2mesh.models.gan import VoiceToFaceGan
from voice2mesh.render.draw import image_grid, save_png
from voice2mesh.train.face_data import load_faces
from voice2mesh.train.gan import generate
from voice2mesh.train.voice_data import load_utterances


def sample_grid(
    model: VoiceToFaceGan,
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    faces_manifest: pd.DataFrame,
    path: Path | str,
    *,
    split: str = "val",
    n_identities: int = 6,
    n_utterances: int = 5,
    scale: int = 2,
    face_root: Path | str = ".",
) -> Path:
    """Write the sheet as PNG.

    Args:
        model: a trained GAN (a ``gan`` model, ``checkpoint.load_model``).
        store: the features of every utterance.
        voices_manifest: the voices table (``identity``, ``name``, ``split``).
        faces_manifest: the faces table (``identity``, ``split``, ``path``).
        path: the PNG to write.
        split: whose identities to show ("val": unseen in training, never the test split).
        n_identities: rows: the first identities (sorted) with a readable face and features.
        n_utterances: generated faces per row (fewer when an identity has fewer utterances).
        scale: integer upscaling of the 64x64 tiles (nearest neighbour).
        face_root: the folder the manifest's relative image paths start from.

    Returns:
        The PNG's path.

    Raises:
        ValueError: no identity of ``split`` has both a readable face and features.
    """
    names = voices_manifest.drop_duplicates("identity").set_index("identity")["name"]
    wanted = set(voices_manifest.identity[voices_manifest.split == split].astype(str))
    index_ids = store.index.identity.astype(str)
    rows, labels = [], []
    for identity in sorted(wanted & set(index_ids)):
        paths = faces_manifest.path[faces_manifest.identity.astype(str) == identity].tolist()
        real, _, _ = load_faces(paths[:3], face_root)  # the first readable of a few
        if not len(real):
            continue
        utterances = load_utterances(store, np.flatnonzero(index_ids == identity)[:n_utterances])
        tiles = [real[0], *generate(model, utterances)]
        rows.append([np.repeat(np.repeat(t, scale, axis=0), scale, axis=1) for t in tiles])
        labels.append(str(names.get(identity, identity)))
        if len(rows) == n_identities:
            break
    if not rows:
        raise ValueError(
            f"no {split}-split identity has both a readable face image and stored features; "
            "check the manifests and the features stage"
        )
    width = max(len(r) for r in rows)
    columns = ["real", *(f"voice {k}" for k in range(1, width))]
    return save_png(path, image_grid(rows, row_labels=labels, col_labels=columns))
