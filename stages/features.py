"""Stage ``features``: VAD + normalised 64-bin log-mel of every manifest utterance.

Reads:  params ``features``; ``data/manifest/voices.csv`` and the wav files, or with
        ``intersect.source: release`` the release's fbank files that ``intersect`` read (their
        repetition undone; ``min_speech_s`` and ``max_reject_fraction`` do not apply: the
        rejects were made, and listed, by ``intersect``).
Writes: ``data/features/`` (``shard_NNNNN.npz``, ``index.csv``, ``rejects.csv``; see
        ``voice2mesh.audio.features``) and ``metrics/features.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio import extract_features
from voice2mesh.audio.io import CLIP_WARN_FRACTION
from voice2mesh.config import Params, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.io import write_json
from voice2mesh.release import ReleaseError, import_voices
from voice2mesh.release.source import import_options, naming_params

METRICS = Path("metrics/features.json")

log = logging.getLogger("stages.features")


def _wavs(params: Params, quiet: bool) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Features of the manifest's wav files: ``(index, rejects, metrics of their own)``."""
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
    return index, rejects, {"utterances": len(voices)}


def _release(params: Params, quiet: bool) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The release's fbank files as features: ``(index, rejects, metrics of their own)``."""
    cfg = params.features
    options = dataclasses.replace(
        import_options(params.intersect), shard_size=cfg.shard_size, workers=cfg.workers
    )
    bar = lambda it: tqdm(it, desc="fbank files", disable=quiet)  # noqa: E731
    with naming_params():
        read = import_voices(params.intersect.voxceleb_root, cfg.out, options, progress=bar)
    voices = read_manifests(Path(params.intersect.out)).voices
    if list(read.index.path) != list(voices.path):  # what the features stage guarantees
        raise ReleaseError(
            f"{cfg.out}: the usable fbank files differ from {params.intersect.out}/voices.csv; "
            "the manifest comes from another release or other intersect params: run "
            "`dvc repro intersect`"
        )
    extra = {"utterances": len(read.index) + len(read.rejects)}
    return read.index, read.rejects, extra | {"repeated_utterances_untiled": read.untiled}


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Extract features for all manifest utterances; return counts."""
    source = _release if params.intersect.source == "release" else _wavs
    index, rejects, extra = source(params, quiet)
    for row in rejects.itertuples():
        log.warning("rejected %s: %s", row.path, row.reason)
    counts = {
        "extracted": len(index),
        "rejected": rejects.reason_code.value_counts().sort_index().to_dict(),
        "frames": int(index.n_frames.sum()),
        "speech_hours": round(float(index.speech_s.sum()) / 3600, 4),
        "resampled": int(index.resampled.astype(bool).sum()),
        "mixed_down": int(index.mixed_down.astype(bool).sum()),
        "truncated": int(index.truncated.astype(bool).sum()),
        "clipped": int((index.clipped_fraction > CLIP_WARN_FRACTION).sum()),
    } | extra
    write_json(metrics, counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
