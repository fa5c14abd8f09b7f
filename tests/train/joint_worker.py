"""A few steps of the GAN or of the joint GAN + student task in whatever world started it.

    run(KIND, OUT)                                                       # this process
    python -m torch.distributed.run --standalone --nproc-per-node 2 \\
        tests/train/joint_worker.py KIND OUT                             # two, gloo on CPU

KIND: ``gan`` (``GanTask``, generator BatchNorm on) or a KD method (``UnsupervisedTask`` with
that method on the global batch and the triplet term on). ``PER_SHARD=1`` in the environment
computes the KD terms on each rank's shard instead (what the test must tell apart). The world
(voices, faces, voice encoder, GAN, teacher) is built from fixed seeds, identical in every
process; every rank writes its own files, as in ``distributed_worker``:

    OUT/final_<rank>.pt      the rank's networks at the start and the end, each optimizer's
                             gradients at every step, the history (for the test)
    OUT/state_<rank>.pt      the loop's resume state           } a stage's outputs: rank 0
    OUT/models_<rank>/       ``train_seeds``' model folder     } alone may write them
    OUT/metrics_<rank>.json  ``write_summary``'s metrics        }
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from voice2mesh.checkpoint import save_model
from voice2mesh.config import KD_METHODS, FaceModelParams, GanParams, KdParams, as_dict
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.models.cascade import gan_to_image_net
from voice2mesh.models.teacher import Teacher
from voice2mesh.train import unsupervised
from voice2mesh.train.determinism import training_device
from voice2mesh.train.distributed import World, is_main
from voice2mesh.train.gan import GanTask
from voice2mesh.train.gan_data import sample_batch
from voice2mesh.train.loop import Schedule, Trained, fit, seeded
from voice2mesh.train.seeds import train_seeds, write_summary

HERE = Path(__file__).resolve().parent
# Plain SGD in place of each task's Adam, at these rates, so that a weight's change is the sum
# of its gradients: Adam moves a weight by about +-lr whatever its gradient's size, and a
# gradient that is zero but for rounding (a BatchNorm shift another BatchNorm undoes) would
# then move it either way (docs/distributed.md). The joint step's tiny rate keeps the later
# steps' gradients comparable: the untrained student amplifies any difference (module doc)
SGD_LR = {"g": 0.05, "d": 0.05, "joint": 1e-8}
SEED, SPEAKERS = 3, 4
GAN = GanParams(
    iterations=4,
    batch_size=8,
    lr=1e-3,
    generator_channels=(16, 8, 8, 8, 4),
    face_channels=(4, 8, 8, 8, 16),
    crop_frames=(30, 60),
    voice_crops=2,
    eval_every=2,
)
KD = KdParams(
    iterations=3,
    batch_size=8,
    lr=1e-3,
    student_width=0.25,
    student_input=32,
    weights={"rkd": 10.0, "pkt": 1000.0, "crd": 1.0},
    eval_every=1,
)


def _feature_stores() -> object:
    """``tests/feature_stores.py``, loaded by path (this script runs outside pytest)."""
    spec = importlib.util.spec_from_file_location(
        "feature_stores", HERE.parent / "feature_stores.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gan_inputs(folder: Path) -> tuple:
    """Four training speakers, three utterances each (one +-1 profile per speaker), and four
    64 x 64 faces per speaker (one colour each); a voice-encoder model file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    utterances, voices, images, owners = [], [], [], []
    for s in range(SPEAKERS):
        identity, profile = f"id{s:05d}", rng.choice([-2.0, 2.0], 64)
        for _ in range(3):
            frames = profile + rng.normal(size=(int(rng.integers(60, 100)), 64))  # (T, 64)
            utterances.append((identity, frames.astype(np.float32)))
            voices.append({"identity": identity, "split": "train"})
        colour = rng.integers(0, 256, 3)
        for _ in range(4):
            images.append(np.clip(colour + rng.normal(0, 30, (64, 64, 3)), 0, 255))
            owners.append(identity)
    store = _feature_stores().write_store(folder / "features", utterances)
    faces = (np.stack(images).astype(np.uint8), np.array(owners))
    speaker = seeded(0, lambda: SpeakerClassifier(SPEAKERS, VoiceEncoderConfig(channels=(16, 16))))
    ids = [f"id{s:05d}" for s in range(SPEAKERS)]
    save_model(folder / "encoder.pt", "voice_encoder", speaker, {}, {}, {"speakers": ids})
    return (store, pd.DataFrame(voices), faces), folder / "encoder.pt"


