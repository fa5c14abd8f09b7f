"""Wall-clock time of every pipeline stage on the default params (run from the project root).

Runs ``python -m stages.<name>`` in DVC order on this machine, outside DVC (the outputs are
rewritten byte-identically, so ``dvc status`` stays clean), and prints a markdown table.
"""

from __future__ import annotations

import subprocess
import sys
import time

import yaml


def commands(stages: dict, nproc: int = 1) -> list[tuple[str, list[str]]]:
    """``(stage name, argv)`` in DVC order; ``foreach`` stages expand to ``name@item``; the
    training launcher gets ``nproc`` (params ``distributed.nproc``)."""
    out = []
    for name, stage in stages.items():
        if "foreach" in stage:
            for item in stage["foreach"]:
                cmd = stage["do"]["cmd"].replace("${item}", str(item))
                out.append((f"{name}@{item}", cmd))
        else:
            out.append((name, stage["cmd"]))
    out = [(n, c.replace("${distributed.nproc}", str(nproc))) for n, c in out]
    return [(n, c.replace("python", sys.executable, 1).split()) for n, c in out]


def main() -> None:
    with open("dvc.yaml", encoding="utf-8") as handle:
        stages = yaml.safe_load(handle)["stages"]
    with open("params.yaml", encoding="utf-8") as handle:
        nproc = (yaml.safe_load(handle).get("distributed") or {}).get("nproc", 1)
    print("| stage | wall s |\n|---|---:|")
    total = 0.0
    for name, command in commands(stages, nproc):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **total** | **{total:.1f}** |")


if __name__ == "__main__":
    main()
