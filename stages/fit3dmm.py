"""Stage ``fit3dmm``: fit the 3DMM to every image's landmarks; build per-identity references.

Reads:  params ``fit3dmm``, ``face_model``, ``device``; ``data/landmarks/``, the manifest.
Writes: ``data/fits/`` (fits, rejects, references; see ``voice2mesh.fitting.store``) and
        ``metrics/fit3dmm.json`` (convergence, residuals, rejects). Fit quality against the
        synthetic world's truth is measured by the separate ``fit3dmm_truth`` stage, so that
        this stage never reads ``truth/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.common import stage_args
from voice2mesh.config import Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.fitting import build_references, diverged_reasons, fit_landmarks
from voice2mesh.fitting.store import write_fits
from voice2mesh.io import write_json
from voice2mesh.landmarks.store import read_landmarks

METRICS = Path("metrics/fit3dmm.json")

log = logging.getLogger("stages.fit3dmm")


def run(params: Params, metrics: Path = METRICS) -> dict:
    """Fit all images, reject diverged fits, write fits and references; return a summary."""
    cfg = params.fit3dmm
    model = load_from_params(params.face_model)
    index, points, sizes = read_landmarks(Path(params.landmarks.out))
    result = fit_landmarks(
        model,
        points,
        sizes[:, 0],
        n_iterations=cfg.n_iterations,
        n_refine=cfg.n_refine,
        landmark_sigma=cfg.landmark_sigma,
        shape_prior=cfg.shape_prior,
        expression_prior=cfg.expression_prior,
        batch_size=cfg.batch_size,
        device=resolve_device(params.device),
    )
    reasons = diverged_reasons(
        result, max_residual_norm=cfg.max_residual_norm, min_valid=cfg.min_valid
    )
    usable = np.array([r is None for r in reasons])
    if 1 - usable.mean() > cfg.max_reject_fraction:
        first = next(r for r in reasons if r)
        raise RuntimeError(
            f"{(~usable).sum()} of {len(usable)} fits rejected (> "
            f"fit3dmm.max_reject_fraction); first reason: {first}"
        )
    refs = build_references(index.identity.to_numpy(), result, cfg.reference, usable=usable)
    identities = read_manifests(Path(params.intersect.out)).identities
    stored = write_fits(Path(cfg.out), index, result, reasons, refs, identities)
    summary = stored.summary() | {"reference_rule": cfg.reference}
    write_json(metrics, summary)
    log.info("%s", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params))


if __name__ == "__main__":
    main()
