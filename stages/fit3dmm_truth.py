"""Stage ``fit3dmm_truth``: fit quality against the synthetic world's ground truth.

The evaluation's ground-truth mode, the only reader of ``truth/`` besides tests.
Reads:  params ``synth.root``, ``face_model``; ``data/fits/``; ``<synth.root>/truth/``.
Writes: ``metrics/fit3dmm_truth.json``: per-image fits and per-identity references against the
        true neutral faces (per-vertex RMSE in mm, coefficient RMSE in prior SDs), with the
        mean face and the gender mean face as floors. Without a truth folder (real data) it
        records that no ground truth exists.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

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
    ks = model.n_shape
    use = fits.usable
    names = fits.index.name[use]
    per_image = fit_quality(
        model,
        fits.result.shape[use],
        np.stack([truth.shape_of(n)[:ks] for n in names]),
        fits.index.join(
            fits.index.identity.map(
                dict(zip(fits.references.identity, fits.references.gender, strict=True))
            ).rename("g")
        ).g[use],
    )
    refs = fits.references
    per_identity = fit_quality(
        model,
        fits.reference_shape,
        np.stack([truth.shape_of(n)[:ks] for n in refs.name]),
        refs.gender.to_numpy(),
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    run(load_params(args.params))


if __name__ == "__main__":
    main()
