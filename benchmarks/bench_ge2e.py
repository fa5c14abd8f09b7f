"""GE2E speaker embeddings on the ten real VoxCeleb1 clips: speed, and do voices separate?

Needs the ``resemblyzer`` wheel (its weights; ``pip install --no-deps resemblyzer==0.1.4``) and
the reference clips in ``../shared/assets/voxceleb1`` (ten speakers, one utterance each).

Speed: the ten clips embedded from scratch (no cache), best of ``RUNS``, per second of audio
read: wall and process CPU milliseconds, split into front end (read, volume, VAD trimming, mel
partials) and network, for 1 and 2 torch threads; then a run answered by the cache.

Separation: each clip is cut in two halves at its middle sample (written as 16-bit wavs), the
20 halves are embedded, and the cosine similarity of the two halves of one speaker
(same-speaker) is compared with those of halves of different speakers. Both halves come from
one recording session, so same-speaker scores are optimistic; and most of these speakers are in
GE2E's training data (VoxCeleb1 dev). Prints markdown::

    python benchmarks/bench_ge2e.py
"""

from __future__ import annotations

import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from voice2mesh.audio.io import read_wav
from voice2mesh.encoders import EmbeddingCache, embed_files, load_ge2e, utterance_partials
from voice2mesh.encoders.embeddings import embed_partials

CLIPS = Path(__file__).resolve().parents[1] / ".." / "shared" / "assets" / "voxceleb1"
RUNS = 3


def _timed(fn) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``RUNS`` calls."""
    best = (float("inf"), float("inf"))
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def speed(files: list[Path], audio_s: float) -> None:
    encoder = load_ge2e()
    mels = [utterance_partials(f)[0] for f in files]
    n_partials = sum(len(m) for m in mels)
    print(f"{len(files)} clips, {audio_s:.1f} s of audio, {n_partials} partials of 1.6 s\n")
    print("| torch threads | part | wall ms per s of audio | CPU ms per s of audio |")
    print("|---|---|---|---|")
    threads = torch.get_num_threads()
    for n in (1, 2):
        torch.set_num_threads(n)
        parts = {
            "front end": lambda: [utterance_partials(f) for f in files],
            "network": lambda: embed_partials(encoder, np.concatenate(mels)),
            "embed_files": lambda: embed_files(files, encoder),
        }
        for name, fn in parts.items():
            wall, cpu = _timed(fn)
            print(f"| {n} | {name} | {1000 * wall / audio_s:.1f} | {1000 * cpu / audio_s:.1f} |")
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp) / "cache.npz", encoder.key)
        embed_files(files, encoder, cache=cache)
        cache = EmbeddingCache(Path(tmp) / "cache.npz", encoder.key)
        wall, cpu = _timed(lambda: embed_files(files, encoder, cache=cache))
    print(f"| - | cached | {1000 * wall / audio_s:.1f} | {1000 * cpu / audio_s:.1f} |")


def separation(files: list[Path]) -> None:
    encoder = load_ge2e()
    with tempfile.TemporaryDirectory() as tmp:
        halves = []
        for f in files:
            samples, _ = read_wav(f)
            middle = len(samples) // 2
            for k, part in enumerate((samples[:middle], samples[middle:])):
                halves.append(Path(tmp) / f"{f.stem}_{k}.wav")
                sf.write(halves[-1], part, 16000, subtype="PCM_16")
        out = embed_files(halves, encoder)
    if out.rejects:
        raise RuntimeError(f"rejected halves: {out.rejects}")
    sims = out.vectors @ out.vectors.T  # (20, 20) cosines (unit vectors)
    speaker = np.repeat(np.arange(len(files)), 2)
    same = np.array([sims[2 * i, 2 * i + 1] for i in range(len(files))])
    other = np.array([sims[a, b] for a, b in combinations(range(len(speaker)), 2)
                      if speaker[a] != speaker[b]])  # fmt: skip
    nearest = [speaker[np.argsort(-sims[a])[1]] == speaker[a] for a in range(len(speaker))]
    margin = [same[i] - sims[2 * i : 2 * i + 2][:, speaker != i].max() for i in range(len(files))]
    print("\n| speaker | same-speaker cosine | highest other-speaker cosine |")
    print("|---|---|---|")
    for i, f in enumerate(files):
        print(f"| {f.stem} | {same[i]:.3f} | {same[i] - margin[i]:.3f} |")
    print(
        f"\nsame-speaker: mean {same.mean():.3f}, min {same.min():.3f} ({len(same)} pairs); "
        f"different-speaker: mean {other.mean():.3f}, max {other.max():.3f} ({len(other)} "
        f"pairs); same > every different pair of that speaker for "
        f"{sum(m > 0 for m in margin)}/{len(files)} speakers; nearest neighbour of a half is "
        f"its other half for {sum(nearest)}/{len(nearest)} halves"
    )


def main() -> None:
    files = sorted(CLIPS.glob("*.wav"))
    if not files:
        raise SystemExit(f"no clips in {CLIPS.resolve()}; the reference assets are absent")
    audio_s = sum(sf.info(f).duration for f in files)
    speed(files, audio_s)
    separation(files)


if __name__ == "__main__":
    main()
