"""Run every benchmark and write ``reports/benchmarks.md`` (run from the project root).

    .venv/bin/python benchmarks/report.py            # all benchmarks
    .venv/bin/python benchmarks/report.py render     # only some (the others' sections stay)

The fitting benchmark compares with eos-py (``pip install -e '.[eos]'``) and reads the shared
Surrey Face Model assets from ../shared/assets. Numbers are from whatever machine runs this:
the committed report says which.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS: dict[str, tuple[str, str]] = {
    "render": ("Rasterizer", "z-buffer render of a face mesh (target: a few ms at 128×128)"),
    "speech": ("Speech synthesizer", "one 5.5 s utterance of the synthetic world"),
    "synthesize": (
        "Synthetic world",
        "the synthesize stage on the default params (world written to a temporary folder) and "
        "the portable normal sampler it draws from, against numpy's",
    ),
    "logmel": (
        "Log-mel front end",
        "batched `log_mel_batch` vs the per-frame loop reference (≥ 20×, exact)",
    ),
    "ge2e": (
        "GE2E speaker encoder",
        "resemblyzer's GE2E on the ten real VoxCeleb1 clips: speed per second of audio, and "
        "same- vs different-speaker cosine similarity",
    ),
    "fitting": (
        "3DMM landmark fitting vs eos (target: default ≥ 50× eos at ≤ eos RMSE)",
        "Surrey Face Model, one core each; times are the process's CPU seconds, best of 5 rounds "
        "that each run every fitter in turn. The default stops one Gauss-Newton step short of "
        "the converged MAP fit (the old default, listed for its accuracy)",
    ),
    "fit_cli": (
        "Photo to 3D face (`voice2mesh fit`) vs eos",
        "image_0010 with its hand landmarks and the Surrey Face Model, one core each",
    ),
    "landmarks": (
        "Offline landmarks (dlib)",
        "`DlibBackend`'s HOG and CNN detectors on the reference photos: error against hand "
        "landmarks, faces found, seconds per photo",
    ),
    "pipeline": (
        "Pipeline stages",
        "`python -m stages.<name>` on the default params, one after the other outside DVC (idle "
        "2-core machine, numba kernels cached); the outputs come out byte-identical, so "
        "`dvc status` stays clean. `dvc repro` adds DVC's hashing of the data folders",
    ),
    "evaluate": (
        "The evaluate stage by phase (target: ≤ 30 s)",
        "`stages.evaluate.run` on the default params and the pipeline's `data/` (outputs to a "
        "temporary folder), each phase timed by wrapping the function the stage calls; the "
        "scoring's share is what an exact speed-up of the metrics could act on",
    ),
    "throughput": (
        "Training throughput at the paper's sizes",
        "one optimizer step of each training stage's networks at the paper's widths and batch "
        "128, on the device found (on CUDA also bf16 autocast); 50,000 iterations is the "
        "paper's schedule",
    ),
    "distributed": (
        "Distributed training (gloo, CPU)",
        "the `pretrain_voice` stage on the default params (one seed, 24 steps, the pipeline's "
        "`data/`) in one process on one thread, one process on two threads and two processes "
        "(`torchrun`, DDP) of one thread each; the worst difference of a trained tensor from "
        "the first run, relative to its largest magnitude: splitting the batch moves the "
        "weights as much as a thread count does (Adam turns last-bit differences into "
        "lr-sized ones). Wall times from a 2-core machine shared with other jobs",
    ),
    "scale": (
        "Data stages at VoxCeleb size",
        "`features`, `landmarks` (pts backend) and `fit3dmm`'s work on 20,000 utterances and "
        "20,000 photos tiled from the synthetic world (`benchmarks/bench_scale.py`): "
        "throughput per core, peak memory, files per folder, the full VoxCeleb1 on 16 cores",
    ),
    "metrics": (
        "Evaluation metrics",
        "the paper's 301 identities × 3 utterances on the 53,215-vertex BFM "
        "(target: well under a minute)",
    ),
}
# Sections measured outside this script (another interpreter), kept as they are in the
# report, right after the section of the benchmark named here.
MEASURED_ELSEWHERE = {
    "landmarks": "Offline landmarks: MediaPipe face mesh vs dlib",  # bench_mediapipe.py's venv
}
OUT = Path("reports/benchmarks.md")


def main(names: list[str]) -> None:
    """Run the named benchmarks (all when none) and rewrite their sections of the report.

    Sections of benchmarks not run are kept as they are in the existing report.
    """
    header = (
        "# Benchmarks\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Regenerate with `.venv/bin/python benchmarks/report.py`."
    )
    previous = _sections(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {}
    sections = []
    for name, (title, what) in BENCHMARKS.items():
        kept = MEASURED_ELSEWHERE.get(name)
        after = [previous[kept]] if kept in previous else []
        if names and name not in names:
            sections += ([previous[title]] if title in previous else []) + after
            continue
        run = subprocess.run(
            [sys.executable, f"benchmarks/bench_{name}.py"],
            text=True,
            capture_output=True,
            check=False,
        )
        table = run.stdout.strip() if run.returncode == 0 else f"failed: {run.stderr[-500:]}"
        sections += [f"## {title}\n\n{what}.\n\n{table}", *after]
        print(f"{name}: done", file=sys.stderr)
    OUT.write_text("\n\n".join([header, *sections]) + "\n", encoding="utf-8")


def _sections(report: str) -> dict[str, str]:
    """``{title: "## title ..." section text}`` of an existing report."""
    parts = re.split(r"(?m)^(?=## )", report)
    return {p.splitlines()[0][3:]: p.strip() for p in parts if p.startswith("## ")}


if __name__ == "__main__":
    main(sys.argv[1:])
