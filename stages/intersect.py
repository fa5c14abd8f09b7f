"""Stage ``intersect``: VoxCeleb1 ∩ VGGFace identities, split A–E test / F–Z train + val.

Reads:  params ``intersect``; ``vox1_meta.csv``, the wav tree and the face folders, or with
        ``intersect.source: release`` the authors' Voxceleb-3D release at
        ``intersect.voxceleb_root`` (its meta file, every fbank file, every 3DMM parameter file).
Writes: ``data/manifest/`` (identities, voices, faces, dropped, malformed tables; see
        ``voice2mesh.data.manifest``) and ``metrics/intersect.json`` (counts per split —
        train, val (``intersect.val_fraction`` of F–Z, by gender), test — and modality, dropped
        items per reason). A release's manifest is ``voice2mesh import-release``'s: its faces
        name the photos beside the parameter files, and ``dropped`` lists every file left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stages.common import stage_args
from voice2mesh.config import IntersectParams, load_params
from voice2mesh.data.manifest import Manifests, build_manifests, write_manifests
from voice2mesh.data.voxceleb import read_meta, scan_faces, scan_voices
from voice2mesh.io import write_json
from voice2mesh.release import import_manifest
from voice2mesh.release.source import import_options, naming_params

METRICS = Path("metrics/intersect.json")

log = logging.getLogger("stages.intersect")


def _voxceleb(cfg: IntersectParams) -> Manifests:
    """Scan both datasets, intersect them, write the manifests."""
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
    return manifests


def _release(cfg: IntersectParams) -> Manifests:
    """Read the release's meta file, fbank and parameter files; write its manifest."""
    with naming_params():
        manifests, read = import_manifest(cfg.voxceleb_root, cfg.out, import_options(cfg))
    log.info("%d fbank files read, %d rejected", len(read.index), len(read.rejects))
    return manifests


def run(cfg: IntersectParams, metrics: Path = METRICS) -> dict:
    """Write the manifests of ``cfg.source``; return the counts."""
    manifests = _release(cfg) if cfg.source == "release" else _voxceleb(cfg)
    counts = manifests.counts()
    write_json(metrics, counts)
    log.info("%s", counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params).intersect)


if __name__ == "__main__":
    main()
