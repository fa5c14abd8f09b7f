"""Stage ``embed_ge2e``: a GE2E speaker embedding of every utterance the ``features`` stage kept.

Reads:  params ``ge2e``, ``features.out``, ``intersect.source``; ``data/features/index.csv``
        (the utterances, so the set is the log-mel rows'), their wav files, the GE2E weights
        inside the installed ``resemblyzer`` wheel (their sha256 must be
        ``ge2e.weights_sha256``) and the cache.
Writes: ``${ge2e.out}/`` (``embeddings.npz``, ``index.csv``, ``rejects.csv``; see
        ``voice2mesh.encoders.store``), the cache ``${ge2e.cache}`` (embeddings by file hash:
        a local file, not a DVC output, so `dvc repro` after a params change re-embeds only
        what changed)
        and ``metrics/embed_ge2e.json`` (utterances, embedded, rejects by reason, hours of audio
        and of trimmed speech, the weights' hash). ``ge2e.workers`` processes of one torch thread
        each: the bytes depend neither on the machine's core count nor on the number of workers;
        the cache never changes them.
Skips:  voices without waveforms (``intersect.source: release``: fbank features): the folder
        holds only ``rejects.csv``, every utterance with code ``no_waveform``, and the metrics
        say ``skipped`` and why; no failure (``evaluate`` then leaves the GE2E row out).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.config import Params, load_params
from voice2mesh.encoders import (
    EMBEDDING_DIM,
    Embedded,
    EmbeddingCache,
    GE2EEncoder,
    embed_files,
    load_ge2e,
)
from voice2mesh.encoders.store import (
    INDEX_COLUMNS,
    NO_WAVEFORM,
    REJECT_COLUMNS,
    write_embeddings,
    write_skipped,
)
from voice2mesh.io import write_json
from voice2mesh.parallel import ordered_map

METRICS = Path("metrics/embed_ge2e.json")
CHUNK = 2048  # files embedded between saves of the cache
PART = 32  # files a worker embeds at a time

log = logging.getLogger("stages.embed_ge2e")


class _Recording:
    """A worker's view of the stage's cache: it reads the entries the parent had when the worker
    was forked and records new ones, which the parent stores and saves (one writer)."""

    dirty = False

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache, self.new = cache, []

    def get(self, key: str) -> tuple[np.ndarray, float] | None:
        return self.cache.get(key)

    def put(self, key: str, vector: np.ndarray, speech_s: float) -> None:
        self.new.append((key, vector, speech_s))


_WORKER: dict = {}


def _start_worker(encoder: GE2EEncoder, cache: EmbeddingCache, min_speech_s: float) -> None:
    torch.set_num_threads(1)
    _WORKER.update(encoder=encoder, cache=cache, min_speech_s=min_speech_s)


def _embed_part(files: list[str]) -> tuple[Embedded, list]:
    view = _Recording(_WORKER["cache"])
    kwargs = {"cache": view, "min_speech_s": _WORKER["min_speech_s"]}
    return embed_files(files, _WORKER["encoder"], **kwargs), view.new


def _embed(
    paths: list[str],
    encoder: GE2EEncoder,
    cache: EmbeddingCache,
    settings: tuple[float, int],
    quiet: bool,
) -> Embedded:
    """``embed_files`` over parts of ``PART`` files on ``workers`` processes (in input order),
    the cache saved every ``CHUNK`` files (an interrupted run keeps what it embedded); the same
    result as one call: an utterance's bytes do not depend on what it is batched with."""
    min_speech_s, workers = settings
    parts: list[Embedded] = []
    with tqdm(total=len(paths), desc="embed_ge2e", disable=quiet) as bar:
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start : start + CHUNK]
            pieces = [chunk[k : k + PART] for k in range(0, len(chunk), PART)]
            done = ordered_map(
                _embed_part,
                pieces,
                workers,
                initializer=_start_worker,
                initargs=(encoder, cache, min_speech_s),
                chunksize=1,
            )
            for part, new in done:
                for entry in new:
                    cache.put(*entry)
                parts.append(part)
                bar.update(len(part.paths) + len(part.rejects))
            if cache.dirty:
                cache.save()
    return Embedded(
        paths=[p for part in parts for p in part.paths],
        vectors=np.concatenate(
            [np.zeros((0, EMBEDDING_DIM), np.float32)] + [p.vectors for p in parts]
        ),
        utterance_speech_s=[s for part in parts for s in part.utterance_speech_s],
        rejects=[r for part in parts for r in part.rejects],
        n_cached=sum(part.n_cached for part in parts),
        audio_s=sum(part.audio_s for part in parts),
        speech_s=sum(part.speech_s for part in parts),
    )


