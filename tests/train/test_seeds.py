"""Several seeds of one stage: the model folder, the metrics over seeds and the curves."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from torch import nn

from voice2mesh.train.loop import Trained
from voice2mesh.train.seeds import over_seeds, seed_rows, train_seeds, write_summary


def _trained(seed: int) -> Trained:
    history = [{"step": 2, "loss": 1.0 + seed}, {"step": 4, "loss": 0.5 + seed}]
    metrics = {"loss": 0.5 + seed, "n": 10, "method": "pkt", "frozen": True, "acc": None}
    return Trained(nn.Identity(), history, metrics, {})


def _fake_train(calls: list[int]):
    def train(seed: int, path: Path) -> Trained:
        calls.append(seed)
        path.write_bytes(f"model {seed}".encode())
        return _trained(seed)

    return train


def test_over_seeds_keeps_each_seed_and_averages_the_numbers() -> None:
    out = over_seeds({3: _trained(3).metrics, 4: _trained(4).metrics})
    assert out["n_seeds"] == 2
    assert out["seeds"] == {"3": _trained(3).metrics, "4": _trained(4).metrics}
    assert out["mean"] == {"loss": 4.0, "n": 10.0}  # no strings, bools or missing values
    partial = over_seeds({0: {"acc": 0.5}, 1: {"acc": None}})
    assert partial["mean"] == {}  # a mean of some seeds only would mislead


def test_seed_rows_lead_with_the_seed_in_seed_order() -> None:
    rows = seed_rows({1: _trained(1).history, 0: _trained(0).history})
    assert [(r["seed"], r["step"]) for r in rows] == [(1, 2), (1, 4), (0, 2), (0, 4)]
    assert list(rows[0]) == ["seed", "step", "loss"]


def test_train_seeds_writes_exactly_the_seeds_of_this_run(tmp_path: Path) -> None:
    folder, calls = tmp_path / "models", []
    runs = train_seeds((0, 1, 2), folder, _fake_train(calls))
    assert calls == [0, 1, 2] and list(runs) == [0, 1, 2]
    assert sorted(p.name for p in folder.iterdir()) == ["seed_0.pt", "seed_1.pt", "seed_2.pt"]
    train_seeds((0,), folder, _fake_train(calls))  # fewer seeds: the others' files go
    assert sorted(p.name for p in folder.iterdir()) == ["seed_0.pt"]
    assert [p.name for p in tmp_path.iterdir()] == ["models"]  # no temporary folder left


def test_a_failing_seed_leaves_the_previous_folder_whole(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    train_seeds((0, 1), folder, _fake_train([]))

    def failing(seed: int, path: Path) -> Trained:
        path.write_bytes(b"new")
        if seed == 1:
            raise RuntimeError("diverged")
        return _trained(seed)

    with pytest.raises(RuntimeError, match="diverged"):
        train_seeds((0, 1), folder, failing)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        "seed_0.pt": b"model 0",
        "seed_1.pt": b"model 1",
    }


def test_a_folder_holding_other_files_is_refused_before_training(tmp_path: Path) -> None:
    folder, calls = tmp_path / "models", []
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        train_seeds((0,), folder, _fake_train(calls))
    assert calls == [] and (folder / "notes.txt").is_file()


def test_write_summary_writes_metrics_over_seeds_and_curves_with_a_seed_column(
    tmp_path: Path,
) -> None:
    runs = {0: _trained(0), 1: _trained(1)}
    out = write_summary(runs, tmp_path / "m.json", tmp_path / "c.csv", ["step", "loss"])
    assert json.loads((tmp_path / "m.json").read_text()) == out
    assert out["mean"]["loss"] == pytest.approx(1.0) and out["n_seeds"] == 2
    curve = pd.read_csv(tmp_path / "c.csv")
    assert list(curve.columns) == ["seed", "step", "loss"]
    assert curve.seed.tolist() == [0, 0, 1, 1] and curve.loss.tolist() == [1.0, 0.5, 2.0, 1.5]


def test_write_summary_writes_pooled_measures_beside_the_mean_and_refuses_a_clash(
    tmp_path: Path,
) -> None:
    runs = {0: _trained(0), 1: _trained(1)}
    pooled = {"agreement_by_speaker": {"mean": 0.5, "n_speakers": 3}}
    out = write_summary(runs, tmp_path / "m.json", tmp_path / "c.csv", ["step", "loss"], pooled)
    assert json.loads((tmp_path / "m.json").read_text()) == out
    assert out["agreement_by_speaker"] == pooled["agreement_by_speaker"]
    assert out["mean"]["loss"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mean"):
        write_summary(runs, tmp_path / "x.json", tmp_path / "x.csv", ["step"], {"mean": {}})
