"""The ``embed_ge2e`` stage: every utterance of the features index, rejects listed, bytes that
do not depend on the cache, a clear failure when too much is rejected, the pinned weights.

A seeded random ``GE2EEncoder`` stands in for the pretrained one (the stage's arithmetic is the
same); the pinned-weights test needs the ``resemblyzer`` wheel.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from ge2e_voices import voice, write_voice

from stages import embed_ge2e
from voice2mesh.audio.features import INDEX_COLUMNS
from voice2mesh.audio.shards import write_shard
from voice2mesh.config import FeaturesParams, Ge2eParams, IntersectParams, Params
from voice2mesh.encoders import EncoderUnavailable, GE2EEncoder, embed_files, load_ge2e
from voice2mesh.encoders.store import NO_WAVEFORM, EmbeddingStore, EmbeddingStoreError
from voice2mesh.io import MixedOutputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
OUTPUTS = ("embeddings.npz", "index.csv", "rejects.csv")
SPECS = [  # identity, seconds, f0 (0: silence)
    ("id10001", 3.0, 110.0),
    ("id10001", 2.0, 120.0),
    ("id10002", 4.0, 210.0),
    ("id10002", 0.3, 200.0),  # too little speech
    ("id10003", 1.0, 0.0),  # silent
    ("id10003", 3.5, 160.0),
]


@pytest.fixture(scope="module")
def net() -> GE2EEncoder:
    torch.manual_seed(0)
    encoder = GE2EEncoder().eval()
    encoder.key = "test-random-0"
    return encoder


def _params(root: Path) -> Params:
    """A features folder listing ``SPECS``' wavs (the frames do not matter to this stage)."""
    folder, wavs = root / "features", root / "wav"
    folder.mkdir(parents=True)
    wavs.mkdir()
    rows = []
    for k, (identity, seconds, f0) in enumerate(SPECS):
        samples = voice(seconds, f0, seed=k) if f0 else np.zeros(round(seconds * 16000), np.int16)
        path = str(write_voice(wavs / f"{k}.wav", samples))
        rows.append({"identity": identity, "path": path, "shard": 0, "start": 10 * k})
        rows[-1] |= {"n_frames": 10, "duration_s": seconds, "speech_s": seconds}
    write_shard(folder, 0, [r["path"] for r in rows], [np.zeros((10, 64), np.float32)] * len(rows))
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(folder / "index.csv", index=False)
    ge2e = Ge2eParams(cache=str(root / "cache" / "ge2e.npz"), out=str(root / "ge2e"))
    return replace(Params(), features=FeaturesParams(out=str(folder)), ge2e=ge2e)


def _run(params: Params, net: GE2EEncoder, root: Path) -> dict:
    return embed_ge2e.run(params, root / "embed_ge2e.json", quiet=True, encoder=net)


def _bytes(params: Params, root: Path) -> dict[str, bytes]:
    out = {name: (Path(params.ge2e.out) / name).read_bytes() for name in OUTPUTS}
    return out | {"metrics": (root / "embed_ge2e.json").read_bytes()}


def test_every_stored_utterance_is_embedded_or_listed(net, tmp_path: Path) -> None:
    params = _params(tmp_path)
    counts = _run(params, net, tmp_path)
    index = pd.read_csv(Path(params.features.out) / "index.csv")
    store = EmbeddingStore(params.ge2e.out)
    kept = [0, 1, 2, 5]
    assert store.index.path.tolist() == index.path[kept].tolist()
    assert store.index.identity.tolist() == ["id10001", "id10001", "id10002", "id10003"]
    direct = embed_files(index.path[kept].tolist(), net)
    np.testing.assert_array_equal(store.take(np.arange(4)), direct.vectors)
    np.testing.assert_allclose(store.index.speech_s, direct.utterance_speech_s, atol=1e-4)
    rejects = pd.read_csv(Path(params.ge2e.out) / "rejects.csv")
    assert rejects.reason_code.tolist() == ["too_little_speech", "silent"]
    assert rejects.identity.tolist() == ["id10002", "id10003"]
    assert counts == json.loads((tmp_path / "embed_ge2e.json").read_text())
    assert (counts["utterances"], counts["embedded"]) == (6, 4)
    assert counts["rejected"] == {"silent": 1, "too_little_speech": 1}
    assert counts["audio_hours"] == round(12.5 / 3600, 4)
    assert counts["encoder"].startswith("test-random-0/resemblyzer-0.1.4")
    vectors, found = store.lookup([index.path[3], index.path[5], "elsewhere.wav"])
    assert found.tolist() == [False, True, False] and not vectors[[0, 2]].any()
    np.testing.assert_array_equal(vectors[1], direct.vectors[3])


