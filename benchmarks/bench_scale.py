"""The data stages at VoxCeleb size: throughput per core, peak memory, files per folder.

A corpus of ``--utterances`` wav files and ``--images`` photos with their ``.pts`` landmarks is
tiled cheaply from the synthetic world under ``data/synthetic`` (symbolic links in
VoxCeleb1's and VGGFace's layouts: ``id<k>/<video>/<n>.wav``, ``<name>/<n>.jpg``; 100
utterances and 300 photos an identity), then each data stage's work runs on it in a fresh
process, twice (a quarter of the corpus, then all of it), so that peak memory is seen to grow or
not:

- ``features``: ``audio.extract_features`` (VAD + log-mel + normalisation, sharded ``.npz``);
- ``landmarks``: the stage's ``landmarks.store.detect_to_folder`` with the ``pts`` backend
  (decode each image, read its landmarks; a real detector adds its own time per photo:
  "Offline landmarks" above), a ``landmarks.shard_size`` chunk at a time, into shards;
- ``fit3dmm``: the stage's ``stages.fit3dmm.fitted_shards`` (``fitting.fit_landmarks`` per
  landmarks shard, with the default params) into ``fitting.store.write_fit_shards`` (fits
  shards, rejects, ``fit3dmm.reference`` references).

Throughput per core = the marginal items per CPU second between the two runs (the process and
its workers; start-up cancels); the full-VoxCeleb time on 16 cores assumes that throughput on
every core (no I/O limit) for VoxCeleb1's 153,516 utterances and 1,251 × 300 photos. Run
from the repository root after ``dvc repro``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "data" / "synthetic"
VOXCELEB1_UTTERANCES, VOXCELEB1_SPEAKERS, PHOTOS_PER_IDENTITY = 153_516, 1_251, 300
PER_SPEAKER = 100


def build_corpus(folder: Path, n_utterances: int, n_images: int) -> None:
    """Symbolic links to the world's files, in the real datasets' layouts, and manifests."""
    wavs = sorted((WORLD / "voxceleb1" / "wav").rglob("*.wav"))
    photos = sorted((WORLD / "vggface").rglob("*.jpg"))
    if not wavs or not photos:
        sys.exit(f"no synthetic world under {WORLD}: run `dvc repro synthesize` first")
    voices = []
    for k in range(n_utterances):
        identity, n = f"id{10001 + k // PER_SPEAKER}", k % PER_SPEAKER
        path = folder / "wav" / identity / f"v{n // 10:03d}" / f"{n:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(wavs[k % len(wavs)])
        voices.append({"identity": identity, "split": "train", "path": str(path)})
    faces = []
    for k in range(n_images):
        name, n = f"Name_{k // PHOTOS_PER_IDENTITY:05d}", k % PHOTOS_PER_IDENTITY
        path = folder / "vggface" / name / f"{n:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        source = photos[k % len(photos)]
        path.symlink_to(source)
        path.with_suffix(".pts").symlink_to(source.with_suffix(".pts"))
        faces.append({"identity": name, "name": name, "split": "train", "path": str(path)})
    pd.DataFrame(voices).to_csv(folder / "voices.csv", index=False)
    pd.DataFrame(faces).to_csv(folder / "faces.csv", index=False)


def run_part(part: str, folder: Path, n: int) -> dict:
    """One stage's work on the first ``n`` items, in this process (``--part``)."""
    from stages.fit3dmm import fitted_shards
    from voice2mesh.audio import extract_features
    from voice2mesh.config import load_params
    from voice2mesh.facemodel.loaders import load_from_params
    from voice2mesh.fitting.store import write_fit_shards
    from voice2mesh.landmarks import PtsBackend
    from voice2mesh.landmarks.store import detect_to_folder

    params = load_params(ROOT / "params.yaml")
    out = folder / f"{part}_{n}"
    if part == "features":
        voices = pd.read_csv(folder / "voices.csv").head(n)
        extract_features(voices, Path("."), out, workers=params.features.workers)
    elif part == "landmarks":
        cfg = params.landmarks
        faces = pd.read_csv(folder / "faces.csv").head(n)
        backend = PtsBackend(cfg.batch_size)
        limit = cfg.max_reject_fraction
        detect_to_folder(backend, faces, out, shard_size=cfg.shard_size, max_reject_fraction=limit)
    else:
        cfg = params.fit3dmm
        model = load_from_params(params.face_model)
        shards = fitted_shards(folder / f"landmarks_{n}", model, cfg, "cpu")
        faces = pd.read_csv(folder / "faces.csv").head(n)
        identities = faces[["identity", "name", "split"]].drop_duplicates().assign(gender="f")
        limit = cfg.max_reject_fraction
        write_fit_shards(out, shards, identities, cfg.reference, max_reject_fraction=limit)
    folders = Counter(p.parent for p in out.rglob("*") if p.is_file()) if out.exists() else {}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "files_per_folder": max(folders.values(), default=0),
        "peak_mb": max(own, workers) / 1024,
    }


