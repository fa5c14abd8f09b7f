"""A tiny Voxceleb-3D release in the authors' layout, built in ``tmp_path`` by the tests.

ROOT/vox1_meta.csv
ROOT/fbank/<id>/<video>/<utt>.npy           normalised (T, 64) fbank, tiled to 1000 if short
ROOT/A2E_val/<Name>/<stem>.npy (+ .jpg)      one ground-truth face per A-E identity
ROOT/faces_3d/<Name>/<stem>.npy (+ .jpg)     several faces per F-Z identity

Beside each photo, ``<stem>.pts``: 68 landmarks as a detector would report them (the release has
none), so that the ``landmarks`` stage (backend ``pts``) can run on an imported release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from voice2mesh.audio.logmel import normalize, repeat_to
from voice2mesh.data.pts import write_pts
from voice2mesh.facemodel.bfm import DEFAULT_EXPRESSION_STD, DEFAULT_SHAPE_STD

HEADER = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
PEOPLE = (  # id, name, gender, utterance lengths (frames), faces (0: none)
    ("id10001", "Ann_Able", "f", (350, 1200), 1),
    ("id10002", "Bob_Baker", "m", (640,), 1),
    ("id10003", "Fay_Fox", "f", (420, 999, 1000), 3),
    ("id10004", "Gus_Gray", "m", (800,), 2),
    ("id10005", "Hal_Hill", "m", (500,), 0),  # voices, no face folder
    ("id10006", "Ida_Ink", "f", (), 2),  # faces, no voices
)
FACE_FOLDERS = {"test": "A2E_val", "train": "faces_3d"}
Person = tuple[str, str, str, tuple[int, ...], int]


@dataclass
class Release:
    """What was written: the root, and the true arrays by file path."""

    root: Path
    fbank: dict[str, np.ndarray] = field(default_factory=dict)  # path -> (T, 64) utterance
    params: dict[str, np.ndarray] = field(default_factory=dict)  # photo path -> (228,)


def random_params(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """(228,) 199 shape + 29 expression coefficients, the first 40 / 10 at 3DDFA's prior std."""
    shape = rng.normal(size=199) * 1e4
    shape[:40] = rng.normal(size=40) * DEFAULT_SHAPE_STD * scale
    expression = rng.normal(size=29) * 0.1
    expression[:10] = rng.normal(size=10) * DEFAULT_EXPRESSION_STD * scale
    return np.concatenate([shape, expression]).astype(np.float32)


def utterance(rng: np.random.Generator, frames: int) -> np.ndarray:
    """(frames, 64) float32 normalised per bin, as the release's ``get_fbank`` leaves it."""
    return normalize(rng.normal(size=(frames, 64)) * rng.uniform(0.5, 3, 64) + 5)


def face_points(height: int, width: int) -> np.ndarray:
    """(68, 2) landmarks (x, row) on an ellipse filling the middle of the photo: only their box
    matters to the crops the teacher and the GAN see."""
    angle = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    return np.stack([(0.5 + 0.3 * np.cos(angle)) * width, (0.5 + 0.35 * np.sin(angle)) * height], 1)


def make_release(
    root: Path,
    seed: int = 0,
    people: tuple[Person, ...] = PEOPLE,
    photo: tuple[int, int] = (30, 40),
) -> Release:
    """Write the release of ``people`` (id, name, gender, utterance frames, faces; as
    ``PEOPLE``) under ``root``, with (height, width) ``photo`` photos."""
    rng = np.random.default_rng(seed)
    release = Release(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i}\t{n}\t{g}\tUSA\tdev\n" for i, n, g, _, _ in people)
    (root / "vox1_meta.csv").write_text(HEADER + rows)
    for identity, name, _, lengths, n_faces in people:
        for k, frames in enumerate(lengths):
            path = root / "fbank" / identity / "vid_abcdefg" / f"{k + 1:05d}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            features = utterance(rng, frames)
            np.save(path, repeat_to(features, 1000))  # utils.py get_fbank: tile + cut to 1000
            release.fbank[str(path)] = features
        folder = root / FACE_FOLDERS["test" if name[0] in "ABCDE" else "train"] / name
        for k in range(n_faces):
            folder.mkdir(parents=True, exist_ok=True)
            params = random_params(rng, scale=1.0 + k)  # later faces: stronger expressions
            np.save(folder / f"{k:05d}.npy", params)
            Image.new("RGB", photo[::-1], (k * 50, 90, 120)).save(folder / f"{k:05d}.jpg")
            write_pts(folder / f"{k:05d}.pts", face_points(*photo))
            release.params[str(folder / f"{k:05d}.jpg")] = params
    return release


def add_bad_files(release: Release) -> dict[str, str]:
    """Bad files beside the good ones; returns {path: expected reason code}."""
    root = release.root
    voice = root / "fbank" / "id10003" / "vid_abcdefg"
    face = root / "faces_3d" / "Fay_Fox"
    bad = {
        voice / "00091.npy": ("bad_shape", np.zeros((64, 1000), np.float32)),  # transposed
        voice / "00092.npy": ("not_normalised", np.full((700, 64), 7.0, np.float32) + 0.1),
        voice / "00093.npy": ("bad_dtype", np.ones((1000, 64), np.int16)),
        face / "00090.npy": ("bad_shape", np.zeros(100, np.float32)),
        face / "00091.npy": ("implausible", np.full(228, 1e9, np.float32)),
    }
    for path, (_, array) in bad.items():
        np.save(path, array)
    np.save(face / "00092.npy", np.array([{"shape": 1}], dtype=object), allow_pickle=True)
    (voice / "00094.npy").write_bytes(b"not numpy")
    codes = {str(p): code for p, (code, _) in bad.items()}
    return codes | {str(face / "00092.npy"): "unreadable", str(voice / "00094.npy"): "unreadable"}
