"""Tests for voice2mesh.fitting.store: the fit3dmm folder, written shard by shard."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voice2mesh.fitting import FitResult, build_references, diverged_reasons
from voice2mesh.fitting.store import (
    read_fits,
    read_references,
    write_fit_shards,
    write_fits,
)
from voice2mesh.io import MixedOutputError

N, KS = 23, 4


def fits_of(n: int, seed: int = 0) -> FitResult:
    """``n`` plausible fits; every fifth one has a residual too large (rejected)."""
    rng = np.random.default_rng(seed)
    residual = np.where(np.arange(n) % 5 == 4, 0.5, rng.uniform(0.001, 0.05, n))
    return FitResult(
        pose=rng.normal(size=(n, 3, 4)),
        shape=rng.normal(size=(n, KS)),
        expression=rng.normal(size=(n, 2)),
        residual_px=residual * 100,
        residual_norm=residual,
        face_size_px=np.full(n, 100.0),
        converged=np.ones(n, bool),
        objective=rng.random(n),
        yaw=rng.choice([0.0, 20.0], n),
        pitch=np.zeros(n),
        roll=np.zeros(n),
        expression_strength=rng.random(n).round(1),
        n_valid=np.full(n, 68),
    )


def landmark_index(n: int) -> pd.DataFrame:
    identity = [f"id{i % 6}" for i in range(n)]
    return pd.DataFrame(
        {"identity": identity, "name": identity, "split": "train"}
        | {"path": [f"faces/{i:03d}.jpg" for i in range(n)], "height": 64, "width": 64}
    )


IDENTITIES = pd.DataFrame(
    {"identity": [f"id{k}" for k in range(7)], "name": "x", "gender": "f", "split": "train"}
)


def shards_of(index: pd.DataFrame, result: FitResult, cuts: tuple[int, ...]):
    """``write_fit_shards``'s input: the rows between consecutive ``cuts``."""
    for start, stop in zip((0, *cuts), (*cuts, len(index)), strict=True):
        part = FitResult(**{k: v[start:stop] for k, v in result.arrays().items()})
        yield index.iloc[start:stop].assign(shard=len(cuts)), part, diverged_reasons(part)


@pytest.mark.parametrize("rule", ["best_frontal", "mean"])
@pytest.mark.parametrize("cuts", [(), (8, 16), (1, 2, 22)])
def test_shards_read_back_as_the_fits_written_whole(tmp_path: Path, rule, cuts) -> None:
    index, result = landmark_index(N), fits_of(N)
    summary = write_fit_shards(tmp_path / "fits", shards_of(index, result, cuts), IDENTITIES, rule)
    stored = read_fits(tmp_path / "fits")
    assert len(list((tmp_path / "fits").glob("shard_*.npz"))) == len(cuts) + 1
    assert stored.index.shard.tolist() == np.searchsorted(cuts, range(N), "right").tolist()
    assert stored.index.path.tolist() == index.path.tolist()
    for name, values in result.arrays().items():
        np.testing.assert_array_equal(getattr(stored.result, name), values)
    reasons = diverged_reasons(result)
    np.testing.assert_array_equal(stored.usable, [r is None for r in reasons])
    refs = build_references(index.identity.to_numpy(), result, rule, usable=stored.usable)
    whole = write_fits(tmp_path / "whole", index, result, reasons, refs, IDENTITIES)
    assert summary == whole.summary() == stored.summary()
    pd.testing.assert_frame_equal(stored.references, whole.references, check_dtype=False)
    np.testing.assert_allclose(stored.reference_shape, whole.reference_shape, rtol=1e-12)
    references, shape = read_references(tmp_path / "fits")
    pd.testing.assert_frame_equal(references, stored.references)
    np.testing.assert_array_equal(shape, stored.reference_shape)


def test_the_same_fits_give_the_same_bytes(tmp_path: Path) -> None:
    index, result = landmark_index(N), fits_of(N)
    for run in ("a", "b"):
        shards = shards_of(index, result, (10,))
        write_fit_shards(tmp_path / run, shards, IDENTITIES, "best_frontal")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    tables = ["index.csv", "references.csv", "references.npz", "rejects.csv"]
    assert names == [*tables, "shard_00000.npz", "shard_00001.npz"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_write_fits_splits_whole_fits_into_shards(tmp_path: Path) -> None:
    index, result = landmark_index(N), fits_of(N)
    reasons = diverged_reasons(result)
    refs = build_references(index.identity.to_numpy(), result, "mean")
    write_fits(tmp_path / "fits", index, result, reasons, refs, IDENTITIES, shard_size=10)
    assert sorted(p.name for p in (tmp_path / "fits").glob("shard_*")) == [
        f"shard_{k:05d}.npz" for k in range(3)
    ]
    stored = read_fits(tmp_path / "fits")
    np.testing.assert_array_equal(stored.result.pose, result.pose)


def test_a_shard_of_another_run_with_as_many_rows_is_refused(tmp_path: Path) -> None:
    index, result = landmark_index(20), fits_of(20)
    write_fit_shards(tmp_path / "fits", shards_of(index, result, (10,)), IDENTITIES, "mean")
    other = index.assign(path=index.path.str.replace("faces", "others"))
    write_fit_shards(tmp_path / "other", shards_of(other, result, (10,)), IDENTITIES, "mean")
    shutil.copyfile(tmp_path / "other" / "shard_00001.npz", tmp_path / "fits" / "shard_00001.npz")
    refused = (
        r"shard_00001\.npz: shard paths and index\.csv disagree \(row 0: .* `dvc repro fit3dmm`$"
    )
    with pytest.raises(MixedOutputError, match=refused):
        read_fits(tmp_path / "fits")
    read_references(tmp_path / "fits")  # the references alone are still this run's


def test_too_many_rejects_write_nothing(tmp_path: Path) -> None:
    index, result = landmark_index(N), fits_of(N)
    shards = shards_of(index, result, (10,))
    with pytest.raises(RuntimeError, match=r"4 of 23 fits rejected .* residual"):
        write_fit_shards(tmp_path / "fits", shards, IDENTITIES, "mean", max_reject_fraction=0.1)
    assert not (tmp_path / "fits").exists()
