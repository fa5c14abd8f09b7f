"""Stage ``teacher_corpus``: labelled face photos of a separate population for the teacher.

3DDFA and SynergyNet learn on 300W-LP, not on Voxceleb-3D; this stage renders the synthetic
world's analogue (``voice2mesh.synth.corpus``): identities drawn apart from the world's, photos
with the world's nuisance, each labelled with its own pose, shape and expression.

Reads:  params ``teacher_corpus``, ``face_model``, ``seed``.
Writes: ``${teacher_corpus.root}/`` (images/, labels.npz, index.csv) and
        ``metrics/teacher_corpus.json`` (identities, photos and the train/val split).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.config import Params, load_params
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.io import atomic_dir, write_json
from voice2mesh.synth.corpus import generate_corpus

METRICS = Path("metrics/teacher_corpus.json")

log = logging.getLogger("stages.teacher_corpus")


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Render the corpus into ``teacher_corpus.root`` (replaced whole) and count it."""
    cfg = params.teacher_corpus
    model = load_from_params(params.face_model)
    bar = lambda it: tqdm(it, total=cfg.n_identities, desc="corpus", disable=quiet)  # noqa: E731
    with atomic_dir(Path(cfg.root)) as folder:
        corpus = generate_corpus(model, cfg, folder, params.seed, bar)
    summary = {
        "identities": len(np.unique(corpus.identity)),
        "photos": len(corpus.path),
        "val_identities": len(np.unique(corpus.identity[corpus.split == "val"])),
        "val_photos": int(np.sum(corpus.split == "val")),
        "image_size": cfg.image_size,
    }
    write_json(metrics, summary)
    log.info("%s", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
