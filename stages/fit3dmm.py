"""Stage ``fit3dmm``: fit the 3DMM to every image's landmarks; build per-identity references.

Reads:  params ``fit3dmm``, ``face_model``, ``device``; ``data/landmarks/``, the manifest; with
        ``intersect.source: release`` instead the 3DMM parameter file of each manifest face
        (its first ``face_model.n_shape`` + ``n_expression`` coefficients, no pose; references
        by ``fit3dmm.reference``; the other ``fit3dmm`` knobs do not apply).
Writes: ``data/fits/`` (``shard_NNNNN.npz`` fits of the landmarks' shard NNNNN, index,
        rejects, references; see ``voice2mesh.fitting.store``) and
        ``metrics/fit3dmm.json`` (convergence, residuals, rejects). Fit quality against the
        synthetic world's truth is measured by the separate ``fit3dmm_truth`` stage, so that
        this stage never reads ``truth/``.
The landmarks are fitted a shard at a time and only the per-identity reference state is kept
between shards, so memory does not grow with the number of photos.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from stages.common import stage_args
from voice2mesh.config import FitParams, Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.fitting import FitResult, diverged_reasons, fit_landmarks
from voice2mesh.fitting.store import StoredFits, write_fit_shards
from voice2mesh.io import write_json
from voice2mesh.landmarks.store import iter_landmarks
from voice2mesh.release import import_fits
from voice2mesh.release.source import import_options, naming_params

METRICS = Path("metrics/fit3dmm.json")

log = logging.getLogger("stages.fit3dmm")


def _release(params: Params) -> StoredFits:
    """The manifest faces' parameter files as fits (the release's own fits)."""
    options = dataclasses.replace(
        import_options(params.intersect),
        n_shape=params.face_model.n_shape,
        n_expression=params.face_model.n_expression,
        reference=params.fit3dmm.reference,
    )
    manifests = read_manifests(Path(params.intersect.out))
    with naming_params():
        return import_fits(manifests, params.fit3dmm.out, options)


def fitted_shards(
    landmarks: Path, model: MorphableModel, cfg: FitParams, device: str
) -> Iterator[tuple[pd.DataFrame, FitResult, list[str | None]]]:
    """Per landmarks shard: its index rows, their fits and ``diverged_reasons``."""
    for rows, points, sizes in iter_landmarks(landmarks):
        result = fit_landmarks(
            model,
            points,
            sizes[:, 0],
            n_iterations=cfg.n_iterations,
            n_refine=cfg.n_refine,
            landmark_sigma=cfg.landmark_sigma,
            shape_prior=cfg.shape_prior,
            expression_prior=cfg.expression_prior,
            tol=cfg.tol,
            batch_size=cfg.batch_size,
            device=device,
        )
        reasons = diverged_reasons(
            result, max_residual_norm=cfg.max_residual_norm, min_valid=cfg.min_valid
        )
        yield rows, result, reasons


def _landmarks(params: Params) -> dict:
    """Fit the images a landmarks shard at a time; write fits, rejects and references."""
    cfg = params.fit3dmm
    model = load_from_params(params.face_model)
    device = resolve_device(params.device)
    shards = fitted_shards(Path(params.landmarks.out), model, cfg, device)
    identities = read_manifests(Path(params.intersect.out)).identities
    return write_fit_shards(
        Path(cfg.out),
        shards,
        identities,
        cfg.reference,
        max_reject_fraction=cfg.max_reject_fraction,
    )


def run(params: Params, metrics: Path = METRICS) -> dict:
    """Write the fits and references of ``intersect.source``; return a summary."""
    if params.intersect.source == "release":
        summary = _release(params).summary()
    else:
        summary = _landmarks(params)
    summary |= {"reference_rule": params.fit3dmm.reference}
    write_json(metrics, summary)
    log.info("%s", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params))


if __name__ == "__main__":
    main()
