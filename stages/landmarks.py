"""Stage ``landmarks``: 68 ibug landmarks for every manifest face image.

Reads:  params ``landmarks``, ``device``; ``data/manifest/faces.csv`` and the images.
Writes: ``data/landmarks/`` (``shard_NNNNN.npz`` points (n, 68, 2) in (x, row) pixels and
        image sizes of ``landmarks.shard_size`` manifest faces each, ``index.csv`` rows aligned
        with them and naming their shard, ``rejects.csv`` with reasons; layout in
        ``voice2mesh.landmarks.store``) and ``metrics/landmarks.json``. The faces are detected
        a shard at a time, so memory does not grow with their number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.config import Params, load_params, resolve_device
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json
from voice2mesh.landmarks import DlibBackend, FanBackend, PtsBackend
from voice2mesh.landmarks.store import detect_to_folder

METRICS = Path("metrics/landmarks.json")

log = logging.getLogger("stages.landmarks")


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Detect (or read) landmarks for all manifest faces, a shard at a time; return counts."""
    cfg = params.landmarks
    faces = read_manifests(Path(params.intersect.out)).faces
    if cfg.backend == "fan":
        backend = FanBackend(resolve_device(params.device), cfg.batch_size)
    elif cfg.backend == "dlib":
        backend = DlibBackend(cfg.batch_size)
    else:
        backend = PtsBackend(cfg.batch_size)
    chunks = [min(cfg.shard_size, len(faces) - s) for s in range(0, len(faces), cfg.shard_size)]
    batches = sum(-(-n // cfg.batch_size) for n in chunks)
    with tqdm(total=batches, desc="landmarks", disable=quiet) as bar:
        index, rejects = detect_to_folder(
            backend,
            faces,
            Path(cfg.out),
            shard_size=cfg.shard_size,
            max_reject_fraction=cfg.max_reject_fraction,
            progress=lambda batches: _counted(batches, bar),
        )
    for path, reason in rejects:
        log.warning("rejected %s: %s", path, reason)
    counts = {
        "backend": cfg.backend,
        "images": len(faces),
        "landmarks": len(index),
        "rejected": len(rejects),
        "per_split": index.split.value_counts().sort_index().to_dict(),
    }
    write_json(metrics, counts)
    return counts


def _counted(batches: Iterator, bar: tqdm) -> Iterator:
    """``batches``, advancing the job's one progress bar."""
    for batch in batches:
        yield batch
        bar.update()


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
