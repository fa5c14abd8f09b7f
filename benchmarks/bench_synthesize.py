"""Synthesize stage speed on the default params, and its normal sampler against numpy's.

The world goes to a temporary folder (the committed figure and metrics are not touched);
numba kernels are loaded or compiled by a tiny warm-up world first. Prints markdown tables:

    python benchmarks/bench_synthesize.py            # stage (about a minute) and sampler
    python benchmarks/bench_synthesize.py sampler    # only the sampler
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stages.synthesize import run
from voice2mesh.config import Params, load_params
from voice2mesh.portable import standard_normal

DRAWS = 10_000_000
RUNS = 5


def time_stage() -> tuple[float, dict]:
    """Wall seconds of the synthesize stage on params.yaml, and its counts."""
    params = load_params(Path("params.yaml"))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)

        def world(name: str, **changes) -> Params:
            synth = dataclasses.replace(params.synth, root=str(out / name), **changes)
            return dataclasses.replace(params, synth=synth)

        tiny = world("warm-up", n_identities=12, voice_only=1, face_only=1, preview_identities=2)
        run(tiny, out / "warm-up.png", out / "warm-up.json", quiet=True)
        start = time.perf_counter()
        counts = run(world("synthetic"), out / "world.png", out / "counts.json", quiet=True)
        return time.perf_counter() - start, counts


def time_sampler() -> dict[str, float]:
    """Median nanoseconds per standard-normal draw, in blocks of ``DRAWS``."""
    samplers = {
        "numpy `rng.standard_normal` (not portable)": lambda rng: rng.standard_normal(DRAWS),
        "`voice2mesh.portable.standard_normal`": lambda rng: standard_normal(rng, DRAWS),
    }
    out = {}
    for name, draw in samplers.items():
        rng = np.random.default_rng(0)
        draw(rng)  # warm-up (numba)
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            draw(rng)
            times.append(time.perf_counter() - start)
        out[name] = 1e9 * float(np.median(times)) / DRAWS
    return out


def main(parts: list[str]) -> None:
    if not parts or "stage" in parts:
        seconds, counts = time_stage()
        print("| identities | images | utterances | audio hours | workers | wall s |")
        print("|---:|---:|---:|---:|---:|---:|")
        workers = load_params(Path("params.yaml")).synth.workers
        print(
            f"| {counts['identities']} | {counts['images']} | {counts['utterances']} | "
            f"{counts['audio_hours']} | {workers} | {seconds:.1f} |"
        )
        print()
    print(f"| normal sampler | ns per draw (median of {RUNS} × 10⁷) |")
    print("|---|---:|")
    for name, ns in time_sampler().items():
        print(f"| {name} | {ns:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
