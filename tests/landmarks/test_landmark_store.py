"""Tests for voice2mesh.landmarks.store: the landmarks folder, detected and written by shards."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from voice2mesh.io import MixedOutputError
from voice2mesh.landmarks import store
from voice2mesh.landmarks.store import detect_to_folder, iter_landmarks, read_landmarks

SIZE = 24  # pixels, square images


class StubBackend:
    """Landmarks from the image's brightness (so that rows are told apart); no face at 0."""

    name = "stub"

    def __init__(self, batch_size: int = 2) -> None:
        self.batch_size = batch_size
        self.calls: list[int] = []

    def detect(self, paths: Sequence[Path], images: Sequence[np.ndarray]) -> list:
        self.calls.append(len(paths))
        grid = np.stack(np.meshgrid(np.arange(17), np.arange(4)), -1).reshape(68, 2)
        return [None if im.mean() == 0 else grid + im.mean() / 255 for im in images]


def make_faces(folder: Path, n: int, blank: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n`` manifest rows whose images differ in brightness; those in ``blank`` show no face."""
    paths = []
    for i in range(n):
        path = folder / f"id{i // 3}" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        level = 0 if i in blank else 10 + 7 * i
        Image.fromarray(np.full((SIZE, SIZE + 1, 3), level, np.uint8)).save(path)
        paths.append(str(path))
    identity = [f"id{i // 3}" for i in range(n)]
    return pd.DataFrame({"identity": identity, "name": identity, "split": "train", "path": paths})


@pytest.mark.parametrize(("n", "shard_size"), [(10, 4), (8, 4), (3, 4096), (7, 1)])
def test_one_shard_per_chunk_and_the_detector_sees_one_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int, shard_size: int
) -> None:
    faces = make_faces(tmp_path / "images", n, blank=(1,))
    chunks: list[int] = []

    def detect(backend, paths, progress=iter):
        chunks.append(len(paths))
        return detect_landmarks(backend, paths, progress)

    detect_landmarks = store.detect_landmarks
    monkeypatch.setattr(store, "detect_landmarks", detect)
    backend = StubBackend()
    index, rejects = detect_to_folder(backend, faces, tmp_path / "lm", shard_size=shard_size)
    n_shards = -(-n // shard_size)
    assert sorted(p.name for p in (tmp_path / "lm").glob("shard_*.npz")) == [
        f"shard_{k:05d}.npz" for k in range(n_shards)
    ]
    assert len(chunks) == n_shards and max(chunks) <= shard_size and sum(chunks) == n
    assert max(backend.calls) <= backend.batch_size
    assert [p for p, _ in rejects] == [faces.path[1]]
    assert index.path.tolist() == [p for i, p in enumerate(faces.path) if i != 1]
    assert index.shard.tolist() == [i // shard_size for i in range(n) if i != 1]
    read, points, sizes = read_landmarks(tmp_path / "lm")
    pd.testing.assert_frame_equal(read, index, check_dtype=False)
    assert points.shape == (n - 1, 68, 2) and (sizes == [SIZE, SIZE + 1]).all()
    brightness = [10 + 7 * i for i in range(n) if i != 1]
    np.testing.assert_allclose(points[:, 0, 0], np.array(brightness) / 255, rtol=1e-6)
    shards = list(iter_landmarks(tmp_path / "lm"))
    assert len(shards) == n_shards
    assert pd.concat([rows for rows, _, _ in shards]).path.tolist() == index.path.tolist()
    np.testing.assert_array_equal(np.concatenate([p for _, p, _ in shards]), points)


def test_a_chunk_without_a_face_gives_an_empty_shard(tmp_path: Path) -> None:
    faces = make_faces(tmp_path / "images", 6, blank=(2, 3))
    index, _ = detect_to_folder(StubBackend(), faces, tmp_path / "lm", shard_size=2)
    assert index.shard.tolist() == [0, 0, 2, 2]
    shards = list(iter_landmarks(tmp_path / "lm"))
    assert [len(rows) for rows, _, _ in shards] == [2, 0, 2]
    assert shards[1][1].shape == (0, 68, 2)


def test_the_same_faces_give_the_same_bytes(tmp_path: Path) -> None:
    faces = make_faces(tmp_path / "images", 9)
    for run in ("a", "b"):
        detect_to_folder(StubBackend(), faces, tmp_path / run, shard_size=4)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["index.csv", "rejects.csv", *(f"shard_{k:05d}.npz" for k in range(3))]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_shard_of_another_run_with_as_many_rows_is_refused(tmp_path: Path) -> None:
    faces = make_faces(tmp_path / "images", 8)
    detect_to_folder(StubBackend(), faces, tmp_path / "lm", shard_size=4)
    detect_to_folder(StubBackend(), faces.iloc[::-1], tmp_path / "other", shard_size=4)
    shutil.copyfile(tmp_path / "other" / "shard_00001.npz", tmp_path / "lm" / "shard_00001.npz")
    refused = (
        r"shard_00001\.npz: shard paths and index\.csv disagree \(row 0: .* `dvc repro landmarks`"
    )
    with pytest.raises(MixedOutputError, match=refused):
        read_landmarks(tmp_path / "lm")
    shards = iter_landmarks(tmp_path / "lm")
    next(shards)  # shard 0 is still this run's
    with pytest.raises(MixedOutputError, match=refused):
        next(shards)


@pytest.mark.parametrize("damage", ["missing shard", "extra shard", "old layout"])
def test_a_damaged_or_old_folder_is_refused(tmp_path: Path, damage: str) -> None:
    faces = make_faces(tmp_path / "images", 8)
    folder = tmp_path / "lm"
    detect_to_folder(StubBackend(), faces, folder, shard_size=4)
    if damage == "missing shard":
        (folder / "shard_00001.npz").unlink()
    elif damage == "extra shard":
        shutil.copyfile(folder / "shard_00001.npz", folder / "shard_00003.npz")
    else:
        for shard in folder.glob("shard_*.npz"):
            shard.unlink()
        pd.read_csv(folder / "index.csv").drop(columns="shard").to_csv(folder / "index.csv")
    with pytest.raises(MixedOutputError, match=r"re-run `dvc repro landmarks`$"):
        read_landmarks(folder)


def test_too_many_rejects_leave_the_previous_folder(tmp_path: Path) -> None:
    faces = make_faces(tmp_path / "images", 6, blank=(0, 1, 2, 3))
    detect_to_folder(StubBackend(), faces.iloc[4:], tmp_path / "lm", shard_size=4)
    before = {p.name: p.read_bytes() for p in (tmp_path / "lm").iterdir()}
    with pytest.raises(RuntimeError, match=r"4 of 6 images rejected \(67% > landmarks"):
        detect_to_folder(
            StubBackend(), faces, tmp_path / "lm", shard_size=4, max_reject_fraction=0.5
        )
    assert {p.name: p.read_bytes() for p in (tmp_path / "lm").iterdir()} == before
