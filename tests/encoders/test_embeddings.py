"""Batched GE2E embedding of files: batching, the cache, bad input, and real voices.

Most tests use a seeded, randomly initialised ``GE2EEncoder`` (the arithmetic is the same, and
they run without the ``resemblyzer`` wheel); the real-clip test needs its weights.
"""

from __future__ import annotations

import logging
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from ge2e_voices import voice, write_voice

from voice2mesh.audio.io import read_wav
from voice2mesh.encoders import EmbeddingCache, GE2EEncoder, embed_files, utterance_key
from voice2mesh.encoders.cache import write_npz
from voice2mesh.encoders.embeddings import BATCH, embed_partials
from voice2mesh.encoders.ge2e import EncoderUnavailable, load_ge2e

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net() -> GE2EEncoder:
    torch.manual_seed(0)
    encoder = GE2EEncoder().eval()
    encoder.key = "test-random-0"
    return encoder


@pytest.fixture
def wavs(tmp_path: Path) -> list[Path]:
    """Four synthetic voices of 2-6 s (2 to 6 partials each)."""
    specs = [(2.0, 110.0), (6.0, 230.0), (3.5, 150.0), (4.0, 190.0)]
    return [
        write_voice(tmp_path / f"v{k}.wav", voice(s, f0, seed=k)) for k, (s, f0) in enumerate(specs)
    ]


def test_embeddings_do_not_depend_on_batch_company(net, wavs) -> None:
    together = embed_files(wavs, net)
    assert together.paths == [str(w) for w in wavs] and together.vectors.shape == (4, 256)
    np.testing.assert_allclose(np.linalg.norm(together.vectors, axis=1), 1.0, rtol=1e-6)
    for k, w in enumerate(wavs):  # bitwise: rows of a fixed-size batch are independent
        np.testing.assert_array_equal(embed_files([w], net).vectors[0], together.vectors[k])
    reordered = embed_files(wavs[::-1], net)
    np.testing.assert_array_equal(reordered.vectors[::-1], together.vectors)


def test_long_input_spans_several_batches(net) -> None:
    rng = np.random.default_rng(0)
    mels = rng.random((2 * BATCH + 5, 160, 40), dtype=np.float32)
    out = embed_partials(net, mels)
    with torch.no_grad():
        direct = net(torch.from_numpy(mels[-5:])).numpy()
    np.testing.assert_allclose(out[-5:], direct, atol=1e-5)
    np.testing.assert_array_equal(embed_partials(net, mels[:BATCH]), out[:BATCH])


def test_cache_round_trip_and_deterministic_bytes(net, wavs, tmp_path) -> None:
    path = tmp_path / "cache" / "ge2e.npz"
    first = embed_files(wavs, net, cache=EmbeddingCache(path, net.key))
    assert first.n_cached == 0 and path.is_file()
    again = embed_files(wavs, net, cache=EmbeddingCache(path, net.key))
    assert again.n_cached == 4 and again.audio_s == 0.0
    np.testing.assert_array_equal(again.vectors, first.vectors)
    other = tmp_path / "other.npz"  # filled in another order, in two runs
    embed_files(wavs[2:], net, cache=EmbeddingCache(other, net.key))
    embed_files(wavs[::-1], net, cache=EmbeddingCache(other, net.key))
    assert other.read_bytes() == path.read_bytes()
    with np.load(path) as data:
        assert list(data["keys"]) == sorted(utterance_key(w) for w in wavs)
        assert str(data["encoder"]).startswith("test-random-0/resemblyzer-0.1.4")


def test_cache_invalidation(net, wavs, tmp_path, caplog) -> None:
    path = tmp_path / "ge2e.npz"
    embed_files(wavs, net, cache=EmbeddingCache(path, net.key))
    write_voice(wavs[1], voice(6.0, 100.0, seed=9))  # the file's content changed
    changed = embed_files(wavs, net, cache=EmbeddingCache(path, net.key))
    assert changed.n_cached == 3
    np.testing.assert_array_equal(changed.vectors[1], embed_files([wavs[1]], net).vectors[0])
    assert len(EmbeddingCache(path, net.key)) == 5  # the old entry stays, keyed by old bytes
    torch.manual_seed(1)
    retrained = GE2EEncoder().eval()
    retrained.key = "test-random-1"
    with caplog.at_level(logging.INFO, logger="voice2mesh.encoders.cache"):
        assert len(EmbeddingCache(path, retrained.key)) == 0
    assert "written for test-random-0" in caplog.text
    fresh = embed_files(wavs, retrained, cache=EmbeddingCache(path, retrained.key))
    assert fresh.n_cached == 0 and len(EmbeddingCache(path, retrained.key)) == 4
    assert not np.allclose(fresh.vectors, changed.vectors)


