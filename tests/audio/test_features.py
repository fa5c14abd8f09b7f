"""extract_features + FeatureStore on real utterances plus broken ones, built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voice2mesh.audio import (
    FeatureError,
    FeatureStore,
    extract_features,
    log_mel,
    normalize,
    read_wav,
    vad,
)

SPEAKERS = ["Alan_Tudyk", "Bingbing_Li", "Eoin_Macken", "Witney_Carson", "Woody_Harrelson"]


@pytest.fixture(scope="module")
def manifest(assets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Five real utterances (absolute paths, read in place) and three bad files (relative)."""
    root = tmp_path_factory.mktemp("wavs")
    (root / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(64))
    sf.write(root / "silent.wav", np.zeros(32000, np.int16), 16000, subtype="PCM_16")
    speech = sf.read(assets_dir / "voxceleb1" / "Eoin_Macken.wav", dtype="int16")[0]
    sf.write(root / "short.wav", speech[16000:20800], 16000, subtype="PCM_16")  # 0.3 s
    rows = [("id_" + s, str(assets_dir / "voxceleb1" / f"{s}.wav")) for s in SPEAKERS[:3]]
    rows += [("id_bad", "broken.wav"), ("id_bad", "silent.wav"), ("id_bad", "short.wav")]
    rows += [("id_" + s, str(assets_dir / "voxceleb1" / f"{s}.wav")) for s in SPEAKERS[3:]]
    table = pd.DataFrame(rows, columns=["identity", "path"])
    table.attrs["root"] = root
    return table


@pytest.fixture(scope="module")
def extracted(manifest: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("features_w1")
    index, rejects = extract_features(
        manifest, manifest.attrs["root"], out, shard_size=2, workers=1
    )
    return out, index, rejects


def test_rejects_are_listed_with_reasons(extracted) -> None:
    out, index, rejects = extracted
    by_path = dict(zip(rejects.path, rejects.reason_code, strict=True))
    assert by_path == {
        "broken.wav": "unreadable",
        "silent.wav": "silent",
        "short.wav": "too_little_speech",
    }
    assert all("broken.wav" in r for r in rejects.reason[rejects.path == "broken.wav"])
    on_disk = pd.read_csv(out / "rejects.csv")
    assert list(on_disk.path) == list(rejects.path)
    assert list(index.identity) == ["id_" + s for s in SPEAKERS]  # manifest order, bad ones out


def test_index_and_shards_round_trip(extracted, manifest: pd.DataFrame) -> None:
    out, index, _ = extracted
    assert sorted(p.name for p in out.glob("shard_*.npz")) == [
        "shard_00000.npz",
        "shard_00001.npz",
        "shard_00002.npz",
    ]
    store = FeatureStore(out, cache_shards=1)
    assert len(store) == 5
    pd.testing.assert_frame_equal(store.index, pd.read_csv(out / "index.csv"), check_dtype=False)
    for i, row in store.index.iterrows():
        samples, _ = read_wav(row.path)
        speech = vad(samples)
        expected = normalize(log_mel(speech))
        got = store[i]
        assert got.dtype == np.float32 and got.shape == (row.n_frames, 64)
        np.testing.assert_array_equal(got, expected)
        assert row.speech_s == pytest.approx(len(speech) / 16000, abs=1e-4)
        assert row.duration_s == pytest.approx(len(samples) / 16000, abs=1e-4)
        assert row.shard == i // 2 and not row.resampled and not row.mixed_down
    with pytest.raises(ValueError, match="read-only"):
        store[0][0, 0] = 1.0
    with np.load(out / "shard_00000.npz") as shard:
        assert shard["offsets"].tolist() == [0, index.n_frames[0], index.n_frames[:2].sum()]


def test_same_bytes_whatever_the_workers(extracted, manifest: pd.DataFrame, tmp_path: Path) -> None:
    out1, _, _ = extracted
    out2 = tmp_path / "features_w2"
    extract_features(manifest, manifest.attrs["root"], out2, shard_size=2, workers=2)
    names = sorted(p.name for p in out1.iterdir())
    assert names == sorted(p.name for p in out2.iterdir())
    for name in names:
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name


def test_stale_shards_are_removed(manifest: pd.DataFrame, tmp_path: Path) -> None:
    root = manifest.attrs["root"]
    extract_features(manifest, root, tmp_path, shard_size=1, workers=1)
    assert len(list(tmp_path.glob("shard_*.npz"))) == 5
    extract_features(manifest.iloc[:2], root, tmp_path, shard_size=1, workers=1)
    assert sorted(p.name for p in tmp_path.glob("shard_*.npz")) == [
        "shard_00000.npz",
        "shard_00001.npz",
    ]
    assert len(FeatureStore(tmp_path)) == 2


def test_nothing_usable_is_an_error(manifest: pd.DataFrame, tmp_path: Path) -> None:
    bad = manifest[manifest.identity == "id_bad"]
    with pytest.raises(FeatureError, match="none of the 3 utterances"):
        extract_features(bad, manifest.attrs["root"], tmp_path, workers=1)
    assert len(pd.read_csv(tmp_path / "rejects.csv")) == 3


def test_reject_fraction_limit(manifest: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="3 of 8 utterances rejected"):
        extract_features(
            manifest, manifest.attrs["root"], tmp_path, workers=1, max_reject_fraction=0.2
        )


def test_bad_manifest_and_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="identity"):
        extract_features(pd.DataFrame({"path": ["a.wav"]}), tmp_path, tmp_path / "out")
    with pytest.raises(FeatureError, match="dvc repro features"):
        FeatureStore(tmp_path / "nowhere")
