"""Log-mel front end: batched ``voice2mesh.audio.log_mel_batch`` vs the per-frame loop reference.

The reference is ``tests/audio/logmel_reference.py`` (Sphinx ``sig2logspec`` style: one frame at
a time, as Wen et al. ran it), called once per utterance. Two inputs: one 10 s int16 signal, and
a batch of 64 utterances of 1-10 s (white noise at gains from 1 to 2^14, so quiet frames near
the 1e-5 floor are in it too) that ``log_mel_batch`` takes in one call, as the features stage
does. All timings are best-of-``RUNS[input]`` wall-clock milliseconds, the candidates
interleaved round by round so that both sides of a ratio see the same machine load.

"FFT alone" is ``numpy.fft.rfft`` on blocks of the same sizes, nothing else (``fft_alone``):
the float64 1024-point FFT that exactness requires (see ``voice2mesh.audio.logmel``), so
loop / FFT alone is the most any exact implementation built on it can reach. "max abs diff" is
the largest absolute difference from the reference (0: bitwise equal)::

    python benchmarks/bench_logmel.py
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from voice2mesh.audio import log_mel_batch
from voice2mesh.audio.framing import FrameBatch
from voice2mesh.audio.logmel import BLOCK_FRAMES, N_FFT, PRE_EMPHASIS

RUNS = {"10 s int16": 21, "64 utterances, 1-10 s": 5}  # rounds per input (~3 s of loop each)
SAMPLE_RATE = 16000
WLEN, HOP = 400, 160
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "audio" / "logmel_reference.py"


def load_reference() -> ModuleType:
    """Import the test suite's loop reference by file path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("logmel_reference", REFERENCE)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{REFERENCE} not found; run from a full checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_ms(candidates: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Best wall-clock milliseconds of ``runs`` calls of each, interleaved round by round."""
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(runs):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: 1000.0 * seconds for name, seconds in best.items()}


def fft_alone(signals: list[np.ndarray]) -> Callable[[], object]:
    """Just the FFTs of ``log_mel_batch``: one rfft per block, on a block already in cache.

    The same number and sizes of blocks as ``log_mel_batch`` runs; every one reuses the batch's
    first block of frames, so no framing, memory traffic or filterbank is counted.
    """
    batch = FrameBatch([s.astype(np.float64) for s in signals], WLEN, HOP, PRE_EMPHASIS)
    frames = batch.block(0, min(BLOCK_FRAMES, batch.n_frames))  # (b, wlen)
    sizes = [
        min(BLOCK_FRAMES, batch.n_frames - lo) for lo in range(0, batch.n_frames, BLOCK_FRAMES)
    ]

    def run() -> None:
        for size in sizes:  # each spectrum dropped at once, as log_mel_batch does
            np.fft.rfft(frames[:size], N_FFT, axis=1)

    return run


def inputs() -> dict[str, list[np.ndarray]]:
    """One 10 s signal, and 64 utterances of 1-10 s at gains from 1 to 2^14 (seeded)."""
    rng = np.random.default_rng(0)
    ten_s = [rng.integers(-32768, 32768, 10 * SAMPLE_RATE).astype(np.int16)]
    lengths = rng.integers(SAMPLE_RATE, 10 * SAMPLE_RATE, 64)
    gains = 2.0 ** rng.uniform(0, 14, 64)
    batch = [
        np.clip(np.round(rng.standard_normal(n) * g), -32768, 32767).astype(np.int16)
        for n, g in zip(lengths, gains, strict=True)
    ]
    return {"10 s int16": ten_s, "64 utterances, 1-10 s": batch}


def main() -> None:
    reference = load_reference()
    filters = reference.reference_filters()
    print(
        "| input | frames | loop ms | batched ms | speed-up | FFT alone ms "
        "| loop / FFT alone | max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    shares = []
    for name, signals in inputs().items():
        expected = [reference.reference_log_mel(s, filters) for s in signals]
        ours = log_mel_batch(signals)  # also builds and caches the filterbank
        diff = max(float(np.max(np.abs(o - e))) for o, e in zip(ours, expected, strict=True))
        ms = best_ms(
            {
                "loop": lambda s=signals: [reference.reference_log_mel(x, filters) for x in s],
                "batched": lambda s=signals: log_mel_batch(s),
                "fft": fft_alone(signals),
            },
            RUNS[name],
        )
        print(
            f"| {name} | {sum(len(o) for o in ours)} | {ms['loop']:.1f} | {ms['batched']:.1f} | "
            f"{ms['loop'] / ms['batched']:.1f}× | {ms['fft']:.1f} | "
            f"{ms['loop'] / ms['fft']:.1f}× | {diff:.1e} |"
        )
        shares.append(f"{ms['fft'] / ms['batched']:.0%} ({name})")
    print(
        f"\nThe float64 rfft alone takes {' and '.join(shares)} of the batched time; no exact "
        "front end built on it can pass loop / FFT alone."
    )


if __name__ == "__main__":
    main()
