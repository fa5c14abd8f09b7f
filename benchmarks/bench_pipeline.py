"""Wall-clock time of every pipeline stage on the default params (run from the project root).

Runs ``python -m stages.<name>`` in DVC order on this machine, outside DVC (the outputs are
rewritten byte-identically, so ``dvc status`` stays clean), and prints a markdown table.
"""

from __future__ import annotations

import subprocess
import sys
import time

import yaml


def commands(stages: dict) -> list[tuple[str, list[str]]]:
    """``(stage name, argv)`` in DVC order; ``foreach`` stages expand to ``name@item``."""
    out = []
    for name, stage in stages.items():
        if "foreach" in stage:
            for item in stage["foreach"]:
                cmd = stage["do"]["cmd"].replace("${item}", str(item))
                out.append((f"{name}@{item}", cmd))
        else:
            out.append((name, stage["cmd"]))
    return [(n, c.replace("python", sys.executable, 1).split()) for n, c in out]


def main() -> None:
    with open("dvc.yaml", encoding="utf-8") as handle:
        stages = yaml.safe_load(handle)["stages"]
    print("| stage | wall s |\n|---|---:|")
    total = 0.0
    for name, command in commands(stages):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")


if __name__ == "__main__":
    main()
