"""Check that the data stages' outputs in a regenerated dvc.lock match the committed one.

    git show HEAD:dvc.lock > committed.lock
    python .ci/compare_outs.py committed.lock dvc.lock

The data stages are byte-identical on every x86-64 CPU with the locked package versions
(``voice2mesh.portable``; ``tests/synth/test_cross_cpu.py``), so the hash DVC records for each
of their ``data/`` outputs must not change. Figures are left out (the synthetic world's preview
draws a spectrogram with numpy's FFT); later stages train in torch and are compared through
their metrics (``compare_metrics.py``). Exit status 1 lists what differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

DATA_STAGES = ("synthesize", "intersect", "landmarks")


def data_outs(lock: dict, stage: str) -> dict[str, str]:
    """``{path: md5}`` of a stage's outputs under ``data/`` in a parsed dvc.lock."""
    outs = lock.get("stages", {}).get(stage, {}).get("outs", [])
    return {o["path"]: o.get("md5", "") for o in outs if o["path"].startswith("data/")}


def differences(committed: dict, regenerated: dict, stages=DATA_STAGES) -> list[str]:
    """One line per data output whose hash differs, or that is missing on either side."""
    lines = []
    for stage in stages:
        old, new = data_outs(committed, stage), data_outs(regenerated, stage)
        if not old:
            lines.append(f"{stage}: no data outputs in the committed dvc.lock")
        for path in sorted(old.keys() | new.keys()):
            if old.get(path) != new.get(path):
                lines.append(f"{stage}: {path}: {old.get(path)} -> {new.get(path)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: compare_outs.py COMMITTED_DVC_LOCK REGENERATED_DVC_LOCK", file=sys.stderr)
        return 2
    committed, regenerated = (yaml.safe_load(Path(p).read_text(encoding="utf-8")) for p in argv)
    lines = differences(committed, regenerated)
    for line in lines:
        print(line)
    print(f"data outputs of {', '.join(DATA_STAGES)}: {len(lines)} differ")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
