"""Where the ``evaluate`` stage's time goes, phase by phase (run from the project root).

Runs ``stages.evaluate.run`` on the default params and the pipeline's ``data/`` (outputs
written to a temporary folder, so nothing committed changes) ``REPEATS`` times, each in a fresh
interpreter as the stage runs (``--once``), and times each phase by wrapping the functions the
stage calls; the run with the median total is reported, start-up (importing the stage's
modules) included.
The scoring (``score_all``: reconstruction, ratio errors, and ICP registration of every
distinct prediction against each reference kind, on ``icp.THREADS`` threads) is also counted:
how many registrations it makes, and how much faster it would have to be for the stage to meet
a ``TARGET_S`` budget with the other phases as they are.

    .venv/bin/python benchmarks/bench_evaluate.py
"""

from __future__ import annotations

import time

START = time.perf_counter()

import dataclasses  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import stages.evaluate as stage  # noqa: E402
from voice2mesh.config import load_params  # noqa: E402
from voice2mesh.evaluation import scorings  # noqa: E402

IMPORT_S = time.perf_counter() - START
REPEATS = 3
TARGET_S = 30.0  # issue 15's budget for the stage
PHASES = {  # the stage module's names that are timed, and how the table calls them
    "start-up": "the stage's imports, and what no phase below times (test set, logging)",
    "load_from_params": "face model",
    "predict": "inference: every row and seed, the gender mean face",
    "photo_crops": "test photos read and cropped",
    "teacher_on_photos": "teacher_on_photos row",
    "teacher_rows": "teacher's held-out accuracy",
    "score_all": "scoring (reconstruction, ARE, NME, ICP registration)",
    "summarise_blocks": "bootstrap summaries",
    "_csv": "CSV files",
    "write_predictions": "predictions.npz",
}


def timed(name: str, fn: Callable, spent: dict[str, float]) -> Callable:
    """``fn`` adding its wall time to ``spent[name]``."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start

    return wrapper


def run_once(params, folder: Path) -> tuple[float, dict[str, float], int]:
    """One run of the stage: (total wall s, {phase: wall s}, registrations)."""
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(stage, name) for name in PHASES if name != "start-up"}
    icp_rmse, registered = scorings.icp_rmse, []

    def counted(model, pred, *args, **kwargs):
        registered.append(len(pred))  # list.append is atomic: the scoring's threads call this
        return icp_rmse(model, pred, *args, **kwargs)

    try:
        for name, fn in originals.items():
            setattr(stage, name, timed(name, fn, spent))
        scorings.icp_rmse = counted
        start = time.perf_counter()
        stage.run(params, metrics=folder / "evaluate.json", quiet=True)
        total = time.perf_counter() - start
    finally:
        for name, fn in originals.items():
            setattr(stage, name, fn)
        scorings.icp_rmse = icp_rmse
    return total, dict(spent), sum(registered)


def once() -> None:
    """One run in this interpreter; prints its timings as JSON."""
    params = load_params(Path("params.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        evaluate = dataclasses.replace(params.evaluate, out=str(folder / "evaluation"))
        params = dataclasses.replace(params, evaluate=evaluate)
        total, spent, n_registrations = run_once(params, folder)
    print(json.dumps({"total": total + IMPORT_S, "spent": spent, "registered": n_registrations}))


def main() -> None:
    runs = []
    for _ in range(REPEATS):
        argv = [sys.executable, __file__, "--once"]
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    totals = [r["total"] for r in runs]
    chosen = runs[totals.index(statistics.median_low(totals))]
    total, spent, n_registrations = chosen["total"], chosen["spent"], chosen["registered"]
    spent["start-up"] = total - sum(spent.values())
    print(
        f"Wall s of the run with the median total of {REPEATS} "
        f"({', '.join(f'{t:.1f}' for t in totals)} s), each a fresh interpreter.\n"
    )
    print("| phase | wall s |\n|---|---:|")
    for name, what in PHASES.items():
        print(f"| {what} | {spent.get(name, 0.0):.1f} |")
    print(f"| **total** | **{total:.1f}** |")
    scoring = spent["score_all"]
    rest = total - scoring
    print(
        f"\nThe scoring registered {n_registrations:,} predictions against their references "
        "(whole mesh, then each of six parts): "
        f"{1000 * scoring / n_registrations:.2f} ms of wall time apiece. Everything but the "
        f"scoring takes {rest:.1f} s, so a {TARGET_S:.0f} s stage leaves the scoring "
        + (
            f"{TARGET_S - rest:.1f} s: {scoring / (TARGET_S - rest):.1f} × faster than now."
            if rest < TARGET_S
            else "no time at all."
        )
    )


if __name__ == "__main__":
    once() if "--once" in sys.argv[1:] else main()
