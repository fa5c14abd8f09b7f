"""The synthetic Voxceleb-3D world, written in VoxCeleb1 + VGGFace's own on-disk formats.

Layout under ``root`` (docs/synthetic_world.md, "On disk")::

    voxceleb1/vox1_meta.csv                       tab-separated, the real five columns
    voxceleb1/wav/idXXXXX/<11-char video>/NNNNN.wav   16 kHz mono int16
    vggface/<Name>/NNNNN.jpg + NNNNN.pts          face photos + detector-like ibug landmarks
    truth/                                        hidden ground truth (evaluation/tests only)

Identities get VoxCeleb ids in alphabetical order of their names, as VoxCeleb1 does. Some have
voices but no face folder and some the reverse, so intersecting the two is real work. Each
identity is generated from its own seed ``[seed, index]``, so the world is identical whatever the
number of worker processes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from voice2mesh import portable as pm
from voice2mesh.facemodel import MorphableModel
from voice2mesh.io import atomic_path
from voice2mesh.parallel import ordered_map
from voice2mesh.synth.anatomy import measure, within_gender_z
from voice2mesh.synth.names import make_names, make_nationalities
from voice2mesh.synth.photos import render_photos
from voice2mesh.synth.spec import Identity, SynthParams
from voice2mesh.synth.speech import synthesize_utterance
from voice2mesh.synth.voice_traits import anatomy_correlation, voice_identity

SAMPLE_RATE = 16000
VIDEO_ID_ALPHABET = np.array(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
)


def plan_identities(model: MorphableModel, spec: SynthParams, seed: int) -> list[Identity]:
    """Genders, names, modalities, true shapes and anatomy z-scores of every identity."""
    rng = np.random.default_rng([seed, 0x5EED])
    n = spec.n_identities
    genders = np.where(rng.random(n) < 0.5, "male", "female")
    names = make_names(list(genders), rng)
    nationalities = make_nationalities(n, rng)
    shapes = np.stack([model.gender_mean_shape(g) for g in genders]) + pm.standard_normal(
        rng, (n, model.n_shape)
    ) * np.asarray(model.shape_std)
    shapes = shapes.astype(np.float32)
    z = within_gender_z(measure(model, model.reconstruct(shapes)), genders)
    modality = np.array(["both"] * n, dtype=object)
    special = rng.permutation(n)[: spec.voice_only + spec.face_only]
    modality[special[: spec.voice_only]] = "voice"
    modality[special[spec.voice_only :]] = "face"
    order = np.argsort(names, kind="stable")
    voxceleb = {}
    for i in order:
        if modality[i] != "face":
            voxceleb[i] = f"id{10001 + len(voxceleb)}"
    return [
        Identity(
            index=i,
            name=names[i],
            gender=str(genders[i]),
            nationality=nationalities[i],
            voxceleb_id=voxceleb.get(i),
            has_face=modality[i] != "voice",
            shape=shapes[i],
            anatomy_z={k: float(v[i]) for k, v in z.items()},
        )
        for i in range(n)
    ]


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _faces(model, spec, ident, rng, look, root) -> list[dict]:
    records = render_photos(
        model,
        ident.shape,
        ident.gender,
        spec,
        rng,
        look,
        root,
        f"vggface/{ident.name}",
    )
    for record in records:
        del record["noisy_landmarks"]
        record["name"] = ident.name
    return records


def _voices(spec, ident, rng, root, corr) -> tuple[dict, list[dict]]:
    voice = voice_identity(ident.anatomy_z, ident.gender, spec.voice_coupling, rng, corr)
    n_videos = int(rng.integers(spec.videos_per_identity[0], spec.videos_per_identity[1] + 1))
    n_utts = int(rng.integers(spec.utterances_per_identity[0], spec.utterances_per_identity[1] + 1))
    videos = ["".join(rng.choice(VIDEO_ID_ALPHABET, 11)) for _ in range(n_videos)]
    records = []
    for u in range(n_utts):
        video = videos[u % n_videos]
        number = u // n_videos + 1
        duration = float(rng.uniform(*spec.duration_s))
        samples, params = synthesize_utterance(voice, rng, duration, SAMPLE_RATE)
        rel = f"voxceleb1/wav/{ident.voxceleb_id}/{video}/{number:05d}.wav"
        _write_wav(root / rel, samples)
        records.append(
            {
                "path": rel,
                "name": ident.name,
                "duration_s": len(samples) / SAMPLE_RATE,
                **{f"utt_{k}": v for k, v in params.items()},
            }
        )
    return asdict(voice), records


_WORKER: dict = {}


def _init_worker(
    model: MorphableModel, spec: SynthParams, root: Path, seed: int, corr: np.ndarray
) -> None:
    _WORKER.update(model=model, spec=spec, root=root, seed=seed, corr=corr)


def _generate(ident: Identity) -> dict:
    """Everything one identity contributes (runs in a worker)."""
    model, spec, root = _WORKER["model"], _WORKER["spec"], _WORKER["root"]
    face_rng = np.random.default_rng([_WORKER["seed"], ident.index, 1])
    voice_rng = np.random.default_rng([_WORKER["seed"], ident.index, 2])
    look_rng = np.random.default_rng([_WORKER["seed"], ident.index, 3])  # gendered style
    out: dict = {"index": ident.index, "images": [], "utterances": [], "voice": None}
    if ident.has_face:
        out["images"] = _faces(model, spec, ident, face_rng, look_rng, root)
    if ident.voxceleb_id is not None:
        out["voice"], out["utterances"] = _voices(spec, ident, voice_rng, root, _WORKER["corr"])
    return out


def generate_world(
    model: MorphableModel,
    spec: SynthParams,
    root: Path,
    seed: int,
    workers: int = 2,
    progress: Callable[[Iterator], Iterator] = iter,
) -> tuple[list[Identity], list[dict]]:
    """Write the face photos and voices of every identity under ``root``.

    Args:
        model: the true face model of the world.
        spec: what to generate.
        root: output folder (``voxceleb1/`` and ``vggface/`` are created inside).
        seed: world seed.
        workers: processes; 1 runs in this process.
        progress: wraps the per-identity iterator (e.g. ``tqdm``).

    Returns:
        The identities and one result dict per identity (images, utterances, voice traits).
    """
    identities = plan_identities(model, spec, seed)
    # Correlation of the anatomy z-scores, so each link driver a_t has unit variance exactly.
    corr = anatomy_correlation(
        {k: np.array([i.anatomy_z[k] for i in identities]) for k in identities[0].anatomy_z}
    )
    args = (model, spec, root, seed, corr)
    work = ordered_map(_generate, identities, workers, initializer=_init_worker, initargs=args)
    results = list(progress(work))
    return identities, results


def clear_world(root: Path) -> None:
    """Delete a previously generated world at ``root``, refusing anything else.

    Only an empty folder or one holding a synthetic world (``truth/identities.csv``) is removed,
    so a ``synth.root`` pointed at real data by mistake is never wiped.
    """
    root = Path(root)
    if not root.exists():
        return
    if any(root.iterdir()) and not (root / "truth" / "identities.csv").is_file():
        raise FileExistsError(
            f"{root} exists and is not a synthetic world (no truth/identities.csv); refusing to "
            "delete it. Point synth.root at a new folder"
        )
    shutil.rmtree(root)


def write_meta(identities: list[Identity], path: Path) -> pd.DataFrame:
    """``vox1_meta.csv``: one tab-separated row per identity with a voice, in id order."""
    rows = sorted((i for i in identities if i.voxceleb_id is not None), key=lambda i: i.voxceleb_id)
    meta = pd.DataFrame(
        {
            "VoxCeleb1 ID": [i.voxceleb_id for i in rows],
            "VGGFace1 ID": [i.name for i in rows],
            "Gender": [i.gender[0] for i in rows],
            "Nationality": [i.nationality for i in rows],
            "Set": ["test" if i.name.startswith("E") else "dev" for i in rows],
        }
    )
    with atomic_path(path) as tmp:
        meta.to_csv(tmp, sep="\t", index=False)
    return meta