def joint_task(method: str, folder: Path, schedule: Schedule) -> unsupervised.UnsupervisedTask:
    """The untrained GAN of the same world (saved as a ``gan`` model) and a teacher whose
    BatchNorm statistics are those of its faces (statistics of other images would map every
    face to nearly one feature, and relational losses would match rounding noise)."""
    inputs, encoder = gan_inputs(folder)
    task = GanTask(GAN, inputs, encoder, Schedule(1, 0, SEED))
    meta = {"identities": [f"id{s:05d}" for s in range(SPEAKERS)]}
    save_model(folder / "gan.pt", "gan", task.model, as_dict(GAN), {"seed": SEED}, meta)
    teacher = seeded(0, lambda: Teacher(0.25)).train()
    for norm in teacher.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            norm.momentum = None  # running statistics: exactly those of the one batch below
    with torch.no_grad():
        voice = sample_batch(task.gan_data, 0, **task.sampling).voice  # (8, E)
        teacher(gan_to_image_net(task.model.generator(voice)))  # (8, 3, 120, 120) faces
    config = (KD, GAN, method, FaceModelParams())
    models = (folder / "gan.pt", teacher.eval())
    return unsupervised.UnsupervisedTask(config, inputs, models, schedule)


def _weights(task: GanTask | unsupervised.UnsupervisedTask) -> dict[str, torch.Tensor]:
    """Copies of the parameters and buffers of every network the task trains."""
    return {
        f"{name}.{key}": value.detach().clone()
        for name, module in task.modules().items()
        for key, value in module.state_dict().items()
    }


def _record_gradients(task: GanTask | unsupervised.UnsupervisedTask) -> dict[str, list]:
    """Each optimizer's gradients as it steps (after ``update``'s averaging): one (P,) float64
    tensor per step, in the lists returned (filled during the run)."""
    grads: dict[str, list] = {name: [] for name in task.optims}

    def hook(name: str) -> object:
        def record(optimizer: torch.optim.Optimizer, *_: object) -> None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            flat = [p.grad.double().flatten() for p in params if p.grad is not None]
            grads[name].append(torch.cat(flat))

        return record

    for name, optimizer in task.optims.items():
        optimizer.register_step_pre_hook(hook(name))
    return grads


def run(kind: str, out: Path) -> None:
    """Train ``kind`` once (seed ``SEED``) in this process's world; write into ``out``."""
    device = training_device("cpu")  # joins the gloo group under torchrun
    rank = World.current().rank
    cfg = GAN if kind == "gan" else KD
    if os.environ.get("PER_SHARD") == "1":  # the KD terms of each rank's rows only
        unsupervised.gather = lambda x: x

    def train(seed: int, path: Path) -> Trained:
        state = out / f"state_{rank}.pt"
        schedule = Schedule(cfg.iterations, cfg.eval_every, seed, device, state, name=kind)
        folder = out / f"data_{rank}"
        if kind == "gan":
            task = GanTask(GAN, gan_inputs(folder)[0], folder / "encoder.pt", schedule)
        else:
            task = joint_task(kind, folder, schedule)
        task.optims = {
            name: torch.optim.SGD(
                [p for group in optimizer.param_groups for p in group["params"]], SGD_LR[name]
            )
            for name, optimizer in task.optims.items()
        }
        start, grads = _weights(task), _record_gradients(task)
        trained = fit(task, schedule)
        if is_main():
            torch.save(trained.model.state_dict(), path)
        final = {"start": start, "weights": _weights(task), "history": trained.history}
        final["grads"] = grads
        torch.save(final, out / f"final_{rank}.pt")
        return trained

    runs = train_seeds([SEED], out / f"models_{rank}", train)
    write_summary(runs, out / f"metrics_{rank}.json", out / f"curve_{rank}.csv", ["step"])


if __name__ == "__main__":
    torch.set_num_threads(1)
    assert sys.argv[1] == "gan" or sys.argv[1] in KD_METHODS, sys.argv[1]
    run(sys.argv[1], Path(sys.argv[2]))
