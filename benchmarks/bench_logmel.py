"""Log-mel front end: the vectorised ``voice2mesh.audio.log_mel`` vs the per-frame loop reference.

The reference is ``tests/audio/logmel_reference.py`` (Sphinx ``sig2logspec`` style: one frame at
a time, as Wen et al. ran it). Prints one markdown table row for a 10 s random int16 signal:
best-of-``RUNS`` milliseconds of each, the speed-up and the largest difference relative to the
reference's largest magnitude::

    python benchmarks/bench_logmel.py
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from voice2mesh.audio import log_mel

RUNS = 7
DURATION_S = 10.0
SAMPLE_RATE = 16000
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "audio" / "logmel_reference.py"


def load_reference() -> ModuleType:
    """Import the test suite's loop reference by file path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("logmel_reference", REFERENCE)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{REFERENCE} not found; run from a full checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_ms(fn: Callable[[], object]) -> float:
    """Best wall-clock milliseconds of ``RUNS`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times)


def main() -> None:
    reference = load_reference()
    signal = np.random.default_rng(0).integers(-32768, 32768, int(DURATION_S * SAMPLE_RATE))
    signal = signal.astype(np.int16)
    filters = reference.reference_filters()
    expected = reference.reference_log_mel(signal, filters)
    ours = log_mel(signal)  # also builds and caches the filterbank
    diff = float(np.max(np.abs(ours - expected)) / np.max(np.abs(expected)))
    loop_ms = best_ms(lambda: reference.reference_log_mel(signal, filters))
    vector_ms = best_ms(lambda: log_mel(signal))
    print("| signal | frames | loop ms | vectorised ms | speed-up | max abs diff (rel.) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {DURATION_S:.0f} s int16 | {len(ours)} | {loop_ms:.1f} | {vector_ms:.1f} | "
        f"{loop_ms / vector_ms:.1f}× | {diff:.1e} |"
    )


if __name__ == "__main__":
    main()
