"""Stage ``landmarks``: 68 ibug landmarks for every manifest face image.

Reads:  params ``landmarks``, ``device``; ``data/manifest/faces.csv`` and the images.
Writes: ``data/landmarks/`` (``landmarks.npz`` points (M, 68, 2) in (x, row) pixels and image
        sizes, ``index.csv`` rows aligned with them, ``rejects.csv`` with reasons) and
        ``metrics/landmarks.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.config import Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json
from voice2mesh.landmarks import DlibBackend, FanBackend, PtsBackend, detect_landmarks
from voice2mesh.landmarks.store import write_landmarks

METRICS = Path("metrics/landmarks.json")

log = logging.getLogger("stages.landmarks")


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Detect (or read) landmarks for all manifest faces; return counts."""
    cfg = params.landmarks
    faces = read_manifests(Path(params.intersect.out)).faces
    if cfg.backend == "fan":
        backend = FanBackend(resolve_device(params.device), cfg.batch_size)
    elif cfg.backend == "dlib":
        backend = DlibBackend(cfg.batch_size)
    else:
        backend = PtsBackend(cfg.batch_size)
    batches = -(-len(faces) // cfg.batch_size)
    bar = lambda it: tqdm(it, total=batches, desc="landmarks", disable=quiet)  # noqa: E731
    result = detect_landmarks(backend, [Path(p) for p in faces.path], bar)
    for path, reason in result.rejects:
        log.warning("rejected %s: %s", path, reason)
    rejected = len(result.rejects) / max(len(faces), 1)
    if rejected > cfg.max_reject_fraction:
        raise RuntimeError(
            f"{len(result.rejects)} of {len(faces)} images rejected ({rejected:.0%} > "
            f"landmarks.max_reject_fraction); first: {result.rejects[0]}"
        )
    index = write_landmarks(result, faces, Path(cfg.out))
    counts = {
        "backend": cfg.backend,
        "images": len(faces),
        "landmarks": len(index),
        "rejected": len(result.rejects),
        "per_split": index.split.value_counts().sort_index().to_dict(),
    }
    write_json(metrics, counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
