"""The teacher corpus on disk: a 300W-LP-like set of photos with their 3DMM labels.

Layout under the corpus root (written by ``synth.corpus.generate_corpus``; a real corpus in the
same layout works as well)::

    images/<identity>/NNNNN.jpg (+ .pts)   photos (and detector-like ibug landmarks)
    labels.npz                             path, identity, gender, split, pose (N, 3, 4),
                                           shape (N, Ks), expression (N, Ke), landmarks (N, 68, 2)
    index.csv                              path, identity, gender, split (for reading by eye)

``pose`` is the image pose on mm vertices (``render.camera``'s convention), ``landmarks`` the
(x, row) points the crop boxes are cut around, ``split`` ``train`` or ``val`` per identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

LABELS = "labels.npz"
INDEX = "index.csv"


class Corpus(NamedTuple):
    """The corpus's photos and labels, one row per photo."""

    path: np.ndarray  # (N,) str, relative to the corpus root
    identity: np.ndarray  # (N,) str
    gender: np.ndarray  # (N,) str
    split: np.ndarray  # (N,) str, "train" | "val"
    pose: np.ndarray  # (N, 3, 4) image pose on mm vertices (render.camera)
    shape: np.ndarray  # (N, Ks)
    expression: np.ndarray  # (N, Ke)
    landmarks: np.ndarray  # (N, 68, 2) the noisy .pts landmarks, (x, row)


def read_corpus(root: Path | str) -> Corpus:
    """The labels written by ``generate_corpus`` (no pickles: ``allow_pickle=False``)."""
    path = Path(root) / LABELS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no teacher corpus here; run `dvc repro teacher_corpus` (or point "
            "teacher_corpus.root at one)"
        )
    with np.load(path, allow_pickle=False) as data:
        missing = set(Corpus._fields) - set(data.files)
        if missing:
            raise ValueError(
                f"{path}: not a teacher corpus (missing {sorted(missing)}); rebuild it"
            )
        corpus = Corpus(**{k: data[k] for k in Corpus._fields})
    n = len(corpus.path)
    if any(len(v) != n for v in corpus) or corpus.landmarks.shape[1:] != (68, 2):
        raise ValueError(f"{path}: arrays of different lengths or shapes; rebuild the corpus")
    return corpus
