"""The training stages train every seed of ``Params.train_seeds`` in one run, chained by seed.

A tiny synthetic world goes through the data stages once; then ``pretrain_voice``,
``train_supervised``, ``pretrain_teacher``, ``train_gan`` and one ``kd_ablation`` method run
with two seeds, and their folders, metrics, curves and the seed chain are checked.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_pipeline import run_data_stages
from test_pipeline import tiny_params as pipeline_params

from stages import (
    kd_ablation,
    pretrain_teacher,
    pretrain_voice,
    train_gan,
    train_supervised,
    train_supervised_ge2e,
)
from voice2mesh.checkpoint import read_model
from voice2mesh.config import (
    Params,
)

SEEDS = (4, 5)
METHOD = "pkt"
SMALL = {"iterations": 2, "batch_size": 4, "eval_every": 1}


def tiny_params(root: Path) -> Params:
    """The end-to-end test's tiny world, trained with ``SEEDS`` and one evaluation per step."""
    params = pipeline_params(root)
    small = {
        name: replace(getattr(params, name), **SMALL)
        for name in ("pretrain_voice", "supervised", "supervised_ge2e", "teacher", "gan", "kd")
    }
    return replace(params, seed=SEEDS[0], n_seeds=len(SEEDS), **small)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Params, Path]:
    root = tmp_path_factory.mktemp("seeded")
    params, m = tiny_params(root), root / "metrics"
    run_data_stages(params, root, m)
    pretrain_voice.run(params, m / "pretrain_voice.json", m / "pretrain_voice.csv", quiet=True)
    train_supervised.run(params, m / "train_supervised.json", m / "sup.csv", quiet=True)
    sup_ge2e = (m / "train_supervised_ge2e.json", m / "sup_ge2e.csv")
    train_supervised_ge2e.run(params, *sup_ge2e, quiet=True)
    pretrain_teacher.run(params, m / "pretrain_teacher.json", m / "teacher.csv", quiet=True)
    train_gan.run(params, m / "train_gan.json", m / "train_gan.csv", quiet=True)
    kd_ablation.run(params, METHOD, True, m / "kd", m / "kd_plots")
    return params, m


def _folders(params: Params) -> dict[str, Path]:
    return {
        "pretrain_voice": Path(params.pretrain_voice.out),
        "train_supervised": Path(params.supervised.out),
        "train_supervised_ge2e": Path(params.supervised_ge2e.out),
        "train_gan": Path(params.gan.out),
        "kd_ablation": params.kd.model_folder(METHOD),
    }


def _encoder(path: Path) -> dict[str, torch.Tensor]:
    """The voice encoder's weights inside any model (``...encoder.<name>`` -> tensor)."""
    weights = read_model(path).weights
    return {k.split("encoder.", 1)[1]: v for k, v in weights.items() if "encoder." in k}


def test_every_stage_writes_exactly_one_model_per_seed_and_seeds_differ(trained) -> None:
    params, _ = trained
    for stage, folder in _folders(params).items():
        assert sorted(p.name for p in folder.iterdir()) == [f"seed_{k}.pt" for k in SEEDS], stage
        first, second = (read_model(folder / f"seed_{k}.pt") for k in SEEDS)
        assert (first.params["seed"], second.params["seed"]) == SEEDS, stage
        assert any(not torch.equal(first.weights[k], second.weights[k]) for k in first.weights)
    state = params.gan.state_path(SEEDS[1])
    assert state.is_file() and params.kd.state_path(METHOD, SEEDS[1]).is_file()


def test_seed_k_of_a_stage_builds_on_seed_k_of_the_stages_before(trained) -> None:
    """The encoder is frozen downstream: every model of seed k carries encoder k's weights."""
    params, _ = trained
    for seed in SEEDS:
        encoder = _encoder(params.pretrain_voice.model_path(seed))
        for later in (
            params.supervised.model_path(seed),
            params.gan.model_path(seed),
            params.kd.model_path(METHOD, seed),
        ):
            weights = _encoder(later)
            assert weights.keys() == encoder.keys(), later
            assert all(torch.equal(weights[k], encoder[k]) for k in encoder), later
    other = _encoder(params.pretrain_voice.model_path(SEEDS[1]))
    first = _encoder(params.supervised.model_path(SEEDS[0]))
    assert any(not torch.equal(first[k], other[k]) for k in other)


@pytest.mark.parametrize(
    ("metrics", "curve", "key"),
    [
        ("pretrain_voice.json", "pretrain_voice.csv", "final_loss"),
        ("train_supervised.json", "sup.csv", "final_loss"),
        ("train_supervised_ge2e.json", "sup_ge2e.csv", "final_loss"),
        ("train_gan.json", "train_gan.csv", "d_loss"),
        (f"kd/{METHOD}.json", f"kd_plots/{METHOD}.csv", "joint_loss"),
    ],
)
def test_metrics_hold_each_seed_and_their_mean_and_curves_a_seed_column(
    trained, metrics: str, curve: str, key: str
) -> None:
    _, m = trained
    out = json.loads((m / metrics).read_text())
    assert out["n_seeds"] == len(SEEDS) and list(out["seeds"]) == [str(k) for k in SEEDS]
    values = [out["seeds"][str(k)][key] for k in SEEDS]
    assert out["mean"][key] == pytest.approx(sum(values) / len(values))
    assert out["seeds"]["4"]["iterations"] == SMALL["iterations"]
    rows = pd.read_csv(m / curve)
    assert rows.columns[0] == "seed" and rows.columns[1] == "step"
    assert rows.seed.tolist() == [k for k in SEEDS for _ in range(SMALL["iterations"])]
    empty = [c for c in rows if rows[c].isna().all()]  # a curve column no step reports
    assert not empty, f"{curve}: no values in {empty}"


def test_fewer_seeds_leave_no_stale_model_and_a_seed_reproduces_its_bytes(
    trained, tmp_path: Path
) -> None:
    params, _ = trained
    p = replace(
        params.pretrain_voice,
        out=str(tmp_path / "encoder"),
        resume_state=str(tmp_path / "state"),
    )
    two = replace(params, pretrain_voice=p)
    pretrain_voice.run(two, tmp_path / "m.json", tmp_path / "c.csv", quiet=True)
    before = p.model_path(SEEDS[0]).read_bytes()
    one = replace(two, n_seeds=1)
    summary = pretrain_voice.run(one, tmp_path / "m.json", tmp_path / "c.csv", quiet=True)
    assert [f.name for f in Path(p.out).iterdir()] == [f"seed_{SEEDS[0]}.pt"]
    assert p.model_path(SEEDS[0]).read_bytes() == before  # same seed, same bytes
    assert summary["n_seeds"] == 1 and list(summary["seeds"]) == [str(SEEDS[0])]
    assert set(pd.read_csv(tmp_path / "c.csv").seed) == {SEEDS[0]}
    assert p.state_path(SEEDS[1]).is_file()  # resume states stay (not DVC outputs)
