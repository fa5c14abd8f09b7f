"""Study stage ``summarise``: every point's scores → ``metrics/coupling.json`` and
``reports/coupling.md`` (+ ``reports/figures/coupling.png``).

Reads:  ``data/studies/coupling/points/*.csv`` and ``*.json`` (the ``point`` stages) and
        ``studies/coupling/params.yaml`` (``study``).
Writes: ``metrics/coupling.json`` (``coupling_summary.summarise_study``), the report and plot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from stages.common import stage_args
from voice2mesh.io import write_json
from voice2mesh.studies.coupling_report import write_report
from voice2mesh.studies.coupling_summary import coupling_key, summarise_study

STUDY = Path("studies/coupling")
METRICS = Path("metrics/coupling.json")
REPORT = Path("reports/coupling.md")
FIGURE = Path("reports/figures/coupling.png")


def measured_links(points: list[dict]) -> dict[str, dict[str, float]]:
    """``{coupling key: {trait: measured r}}``, averaged over the world seeds of a coupling."""
    by_key: dict[str, list[dict]] = {}
    for point in points:
        links = point["world"].get("voice_face_links", {})
        by_key.setdefault(point["key"], []).append({t: v["measured_r"] for t, v in links.items()})
    return {
        key: {t: round(float(np.mean([r[t] for r in rs])), 4) for t in rs[0]}
        for key, rs in by_key.items()
    }


def main(argv: list[str] | None = None) -> None:
    def extra(parser):
        parser.add_argument("--study", type=Path, default=STUDY / "params.yaml")

    args = stage_args(__doc__, argv, extra)
    study = yaml.safe_load(args.study.read_text())["study"]
    names = [f"c{coupling_key(c)}_w{w}" for c in study["couplings"] for w in study["world_seeds"]]
    folder = Path("data/studies/coupling/points")
    scores = pd.concat([pd.read_csv(folder / f"{n}.csv") for n in names], ignore_index=True)
    points = [
        {"key": n[1:].split("_w")[0], "world": json.loads((folder / f"{n}.json").read_text())}
        for n in names
    ]
    result = summarise_study(
        scores,
        measured_links(points),
        n_resamples=study["n_resamples"],
        n_draws=study["n_draws"],
        protocol_size=study["protocol_size"],
    )
    write_json(METRICS, result)
    write_report(result, REPORT, FIGURE)


if __name__ == "__main__":
    main()
