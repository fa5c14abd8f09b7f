"""The hidden ground truth of the synthetic world (``truth/``): write and read.

Only the evaluation's ground-truth mode and tests may read it. Files::

    identities.csv   name, voxceleb_id, gender, nationality, has_face, has_voice, anatomy z-scores
    shape.npy        (n_identities, Ks) float32 true shape coefficients, rows as identities.csv
    voices.csv       per-identity voice traits (name + VoiceIdentity fields)
    images.csv       path, name, yaw, pitch, roll (degrees)
    images.npz       rows = images.csv: pose (M,3,4), expression (M,Ke), landmarks_2d (M,68,2)
                     noise-free (x, row), visible (M,68), landmarks_3d (M,68,3) with expression,
                     unposed, canonical mm
    utterances.csv   path, name, duration_s, per-utterance parameters (utt_*)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.io import atomic_path
from voice2mesh.render import rotation_angles
from voice2mesh.synth.spec import Identity


@dataclass(frozen=True)
class Truth:
    identities: pd.DataFrame
    shape: np.ndarray  # (n_identities, Ks)
    voices: pd.DataFrame
    images: pd.DataFrame
    image_arrays: dict[str, np.ndarray]
    utterances: pd.DataFrame

    def shape_of(self, name: str) -> np.ndarray:
        """(Ks,) true shape coefficients of the identity called ``name``."""
        rows = np.flatnonzero(self.identities["name"].to_numpy() == name)
        if rows.size != 1:
            raise KeyError(f"identity {name!r} is not in the truth tables")
        return self.shape[rows[0]]

    def shapes_of(self, names, n_shape: int | None = None) -> np.ndarray:
        """(M, Ks) true shape coefficients of identities by name (first ``n_shape`` columns)."""
        row = pd.Series(np.arange(len(self.identities)), index=self.identities["name"])
        missing = sorted(set(names) - set(row.index))
        if missing:
            raise KeyError(f"identities {missing[:5]} are not in the truth tables")
        return self.shape[row.loc[list(names)].to_numpy(), :n_shape]

    def genders_of(self, names) -> np.ndarray:
        """(M,) true gender of identities by name."""
        return self.identities.set_index("name").gender.loc[list(names)].to_numpy()

    def counts(self) -> dict[str, float]:
        """Identities per modality, images, utterances, hours, and the A–E (test) share."""
        ids = self.identities
        both = ids[ids.has_face & ids.has_voice]
        return {
            "identities": len(ids),
            "with_voice": int(ids.has_voice.sum()),
            "with_face": int(ids.has_face.sum()),
            "with_both": len(both),
            "images": len(self.images),
            "utterances": len(self.utterances),
            "audio_hours": round(float(self.utterances.duration_s.sum()) / 3600, 4),
            "test_fraction_A_E": round(float(both.name.str[0].isin(list("ABCDE")).mean()), 4),
        }


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def _rotation(pose: np.ndarray) -> np.ndarray:
    """R of a world pose, which is s·R exactly (``images.sample_pose``): the linear part over
    its row norm. ``decompose_pose`` would do, but its SVD (LAPACK) rounds differently on
    different CPUs."""
    sR = np.asarray(pose, np.float64)[:, :3]
    return sR / np.sqrt((sR * sR).sum(axis=1)).mean()


def write_truth(identities: list[Identity], results: list[dict], folder: Path) -> Truth:
    """Collect the per-identity results into the compact truth files."""
    folder.mkdir(parents=True, exist_ok=True)
    has_voice = {r["index"] for r in results if r["voice"] is not None}
    ident = pd.DataFrame(
        [
            {
                "name": i.name,
                "voxceleb_id": i.voxceleb_id or "",
                "gender": i.gender,
                "nationality": i.nationality,
                "has_face": i.has_face,
                "has_voice": i.index in has_voice,
                **{f"z_{k}": v for k, v in i.anatomy_z.items()},
            }
            for i in identities
        ]
    )
    shape = np.stack([i.shape for i in identities]).astype(np.float32)
    names = {i.index: i.name for i in identities}
    voices = pd.DataFrame(
        [{"name": names[r["index"]], **r["voice"]} for r in results if r["voice"]]
    )
    images = [im for r in results for im in r["images"]]
    angles = [rotation_angles(_rotation(im["pose"])) for im in images]
    image_table = pd.DataFrame(
        {
            "path": [im["path"] for im in images],
            "name": [im["name"] for im in images],
            "yaw": [a[0] for a in angles],
            "pitch": [a[1] for a in angles],
            "roll": [a[2] for a in angles],
        }
    )
    arrays = {
        key: np.stack([im[key] for im in images]).astype(dtype)
        for key, dtype in (
            ("pose", np.float32),
            ("expression", np.float32),
            ("landmarks_2d", np.float32),
            ("visible", bool),
            ("landmarks_3d", np.float32),
        )
    }
    utterances = pd.DataFrame([u for r in results for u in r["utterances"]])
    _csv(ident, folder / "identities.csv")
    with atomic_path(folder / "shape.npy") as tmp:
        np.save(tmp, shape)
    _csv(voices, folder / "voices.csv")
    _csv(image_table, folder / "images.csv")
    with atomic_path(folder / "images.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    _csv(utterances, folder / "utterances.csv")
    return Truth(ident, shape, voices, image_table, arrays, utterances)


def read_truth(folder: Path) -> Truth:
    """Load ``truth/`` (evaluation's ground-truth mode and tests only)."""
    folder = Path(folder)
    if not (folder / "identities.csv").is_file():
        raise FileNotFoundError(
            f"{folder}: no synthetic ground truth here (identities.csv missing); ground-truth "
            "evaluation only exists for the synthetic world written by the synthesize stage"
        )
    with np.load(folder / "images.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return Truth(
        identities=pd.read_csv(folder / "identities.csv", keep_default_na=False),
        shape=np.load(folder / "shape.npy"),
        voices=pd.read_csv(folder / "voices.csv"),
        images=pd.read_csv(folder / "images.csv"),
        image_arrays=arrays,
        utterances=pd.read_csv(folder / "utterances.csv"),
    )
