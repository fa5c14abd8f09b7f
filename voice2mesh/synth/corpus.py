"""The teacher's pretraining corpus: labelled face photos of a population apart from the world.

3DDFA and SynergyNet learn on 300W-LP, face images with fitted 3DMM parameters whose people are
not the Voxceleb-3D identities. This corpus plays that part for the synthetic world: identities
drawn from the face model's prior on their own random stream (``[seed, CORPUS_STREAM, ...]``,
disjoint from the world's ``[seed, index, ...]`` streams), photographed with the same nuisance
as the VGGFace photos, and labelled with their own parameters (pose, shape, expression). Those
labels are the corpus's, as 300W-LP's fits are; the world's truth stays hidden.

On disk: ``data.corpus``'s layout, identities ``cNNNNNN``; ``split`` is ``train`` or ``val``
per identity (``val_fraction`` of them, by a seeded draw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh import portable as pm
from voice2mesh.data.corpus import INDEX, LABELS, Corpus
from voice2mesh.facemodel import MorphableModel
from voice2mesh.io import atomic_path
from voice2mesh.parallel import ordered_map
from voice2mesh.synth.photos import render_photos
from voice2mesh.synth.spec import CorpusParams

CORPUS_STREAM = 0x300  # 300W-LP; the world's streams are [seed, index, 1 | 2] and [seed, 0x5EED]


def plan_corpus(model: MorphableModel, cfg: CorpusParams, seed: int) -> pd.DataFrame:
    """Identity, gender, split and shape of every corpus identity (one row each)."""
    rng = np.random.default_rng([seed, CORPUS_STREAM])
    n = cfg.n_identities
    genders = np.where(rng.random(n) < 0.5, "male", "female")
    shapes = np.stack([model.gender_mean_shape(g) for g in genders]) + pm.standard_normal(
        rng, (n, model.n_shape)
    ) * np.asarray(model.shape_std)
    n_val = min(n - 1, max(1, round(cfg.val_fraction * n)))
    split = np.full(n, "train", dtype=object)
    split[rng.permutation(n)[:n_val]] = "val"
    return pd.DataFrame(
        {
            "identity": [f"c{i + 1:06d}" for i in range(n)],
            "gender": genders,
            "split": split,
            "shape": list(shapes.astype(np.float32)),
        }
    )


_WORKER: dict = {}


def _init(model: MorphableModel, cfg: CorpusParams, root: Path, seed: int) -> None:
    _WORKER.update(model=model, cfg=cfg, root=root, seed=seed)


def _photograph(item: tuple[int, str, str, np.ndarray]) -> list[dict]:
    index, identity, gender, shape = item
    cfg = _WORKER["cfg"]
    rng = np.random.default_rng([_WORKER["seed"], CORPUS_STREAM, index + 1])
    look = np.random.default_rng([_WORKER["seed"], CORPUS_STREAM, index + 1, 1])
    return render_photos(
        _WORKER["model"],
        shape,
        gender,
        cfg,
        rng,
        look,
        _WORKER["root"],
        f"images/{identity}",
    )


def generate_corpus(
    model: MorphableModel,
    cfg: CorpusParams,
    root: Path,
    seed: int,
    progress: Callable[[Iterator], Iterator] = iter,
) -> Corpus:
    """Render the corpus under ``root`` and write its labels; returns them.

    Each identity renders from its own stream, so the corpus does not depend on ``cfg.workers``.
    """
    root = Path(root)
    plan = plan_corpus(model, cfg, seed)
    items = list(zip(range(len(plan)), plan.identity, plan.gender, plan["shape"], strict=True))
    work = ordered_map(
        _photograph, items, cfg.workers, initializer=_init, initargs=(model, cfg, root, seed)
    )
    rows = []
    for (_, person), records in zip(plan.iterrows(), progress(work), strict=True):
        rows += [(person, record) for record in records]
    corpus = Corpus(
        path=np.array([r["path"] for _, r in rows], str),
        identity=np.array([p.identity for p, _ in rows], str),
        gender=np.array([p.gender for p, _ in rows], str),
        split=np.array([p.split for p, _ in rows], str),
        pose=np.stack([r["pose"] for _, r in rows]).astype(np.float64),
        shape=np.stack([p["shape"] for p, _ in rows]).astype(np.float32),
        expression=np.stack([r["expression"] for _, r in rows]).astype(np.float32),
        landmarks=np.stack([r["noisy_landmarks"] for _, r in rows]).astype(np.float64),
    )
    with atomic_path(root / LABELS) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **corpus._asdict())
    table = pd.DataFrame({k: getattr(corpus, k) for k in ("path", "identity", "gender", "split")})
    with atomic_path(root / INDEX) as tmp:
        table.to_csv(tmp, index=False)
    return corpus