def skip(params: Params, utterances: pd.DataFrame, reason: str, metrics: Path) -> dict:
    """Reject every utterance for ``reason`` (no waveform to embed); write the folder and a
    metrics file saying so."""
    rejects = pd.DataFrame({"identity": utterances.identity, "path": utterances.path}).assign(
        reason_code=NO_WAVEFORM, reason=reason
    )
    write_skipped(params.ge2e.out, rejects)
    if not Path(params.ge2e.cache).is_file():  # an output dvc checks: an empty cache, for no
        EmbeddingCache(params.ge2e.cache, NO_WAVEFORM).save()  # encoder (a real run replaces it)
    log.warning("skipped: %s; %d utterances listed in rejects.csv", reason, len(rejects))
    counts = {
        "skipped": reason,
        "utterances": len(utterances),
        "embedded": 0,
        "rejected": {NO_WAVEFORM: len(rejects)} if len(rejects) else {},
    }
    write_json(metrics, counts)
    return counts


def run(
    params: Params,
    metrics: Path = METRICS,
    quiet: bool = False,
    encoder: GE2EEncoder | None = None,
) -> dict:
    """Embed every stored utterance; write the folder, the cache and the counts.

    ``encoder``: None loads the pinned pretrained weights; tests pass a seeded random one.
    """
    cfg = params.ge2e
    utterances = FeatureStore(params.features.out).index[["identity", "path", "duration_s"]]
    reason = params.intersect.no_waveforms
    if reason is not None:
        return skip(params, utterances, reason, metrics)
    if encoder is None:
        encoder = load_ge2e("cpu", cfg.weights_sha256)
    cache = EmbeddingCache(cfg.cache, encoder.key)
    threads, started = torch.get_num_threads(), time.perf_counter()
    torch.set_num_threads(1)
    try:
        settings = (cfg.min_speech_s, cfg.workers)
        embedded = _embed(utterances.path.tolist(), encoder, cache, settings, quiet)
    finally:
        torch.set_num_threads(threads)
    # rejects name str(Path(p)): key both by that
    identity_of = {
        str(Path(p)): i for p, i in zip(utterances.path, utterances.identity, strict=True)
    }
    index = pd.DataFrame(
        {
            "identity": [identity_of[str(Path(p))] for p in embedded.paths],
            "path": embedded.paths,
            "speech_s": embedded.utterance_speech_s,
        },
        columns=INDEX_COLUMNS,
    )
    rejects = pd.DataFrame(
        [(identity_of[str(Path(r.path))], r.path, r.code, r.reason) for r in embedded.rejects],
        columns=REJECT_COLUMNS,
    )
    for row in rejects.itertuples():
        log.warning("rejected %s: %s", row.path, row.reason)
    write_embeddings(
        cfg.out, index, embedded.vectors, rejects, cache.encoder, cfg.max_reject_fraction
    )
    log.info(
        "%d utterances embedded (%d from the cache %s, %.1f s of audio computed) in %.1f s",
        len(index),
        embedded.n_cached,
        cfg.cache,
        embedded.audio_s,
        time.perf_counter() - started,
    )
    audio_s = utterances.set_index("path").duration_s.loc[embedded.paths].sum()
    counts = {
        "utterances": len(utterances),
        "embedded": len(index),
        "rejected": rejects.reason_code.value_counts().sort_index().to_dict(),
        "audio_hours": round(float(audio_s) / 3600, 4),
        "speech_hours": round(float(index.speech_s.sum()) / 3600, 4),
        "encoder": cache.encoder,
    }
    write_json(metrics, counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
