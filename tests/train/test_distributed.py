"""Training under torchrun: two gloo processes on CPU against one process at the same batch.

The two-process runs start ``distributed_worker.py`` under ``torch.distributed.run`` (this
interpreter's torchrun); the one-process runs call its ``run`` here, in a world of one; both
train the same tiny task from the same seed on one thread per process. Tolerance: every final
parameter and buffer within ``RTOL`` of the one-process value (relative to the tensor's
largest magnitude), every logged loss within ``RTOL``: the shards' gradients are averaged by
DDP and BatchNorm uses the global batch's statistics (``sync_norm``), so only the float
summation order differs (Adam turns those last-bit differences into relative ones).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from voice2mesh.train import distributed
from voice2mesh.train.gan import GanTask
from voice2mesh.train.launch import parse, torchrun_command
from voice2mesh.train.loop import Task
from voice2mesh.train.sync_norm import GlobalBatchNorm, synced
from voice2mesh.train.unsupervised import UnsupervisedTask

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("distributed_worker.py")
RTOL = 2e-5  # measured: 7.5e-6 worst (a BatchNorm bias of the teacher after 6 Adam steps)


ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def _worker(path: Path = WORKER) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_two(kind: str, out: Path, worker: Path = WORKER, **extra: str) -> None:
    """The worker in two gloo processes, this checkout first on the path, one thread each;
    ``extra``: more environment variables."""
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    env |= {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"} | extra
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node=2", str(worker), kind, str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize(
    "kind", ["teacher", pytest.param("pretrain_voice", marks=pytest.mark.slow)]
)
@pytest.mark.usefixtures("one_torch_thread")
def test_two_gloo_processes_train_what_one_process_trains(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Final weights and logged losses within ``RTOL`` of one process; the ranks agree exactly;
    only rank 0 wrote the resume state, the model folder and the summary."""
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "one").mkdir()
    _worker().run(kind, tmp_path / "one")
    _run_two(kind, tmp_path / "two")
    one = torch.load(tmp_path / "one" / "final_0.pt", weights_only=True)
    ranks = [torch.load(tmp_path / "two" / f"final_{r}.pt", weights_only=True) for r in (0, 1)]
    assert one["weights"].keys() == ranks[0]["weights"].keys()
    for name, expected in one["weights"].items():
        got = ranks[0]["weights"][name]
        assert torch.equal(got, ranks[1]["weights"][name]), f"{name}: the ranks disagree"
        scale = float(expected.abs().max()) if expected.numel() else 0.0
        error = float((got.double() - expected.double()).abs().max()) if expected.numel() else 0.0
        assert error <= RTOL * max(scale, 1e-12), f"{name}: {error:.3g} vs scale {scale:.3g}"
    assert [row["step"] for row in ranks[0]["history"]] == [3, 6]
    losses = [[row["loss"] for row in run["history"]] for run in (one, ranks[0])]
    np.testing.assert_allclose(losses[1], losses[0], rtol=RTOL)
    two = tmp_path / "two"
    assert (two / "state_0.pt").is_file() and not (two / "state_1.pt").exists()
    assert (two / "models_0" / "seed_3.pt").is_file() and not (two / "models_1").exists()
    assert not (two / "metrics_1.json").exists() and not (two / "curve_1.csv").exists()
    metrics = json.loads((two / "metrics_0.json").read_text())
    assert metrics["n_seeds"] == 1 and metrics["seeds"]["3"]["iterations"] == 6


def test_one_process_is_a_world_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    here = distributed.World.current()
    assert (here.rank, here.size, here.is_main) == (0, 1, True)
    assert here.step_seed(1234) == 1234  # one process keeps the seeds it always had
    batch = np.arange(7)
    assert distributed.shard(batch) is batch
    assert distributed.init("cpu") == "cpu" and not distributed.joined()


def test_shard_is_the_ranks_contiguous_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.shard(np.arange(8)).tolist() == [4, 5, 6, 7]
    assert distributed.shard(torch.arange(4)).tolist() == [2, 3]
    assert distributed.World.current().step_seed(10) == 21
    assert not distributed.is_main()
    with pytest.raises(ValueError, match=r"multiple of distributed\.nproc = 2"):
        distributed.shard(np.arange(7))


def test_only_a_sharding_task_distributes() -> None:
    class Whole(Task):
        model = torch.nn.Linear(1, 1)
        data = step = evaluate = metrics = None  # type: ignore[assignment]

    class Sharded(Whole):
        shards = True

    with pytest.raises(NotImplementedError, match=r"Whole runs in one process.*nproc: 1"):
        Whole().distribute(lambda module: module)
    task, wrapper = Sharded(), torch.nn.Sequential(Sharded.model)
    assert task.net is task.model
    task.distribute(lambda module: wrapper)
    assert task.net is wrapper
    task.distribute(None)
    assert task.net is task.model
    for trainer in (GanTask, UnsupervisedTask):  # they shard, without a DDP wrapper
        assert trainer.shards, trainer


def test_synced_batchnorm_is_plain_batchnorm_in_one_process_and_is_put_back() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 1), torch.nn.BatchNorm1d(4))
    norm = net[1]
    x = torch.randn(5, 3, 7)
    expected = net(x)
    with synced(net):
        assert isinstance(net[1], GlobalBatchNorm) and net[1].weight is norm.weight
        assert net[1].running_mean is norm.running_mean
        torch.testing.assert_close(net(x), expected, rtol=0, atol=0)
    assert net[1] is norm


def test_launcher_arguments() -> None:
    args = parse(["--nproc", "2", "stages.train_supervised", "-q", "--params", "p.yaml"])
    assert (args.nproc, args.module, args.args) == (
        2,
        "stages.train_supervised",
        ["-q", "--params", "p.yaml"],
    )
    command = torchrun_command(2, args.module, args.args)
    assert command[1:6] == [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
    ]
    assert command[6:] == ["stages.train_supervised", "-q", "--params", "p.yaml"]
    for bad in (["--nproc", "0", "stages.x"], ["--nproc", "2", "voice2mesh.cli"]):
        with pytest.raises(SystemExit):
            parse(bad)
