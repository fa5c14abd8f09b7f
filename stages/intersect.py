"""Stage ``intersect``: VoxCeleb1 ∩ VGGFace identities, split A–E test / F–Z train + val.

Reads:  params ``intersect``; ``vox1_meta.csv``, the wav tree and the face folders.
Writes: ``data/manifest/`` (identities, voices, faces, dropped, malformed tables; see
        ``voice2mesh.data.manifest``) and ``metrics/intersect.json`` (counts per split —
        train, val (``intersect.val_fraction`` of F–Z, by gender), test — and modality, dropped
        items per reason).
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.config import IntersectParams, load_params
from voice2mesh.data.manifest import build_manifests, write_manifests
from voice2mesh.data.voxceleb import read_meta, scan_faces, scan_voices
from voice2mesh.io import write_json

METRICS = Path("metrics/intersect.json")

log = logging.getLogger("stages.intersect")


def run(cfg: IntersectParams, metrics: Path = METRICS) -> dict:
    """Scan both datasets, intersect them, write the manifests; return the counts."""
    meta_path = Path(cfg.meta_file or Path(cfg.voxceleb_root) / "vox1_meta.csv")
    meta = read_meta(meta_path)
    for row in meta.malformed.itertuples():
        log.warning("%s:%d: %s", meta_path, row.line, row.reason)
    voices, unreadable = scan_voices(Path(cfg.voxceleb_root))
    faces = scan_faces(Path(cfg.vggface_root), tuple(s.lower() for s in cfg.image_suffixes))
    manifests = build_manifests(
        meta,
        voices,
        unreadable,
        faces,
        test_initials=cfg.test_initials,
        val_fraction=cfg.val_fraction,
        unknown_ids=cfg.unknown_ids,
        meta_path=str(meta_path),
    )
    write_manifests(manifests, Path(cfg.out))
    counts = manifests.counts()
    write_json(metrics, counts)
    log.info("%s", counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params).intersect)


if __name__ == "__main__":
    main()
