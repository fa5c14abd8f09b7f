"""Speech synthesizer speed: median milliseconds per 5.5 s utterance on one core.

Prints one markdown table row (after a warm-up utterance that compiles or loads the numba
kernels):

    python benchmarks/bench_speech.py
"""

from __future__ import annotations

import time

import numpy as np

from voice2mesh.synth.speech import synthesize_utterance
from voice2mesh.synth.voice_traits import ANATOMY_KEYS, voice_identity

RUNS = 30
DURATION_S = 5.5
SAMPLE_RATE = 16000


def time_utterance(gender: str) -> float:
    """Median wall-clock milliseconds of ``RUNS`` utterances of one average-faced speaker."""
    identity = voice_identity({k: 0.0 for k in ANATOMY_KEYS}, gender, 0.5, np.random.default_rng(1))
    synthesize_utterance(identity, np.random.default_rng(0), DURATION_S, SAMPLE_RATE)  # warm-up
    times = []
    for seed in range(RUNS):
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        synthesize_utterance(identity, rng, DURATION_S, SAMPLE_RATE)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def main() -> None:
    print("| utterance | sample rate | speaker | median ms | × real-time |")
    print("|---:|---:|:---:|---:|---:|")
    for gender in ("male", "female"):
        ms = time_utterance(gender)
        print(
            f"| {DURATION_S} s | {SAMPLE_RATE} Hz | {gender} | {ms:.1f} | "
            f"{1000.0 * DURATION_S / ms:.0f} |"
        )


if __name__ == "__main__":
    main()
