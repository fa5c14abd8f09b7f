"""Stage ``fit3dmm_truth``: fit quality against the synthetic world's ground truth.

The evaluation's ground-truth mode, the only reader of ``truth/`` besides tests.
Reads:  params ``synth.root``, ``face_model``; ``data/fits/``; ``<synth.root>/truth/``.
Writes: ``metrics/fit3dmm_truth.json``: per-image fits and per-identity references against the
        true neutral faces (per-vertex RMSE in mm, coefficient RMSE in prior SDs), with the
        mean face and the gender mean face as floors. Without a truth folder (real data) it
        records that no ground truth exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.config import Params, load_params
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.fitting.quality import fit_quality
from voice2mesh.fitting.store import read_fits
from voice2mesh.io import write_json
from voice2mesh.synth.truth import read_truth

METRICS = Path("metrics/fit3dmm_truth.json")

log = logging.getLogger("stages.fit3dmm_truth")


def run(params: Params, metrics: Path = METRICS) -> dict:
    """Compare fits and references with the true shapes; return the nested metrics."""
    truth_dir = Path(params.synth.root) / "truth"
    if not (truth_dir / "identities.csv").is_file():
        summary = {"ground_truth": f"not available: no {truth_dir} (real data)"}
        write_json(metrics, summary)
        return summary
    truth = read_truth(truth_dir)
    model = load_from_params(params.face_model)
    fits = read_fits(Path(params.fit3dmm.out))
    images = fits.index[fits.usable]
    refs = fits.references
    per_image = fit_quality(
        model,
        fits.result.shape[fits.usable],
        truth.shapes_of(images.name, model.n_shape),
        truth.genders_of(images.name),
    )
    per_identity = fit_quality(
        model,
        fits.reference_shape,
        truth.shapes_of(refs.name, model.n_shape),
        truth.genders_of(refs.name),
    )
    summary = {
        "images": per_image,
        "references": per_identity,
        "reference_rule": params.fit3dmm.reference,
    }
    write_json(metrics, summary)
    log.info("%s", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params))


if __name__ == "__main__":
    main()