def measure(part: str, folder: Path, n: int) -> dict:
    """Run ``--part`` in a fresh process: wall and CPU seconds, its peak RSS (the larger of
    the process's and its largest worker's), files per output folder."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, __file__, "--part", part, "--folder", str(folder), "-n", str(n)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{part} on {n} items failed:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        **json.loads(done.stdout.strip().splitlines()[-1]),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--part", choices=("features", "landmarks", "fit3dmm"))
    parser.add_argument("--folder", type=Path)
    parser.add_argument("-n", type=int)
    args = parser.parse_args(argv)
    if args.part:  # the child process
        print(json.dumps(run_part(args.part, args.folder, args.n)))
        return
    full_images = VOXCELEB1_SPEAKERS * PHOTOS_PER_IDENTITY
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_corpus(folder, args.utterances, args.images)
        rows = []
        for part, total, full in (
            ("features", args.utterances, VOXCELEB1_UTTERANCES),
            ("landmarks", args.images, full_images),
            ("fit3dmm", args.images, full_images),
        ):
            for n in (total // 4, total):
                rows.append((part, n, full, measure(part, folder, n)))
    print(
        f"Corpus tiled from the synthetic world: {args.utterances:,} utterances "
        f"({PER_SPEAKER} a speaker), {args.images:,} photos ({PHOTOS_PER_IDENTITY} an identity); "
        f"{os.cpu_count()} cores, load average {load:.2f} before the run. Each row is one fresh "
        "process (its workers included).\n"
    )
    print(
        "| stage | items | wall s | CPU s | items / CPU s, marginal (per core) | "
        "peak memory MB | files per output folder | full VoxCeleb1 items | "
        "full on 16 cores (min) | peak memory at full size, linear (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in range(0, len(rows), 2):
        (part, n1, full, m1), (_, n2, _, m2) = rows[k], rows[k + 1]
        rate = (n2 - n1) / (m2["cpu_s"] - m1["cpu_s"])  # start-up and imports cancel
        files = m2["files_per_folder"]
        slope = (m2["peak_mb"] - m1["peak_mb"]) / (n2 - n1)  # MB per item
        at_full = m2["peak_mb"] + slope * (full - n2)
        print(
            f"| {part} | {n1:,} → {n2:,} | {m1['wall_s']:.1f} → {m2['wall_s']:.1f} | "
            f"{m1['cpu_s']:.1f} → {m2['cpu_s']:.1f} | {rate:.0f} | "
            f"{m1['peak_mb']:.0f} → {m2['peak_mb']:.0f} | {files} | {full:,} | "
            f"{full / rate / 16 / 60:.2f} | {at_full:,.0f} |"
        )
    print(
        "\nThe marginal rate, (n₂ − n₁) / (CPU₂ − CPU₁), leaves out each process's start-up; "
        "the 16-core time divides the full count by 16 such cores. Peak memory that grows from "
        "the quarter to the whole corpus grows with the dataset; the last column extends that "
        "growth linearly to the full count."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
