"""Stage ``features``: VAD + normalised 64-bin log-mel of every manifest utterance.

Reads:  params ``features``; ``data/manifest/voices.csv`` and the wav files.
Writes: ``data/features/`` (``shard_NNNNN.npz``, ``index.csv``, ``rejects.csv``; see
        ``voice2mesh.audio.features``) and ``metrics/features.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio import extract_features
from voice2mesh.audio.io import CLIP_WARN_FRACTION
from voice2mesh.config import Params, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json

METRICS = Path("metrics/features.json")

log = logging.getLogger("stages.features")


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Extract features for all manifest utterances; return counts."""
    cfg = params.features
    voices = read_manifests(Path(params.intersect.out)).voices
    bar = lambda it: tqdm(it, total=len(voices), desc="features", disable=quiet)  # noqa: E731
    index, rejects = extract_features(
        voices,
        Path("."),
        Path(cfg.out),
        shard_size=cfg.shard_size,
        workers=cfg.workers,
        min_speech_s=cfg.min_speech_s,
        max_reject_fraction=cfg.max_reject_fraction,
        progress=bar,
    )
    for row in rejects.itertuples():
        log.warning("rejected %s: %s", row.path, row.reason)
    counts = {
        "utterances": len(voices),
        "extracted": len(index),
        "rejected": rejects.reason_code.value_counts().sort_index().to_dict(),
        "frames": int(index.n_frames.sum()),
        "speech_hours": round(float(index.speech_s.sum()) / 3600, 4),
        "resampled": int(index.resampled.astype(bool).sum()),
        "mixed_down": int(index.mixed_down.astype(bool).sum()),
        "truncated": int(index.truncated.astype(bool).sum()),
        "clipped": int((index.clipped_fraction > CLIP_WARN_FRACTION).sum()),
    }
    write_json(metrics, counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
