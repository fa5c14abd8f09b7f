"""One tiny training run in whatever world started it (``test_distributed`` runs it twice).

    run(KIND, OUT)                                                       # this process
    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        tests/train/distributed_worker.py KIND OUT                       # two, gloo on CPU

KIND: ``pretrain_voice`` (Conv1d + BatchNorm1d speaker classifier) or ``teacher`` (ConvNet
with BatchNorm2d). The data are built from fixed seeds, identical in every process. Every rank
names its outputs after itself, so the test sees who wrote what:

    OUT/final_<rank>.pt      the rank's final parameters, buffers and history (for the test)
    OUT/state_<rank>.pt      the loop's resume state           } a stage's outputs: rank 0
    OUT/models_<rank>/       ``train_seeds``' model folder     } alone may write them
    OUT/metrics_<rank>.json  ``write_summary``'s metrics        }
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voice2mesh.config import PretrainVoiceParams, TeacherParams
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import World, is_main
from voice2mesh.train.loop import Schedule, Task, Trained, fit
from voice2mesh.train.pretrain_voice import PretrainVoice
from voice2mesh.train.seeds import train_seeds, write_summary
from voice2mesh.train.teacher import TeacherTask

HERE = Path(__file__).resolve().parent
SEED = 3
VOICE = PretrainVoiceParams(
    iterations=6, batch_size=8, lr=3e-3, crop_frames=(30, 60), eval_every=3, channels=(16, 16)
)
TEACHER = TeacherParams(
    iterations=6,
    batch_size=8,
    lr=3e-3,
    widths=(8, 8, 16),
    input_size=32,
    cycle_steps=6,
    eval_every=3,
)


def _write_store(folder: Path, utterances: list) -> object:
    """``tests/feature_stores.py``'s ``write_store``, loaded by path (this script runs outside
    pytest, with no tests/ folder on the path)."""
    spec = importlib.util.spec_from_file_location(
        "feature_stores", HERE.parent / "feature_stores.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_store(folder, utterances)


def voice_task(data: Path, schedule: Schedule) -> Task:
    """Four speakers, each a fixed +-1 profile per mel bin under unit noise."""
    rng = np.random.default_rng(0)
    utterances, voices = [], []
    for s in range(4):
        profile = rng.choice([-1.0, 1.0], 64)  # (64,)
        for _ in range(3):
            frames = profile + rng.normal(size=(int(rng.integers(80, 120)), 64))  # (T, 64)
            utterances.append((f"id{s:05d}", frames.astype(np.float32)))
            voices.append({"identity": f"id{s:05d}", "split": "train"})
    store = _write_store(data, utterances)
    return PretrainVoice(VOICE, store, pd.DataFrame(voices), schedule)


def teacher_task(schedule: Schedule) -> Task:
    """20 random crops with labels linear in their mean colour; 4 held out."""
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (20, 120, 120, 3), dtype=np.uint8)
    labels = crops.reshape(20, -1, 3).mean(axis=1) @ rng.normal(size=(3, 62)) / 100  # (20, 62)
    holdout = np.arange(20) >= 16
    return TeacherTask(TEACHER, crops, labels.astype(np.float32), holdout, schedule)


def run(kind: str, out: Path) -> None:
    """Train ``kind`` once (seed ``SEED``) in this process's world; write into ``out``."""
    device = training_device("cpu")  # joins the gloo group under torchrun
    rank = World.current().rank
    cfg = VOICE if kind == "pretrain_voice" else TEACHER

    def train(seed: int, path: Path) -> Trained:
        state = out / f"state_{rank}.pt"
        schedule = Schedule(cfg.iterations, cfg.eval_every, seed, device, state, name=kind)
        task = voice_task(out / f"data_{rank}", schedule) if kind == "pretrain_voice" else None
        trained = fit(task or teacher_task(schedule), schedule)
        if is_main():
            torch.save(trained.model.state_dict(), path)
        weights = {k: v.detach().clone() for k, v in trained.model.state_dict().items()}
        torch.save({"weights": weights, "history": trained.history}, out / f"final_{rank}.pt")
        return trained

    runs = train_seeds([SEED], out / f"models_{rank}", train)
    write_summary(runs, out / f"metrics_{rank}.json", out / f"curve_{rank}.csv", ["step", "loss"])


if __name__ == "__main__":
    torch.set_num_threads(1)
    run(sys.argv[1], Path(sys.argv[2]))