def test_release_voices_are_all_rejected_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``intersect.source: release`` (fbank features, no waveforms): no weights loaded, every
    utterance listed as ``no_waveform``, no embeddings, metrics saying why; the cache exists
    (a dvc output) and a kept one is left as it was."""
    params = _params(tmp_path)
    release = str(tmp_path / "release")
    params = replace(
        params,
        intersect=IntersectParams(source="release", voxceleb_root=release, vggface_root=release),
    )
    monkeypatch.setattr(embed_ge2e, "load_ge2e", lambda *_: pytest.fail("loaded the weights"))
    counts = embed_ge2e.run(params, tmp_path / "embed_ge2e.json", quiet=True)
    assert counts == json.loads((tmp_path / "embed_ge2e.json").read_text())
    assert "without waveforms" in counts["skipped"]
    assert (counts["utterances"], counts["embedded"]) == (len(SPECS), 0)
    assert counts["rejected"] == {NO_WAVEFORM: len(SPECS)}
    out = Path(params.ge2e.out)
    assert sorted(f.name for f in out.iterdir()) == ["rejects.csv"]
    rejects = pd.read_csv(out / "rejects.csv")
    index = pd.read_csv(Path(params.features.out) / "index.csv")
    assert rejects.path.tolist() == index.path.tolist()
    assert rejects.identity.tolist() == [identity for identity, _, _ in SPECS]
    assert set(rejects.reason_code) == {NO_WAVEFORM} and set(rejects.reason) == {counts["skipped"]}
    with pytest.raises(EmbeddingStoreError, match=r"index\.csv not found"):
        EmbeddingStore(out)
    cache = Path(params.ge2e.cache)
    assert cache.is_file()
    cache.write_bytes(b"kept")
    embed_ge2e.run(params, tmp_path / "embed_ge2e.json", quiet=True)
    assert cache.read_bytes() == b"kept"


def test_outputs_do_not_depend_on_the_cache(net, tmp_path: Path) -> None:
    """Cold and warm caches give the same bytes; a cached utterance is held to min_speech_s."""
    params = _params(tmp_path)
    _run(params, net, tmp_path)
    cold = _bytes(params, tmp_path)
    assert Path(params.ge2e.cache).is_file()
    _run(params, net, tmp_path)  # every embedding from the cache now
    assert _bytes(params, tmp_path) == cold
    stricter = replace(params, ge2e=replace(params.ge2e, min_speech_s=2.5))
    _run(stricter, net, tmp_path)  # warm
    warm = _bytes(stricter, tmp_path)
    Path(params.ge2e.cache).unlink()
    _run(stricter, net, tmp_path)  # cold
    assert _bytes(stricter, tmp_path) == warm != cold
    assert len(EmbeddingStore(params.ge2e.out)) == 3  # the 2-s voice fell under 2.5 s


def test_chunks_between_cache_saves_do_not_change_the_outputs(
    net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _params(tmp_path)
    _run(params, net, tmp_path)
    whole = _bytes(params, tmp_path)
    cache = Path(params.ge2e.cache).read_bytes()
    Path(params.ge2e.cache).unlink()
    monkeypatch.setattr(embed_ge2e, "CHUNK", 4)  # 6 files: two chunks, two saves
    _run(params, net, tmp_path)
    assert _bytes(params, tmp_path) == whole and Path(params.ge2e.cache).read_bytes() == cache


def test_workers_and_parts_do_not_change_the_outputs(
    net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two forked workers on parts of 2 files give one worker's bytes, outputs and cache."""
    params = _params(tmp_path)
    one = replace(params, ge2e=replace(params.ge2e, workers=1))
    _run(one, net, tmp_path)
    whole, cache = _bytes(one, tmp_path), Path(params.ge2e.cache).read_bytes()
    Path(params.ge2e.cache).unlink()
    monkeypatch.setattr(embed_ge2e, "PART", 2)  # 6 files: three parts over two processes
    two = replace(params, ge2e=replace(params.ge2e, workers=2))
    _run(two, net, tmp_path)
    assert _bytes(two, tmp_path) == whole and Path(params.ge2e.cache).read_bytes() == cache
    _run(two, net, tmp_path)  # warm: the workers read the parent's cache
    assert _bytes(two, tmp_path) == whole


def test_too_many_rejects_fail_and_leave_only_the_rejects(net, tmp_path: Path) -> None:
    params = _params(tmp_path)
    strict = replace(params, ge2e=replace(params.ge2e, max_reject_fraction=0.2))
    with pytest.raises(EmbeddingStoreError, match="2 of 6 utterances rejected"):
        _run(strict, net, tmp_path)
    assert sorted(p.name for p in Path(params.ge2e.out).iterdir()) == ["rejects.csv"]
    with pytest.raises(EmbeddingStoreError, match="run `dvc repro embed_ge2e`"):
        EmbeddingStore(params.ge2e.out)


def test_a_folder_of_two_runs_is_refused(net, tmp_path: Path) -> None:
    params = _params(tmp_path)
    _run(params, net, tmp_path)
    index_file = Path(params.ge2e.out) / "index.csv"
    index = pd.read_csv(index_file)
    index.iloc[::-1].to_csv(index_file, index=False)
    with pytest.raises(MixedOutputError, match=r"embeddings\.npz paths and index\.csv disagree"):
        EmbeddingStore(params.ge2e.out)


def test_the_weights_must_have_the_pinned_hash(tmp_path: Path) -> None:
    try:
        load_ge2e(sha256=Ge2eParams().weights_sha256)  # the installed wheel's, as pinned
    except EncoderUnavailable as error:
        pytest.skip(f"GE2E weights not installed: {error}")
    params = _params(tmp_path)
    other = replace(params, ge2e=replace(params.ge2e, weights_sha256="0" * 64))
    with pytest.raises(EncoderUnavailable, match="not the pinned 0000000000000000"):
        embed_ge2e.run(other, tmp_path / "m.json", quiet=True)
    assert not Path(params.ge2e.out).exists()
