"""Run every benchmark and write ``reports/benchmarks.md`` (run from the project root).

    .venv/bin/python benchmarks/report.py            # all benchmarks
    .venv/bin/python benchmarks/report.py render     # only some

The fitting benchmark compares with eos-py (``pip install -e '.[eos]'``) and reads the shared
Surrey Face Model assets from ../shared/assets. Numbers are from whatever machine runs this:
the committed report says which.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

BENCHMARKS: dict[str, tuple[str, str]] = {
    "render": ("Rasterizer", "z-buffer render of a face mesh (target: a few ms at 128×128)"),
    "speech": ("Speech synthesizer", "one 5.5 s utterance of the synthetic world"),
    "logmel": ("Log-mel front end", "vectorised vs the per-frame loop reference (≥ 5×, ≤ 1e-4)"),
    "fitting": ("3DMM landmark fitting vs eos", "Surrey Face Model, one core each"),
    "metrics": (
        "Evaluation metrics",
        "the paper's 301 identities × 3 utterances on the 53,215-vertex BFM "
        "(target: well under a minute)",
    ),
    "pipeline": ("Pipeline stages", "`python -m stages.<name>` on the default params"),
}
OUT = Path("reports/benchmarks.md")


def main(names: list[str]) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Regenerate with `.venv/bin/python benchmarks/report.py`.",
        "",
    ]
    for name in names or list(BENCHMARKS):
        title, what = BENCHMARKS[name]
        run = subprocess.run(
            [sys.executable, f"benchmarks/bench_{name}.py"],
            text=True,
            capture_output=True,
            check=False,
        )
        table = run.stdout.strip() if run.returncode == 0 else f"failed: {run.stderr[-500:]}"
        lines += [f"## {title}", "", what + ".", "", table, ""]
        print(f"{name}: done", file=sys.stderr)
    OUT.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