def test_a_cache_without_seconds_of_speech_is_recomputed(net, wavs, tmp_path, caplog) -> None:
    """Hits are held to min_speech_s with the stored seconds: a cache lacking them is stale."""
    path = tmp_path / "ge2e.npz"
    embed_files(wavs[:2], net, cache=EmbeddingCache(path, net.key))
    with np.load(path) as data:
        old = {name: data[name] for name in data.files if name != "speech_s"}
    write_npz(path, old)
    with caplog.at_level(logging.INFO, logger="voice2mesh.encoders.cache"):
        assert len(EmbeddingCache(path, net.key)) == 0
    assert "holds no seconds of speech" in caplog.text
    again = embed_files(wavs[:2], net, cache=EmbeddingCache(path, net.key))
    assert again.n_cached == 0 and not again.rejects
    cached = embed_files(wavs[:2], net, cache=EmbeddingCache(path, net.key), min_speech_s=2.5)
    cold = embed_files(wavs[:2], net, min_speech_s=2.5)
    assert cached.n_cached == 1 and [r.code for r in cached.rejects] == ["too_little_speech"]
    assert [r.path for r in cached.rejects] == [r.path for r in cold.rejects] == [str(wavs[0])]
    assert cached.utterance_speech_s == cold.utterance_speech_s
    np.testing.assert_array_equal(cached.vectors, cold.vectors)


def test_damaged_cache_is_recomputed(net, wavs, tmp_path, caplog) -> None:
    path = tmp_path / "ge2e.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with caplog.at_level(logging.WARNING):
        out = embed_files(wavs[:2], net, cache=EmbeddingCache(path, net.key))
    assert "unreadable embedding cache" in caplog.text and out.n_cached == 0
    assert len(EmbeddingCache(path, net.key)) == 2
    with pytest.raises(ValueError, match="without a key"):
        EmbeddingCache(path, "")


def test_other_rates_are_resampled_and_stereo_mixed(net, wavs, tmp_path) -> None:
    samples = voice(3.5, 150.0, seed=2, rate=8000)
    low = write_voice(tmp_path / "8k.wav", samples, rate=8000)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([read_wav(wavs[2])[0]] * 2, axis=1), 16000, subtype="PCM_16")
    out = embed_files([low, stereo], net)
    assert not out.rejects and out.vectors.shape == (2, 256)
    np.testing.assert_array_equal(out.vectors[1], embed_files([wavs[2]], net).vectors[0])


def test_bad_files_are_rejected_with_reasons_and_the_rest_embedded(net, wavs, tmp_path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    bad_rate = write_voice(tmp_path / "1hz.wav", voice(1.0), rate=16000)
    data = bytearray(bad_rate.read_bytes())
    data[24:28] = (1).to_bytes(4, "little")  # header: 1 sample per second
    bad_rate.write_bytes(bytes(data))
    short = write_voice(tmp_path / "short.wav", voice(0.3))
    silent = write_voice(tmp_path / "silent.wav", np.zeros(16000, np.int16))
    hiss = write_voice(tmp_path / "hiss.wav", np.full(32000, 3, np.int16))  # no speech at all
    files = [corrupt, wavs[0], bad_rate, short, tmp_path / "missing.wav", silent, hiss]
    for cache in (None, EmbeddingCache(tmp_path / "cache.npz", net.key)):
        out = embed_files(files, net, cache=cache)
        assert out.paths == [str(wavs[0])]
        codes = {Path(r.path).name: r.code for r in out.rejects}
        assert codes == {
            "corrupt.wav": "unreadable",
            "1hz.wav": "bad_rate",
            "short.wav": "too_little_speech",
            "missing.wav": "unreadable",
            "silent.wav": "silent",
            "hiss.wav": "too_little_speech",
        }
        assert [Path(r.path).name for r in out.rejects] == [f.name for f in files if f != wavs[0]]
        assert "0.30 s of speech" in out.rejects[2].reason


def test_eval_mode_required(wavs) -> None:
    with pytest.raises(ValueError, match="eval mode"):
        embed_files(wavs, GE2EEncoder().train())


def test_real_voices_separate(assets_dir, tmp_path) -> None:
    """Two halves of one clip are closer than halves of different speakers (ten speakers)."""
    try:
        encoder = load_ge2e()
    except EncoderUnavailable as error:
        pytest.skip(f"GE2E weights not installed: {error}")
    halves = []
    for f in sorted((assets_dir / "voxceleb1").glob("*.wav")):
        samples, _ = read_wav(f)
        middle = len(samples) // 2
        halves += [
            write_voice(tmp_path / f"{f.stem}_a.wav", samples[:middle]),
            write_voice(tmp_path / f"{f.stem}_b.wav", samples[middle:]),
        ]
    out = embed_files(halves, encoder)
    assert len(halves) == 20 and not out.rejects
    sims = out.vectors @ out.vectors.T  # (20, 20)
    same = [sims[k, k + 1] for k in range(0, 20, 2)]
    other = [sims[a, b] for a, b in combinations(range(20), 2) if a // 2 != b // 2]
    # Measured: same-speaker mean 0.80 (min 0.55), different-speaker mean 0.50 (max 0.70).
    assert np.mean(same) > np.mean(other) + 0.2
    nearest_is_twin = [np.argsort(-sims[k])[1] // 2 == k // 2 for k in range(20)]
    assert sum(nearest_is_twin) >= 15
