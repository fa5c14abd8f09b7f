"""Stage ``face_model``: preview and summarise the configured 3D Morphable Model.

Reads:  params ``face_model`` (and the model file for real models).
Writes: ``reports/figures/face_model.png`` (mean, male/female means, ±3σ of the 6 leading shape
        and 4 expression components, frontal and 45° yaw) and ``metrics/face_model.json``
        (vertex/triangle counts, components, mean-face OICD and the four ARE ratios).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.config import FaceModelParams, load_params
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.io import write_json
from voice2mesh.render import save_png
from voice2mesh.report.face_model import face_model_sheet, face_model_summary

FIGURE = Path("reports/figures/face_model.png")
METRICS = Path("metrics/face_model.json")

log = logging.getLogger("stages.face_model")


def run(cfg: FaceModelParams, figure: Path = FIGURE, metrics: Path = METRICS) -> dict:
    """Load the model, write its preview sheet and summary; return the summary."""
    model = load_from_params(cfg)
    log.info("loaded %s: %d vertices", model.name, model.n_vertices)
    save_png(figure, face_model_sheet(model, size=cfg.preview_size))
    summary = face_model_summary(model)
    write_json(metrics, summary)
    log.info("wrote %s and %s", figure, metrics)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params).face_model)


if __name__ == "__main__":
    main()
