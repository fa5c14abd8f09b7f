"""One process against two (gloo, CPU) on the real ``pretrain_voice`` stage (run from the root).

    .venv/bin/python benchmarks/bench_distributed.py [--data data] [--iterations 24]

Runs ``python -m voice2mesh.train.launch --nproc N stages.pretrain_voice -q`` on the default
params (one seed, ``--iterations`` steps, evaluation halfway and at the end) in a temporary
folder that links ``--data`` (the pipeline's ``data/``, built by ``dvc repro``), three times
side by side: one process on one thread (the reference), one process on two threads, two
processes on one thread each. Prints a markdown table: wall time, the last logged loss and
held-out accuracy, and the largest difference of any trained tensor from the reference's,
relative to that tensor's largest magnitude. A different thread count is the yardstick: it
changes only float summation order, as splitting the batch does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = [("reference", 1, 1), ("two threads", 1, 2), ("two processes", 2, 1)]


def run(folder: Path, data: Path, params: dict, nproc: int, threads: int) -> float:
    """Train in ``folder`` with ``nproc`` processes of ``threads`` threads; the wall seconds."""
    folder.mkdir()
    (folder / "data").symlink_to(data.resolve())
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "voice2mesh.train.launch", f"--nproc={nproc}"]
    start = time.perf_counter()
    subprocess.run([*command, "stages.pretrain_voice", "-q"], cwd=folder, env=env, check=True)
    return time.perf_counter() - start


def worst_difference(a: dict, b: dict) -> float:
    """The largest ``|a - b|`` of any float tensor over that tensor's largest ``|a|``."""
    return max(
        float((a[k].double() - b[k].double()).abs().max()) / max(float(a[k].abs().max()), 1e-12)
        for k in a
        if a[k].is_floating_point() and a[k].numel()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--iterations", type=int, default=24)
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["n_seeds"] = 1
    params["distributed"] = {"nproc": 2}
    params["pretrain_voice"] |= {"iterations": args.iterations, "eval_every": args.iterations // 2}
    print(
        f"| run ({args.iterations} steps) | processes | threads each | wall s | loss | "
        "val accuracy | worst tensor difference |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        reference = None
        for name, nproc, threads in RUNS:
            folder = Path(tmp) / name.replace(" ", "_")
            seconds = run(folder, args.data, params, nproc, threads)
            metrics = json.loads((folder / "metrics/pretrain_voice.json").read_text())["mean"]
            model = folder / "models/voice_encoder/seed_0.pt"
            weights = torch.load(model, weights_only=True)["weights"]
            reference = reference or weights
            difference = worst_difference(reference, weights)
            print(
                f"| {name} | {nproc} | {threads} | {seconds:.1f} | {metrics['final_loss']:.6f} | "
                f"{metrics['val_accuracy']:.4f} | {difference:.3g} |"
            )


if __name__ == "__main__":
    main()
