"""Stage ``report``: the paper's Tables 1-5 and the report figures.

Reads:  params ``report``, ``face_model``, ``evaluate.out`` / ``evaluate.confidence``;
        ``metrics/evaluate.json``, ``${evaluate.out}/paired.csv`` and
        ``${evaluate.out}/predictions.npz``.
Writes: ``${report.tables}`` (markdown: Tables 1-5 against the reference faces and, in the
        synthetic world, against the true faces, each with its seed counts, p and Holm p and a
        shape-only Tables 1-4; the paper's numbers beside ours) and, in
        ``${report.figures}/``, ``meshes.png``, ``coherence.png`` and ``ear_ratio.png``
        (``gan_samples.png`` there comes from ``train_gan`` and is only linked).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from stages.common import stage_args
from voice2mesh.config import Params, load_params
from voice2mesh.evaluation.rows import ROW_NAMES
from voice2mesh.evaluation.store import read_predictions
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.io import write_text
from voice2mesh.render import save_png
from voice2mesh.report import figures, tables

METRICS = Path("metrics/evaluate.json")
FIGURES = {  # file -> title in the tables' header
    "meshes.png": "predicted meshes",
    "coherence.png": "one speaker, three utterances",
    "ear_ratio.png": "ear ratio scatter",
}
GAN_SAMPLES = "gan_samples.png"

log = logging.getLogger("stages.report")


def run(params: Params, metrics: Path = METRICS) -> dict:
    """Write the tables and figures; return which rows and figures the report holds."""
    cfg = params.report
    if not Path(metrics).is_file():
        raise FileNotFoundError(f"{metrics} not found; run `dvc repro evaluate` first")
    results = json.loads(Path(metrics).read_text(encoding="utf-8"))
    folder = Path(params.evaluate.out)
    paired = pd.read_csv(folder / "paired.csv") if (folder / "paired.csv").is_file() else None
    pred = read_predictions(folder / "predictions.npz")
    model = load_from_params(params.face_model)

    out = Path(cfg.figures)
    save_png(out / "meshes.png", figures.mesh_sheet(model, pred, cfg.n_speakers, cfg.size))
    save_png(out / "coherence.png", figures.coherence_sheet(model, pred, cfg.size))
    figures.ear_ratio_png(model, pred, out / "ear_ratio.png")
    titles = dict(FIGURES) | ({GAN_SAMPLES: "GAN samples"} if (out / GAN_SAMPLES).is_file() else {})
    tables_path = Path(cfg.tables)
    links = {
        title: Path(os.path.relpath(out / name, tables_path.parent)).as_posix()
        for name, title in titles.items()
    }
    text = tables.render_tables(results, paired, links, params.evaluate.confidence)
    write_text(tables_path, text)
    log.info("wrote %s and %d figures in %s", tables_path, len(FIGURES), out)
    present = results.get("vs_reference", {})
    return {
        "rows": sorted(present),
        "missing": [r for r in tables.shown(ROW_NAMES, results) if r not in present],
        "left_out": tables.left_out(results),
        "kinds": [k[len("vs_") :] for k in sorted(results) if k.startswith("vs_")],
        "figures": sorted(titles),
    }


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params))


if __name__ == "__main__":
    main()
