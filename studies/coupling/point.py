"""Study stage ``point``: one world at one voice coupling, the supervised method trained on it,
the per-identity scores of supervised and the gender-from-voice mean face.

Reads:  ``params.yaml`` (every main section the data and training stages read) and
        ``studies/coupling/params.yaml`` (``study``).
Writes: ``data/studies/coupling/points/c<coupling>_w<world seed>.csv`` (``coupling.score_point``)
        and ``.json`` (the world's counts and measured voice–face links). The world is
        generated under ``study.work`` and deleted when the point is done.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from stages import (
    features,
    fit3dmm,
    intersect,
    landmarks,
    pretrain_voice,
    synthesize,
    train_supervised,
)
from stages.common import stage_args
from voice2mesh.config import Params, load_params
from voice2mesh.io import atomic_path, write_json
from voice2mesh.studies.coupling import point_params, score_point

STUDY = Path("studies/coupling")


def run_point(
    params: Params,
    coupling: float,
    world_seed: int,
    study: dict,
    work: Path,
    quiet: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Generate, prepare, train and score one point; delete ``work`` after.

    Returns:
        ``(scores, world)``: per-identity scores (``score_point``) and the world's
        ``metrics/synthesize.json`` content (counts and the measured voice–face links).
    """
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    p = point_params(params, coupling, world_seed, study["n_seeds"], work, study.get("overrides"))
    m = work / "metrics"
    try:
        world = synthesize.run(p, work / "world.png", m / "synthesize.json", quiet=quiet)
        intersect.run(p.intersect, m / "intersect.json")
        landmarks.run(p, m / "landmarks.json", quiet=quiet)
        features.run(p, m / "features.json", quiet=quiet)
        fit3dmm.run(p, m / "fit3dmm.json")
        pretrain_voice.run(p, m / "pretrain_voice.json", m / "pretrain_voice.csv", quiet=quiet)
        train_supervised.run(p, m / "train_supervised.json", m / "sup.csv", quiet=quiet)
        scores = score_point(p).assign(coupling=coupling, world_seed=world_seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return scores, world


def main(argv: list[str] | None = None) -> None:
    def extra(parser):
        parser.add_argument("--coupling", type=float, required=True)
        parser.add_argument("--world-seed", type=int, required=True)
        parser.add_argument("--study", type=Path, default=STUDY / "params.yaml")

    args = stage_args(__doc__, argv, extra)
    study = yaml.safe_load(args.study.read_text())["study"]
    name = f"c{format(args.coupling, 'g')}_w{args.world_seed}"  # the coupling as in params
    work = Path(study["work"]) / name
    scores, world = run_point(load_params(args.params), args.coupling, args.world_seed, study, work)
    out = Path("data/studies/coupling/points") / f"{name}.csv"
    with atomic_path(out) as tmp:
        scores.to_csv(tmp, index=False, float_format="%.8g")
    write_json(out.with_suffix(".json"), world)


if __name__ == "__main__":
    main()
