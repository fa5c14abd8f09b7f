"""Joint GAN + student training with every distillation method, on a tiny world."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train_gan import IDENTITIES, World  # tests/train is on sys.path under pytest
from test_train_gan import TINY as TINY_GAN
from torch import nn

from voice2mesh.checkpoint import CheckpointError, load_model, read_model, save_model
from voice2mesh.config import (
    KD_METHODS,
    ConfigError,
    FaceModelParams,
    KdParams,
    as_dict,
    params_from_dict,
)
from voice2mesh.distill import REGISTRY
from voice2mesh.models.cascade import gan_to_image_net
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.gan_data import prepare_gan_data, sample_batch, sample_triplets
from voice2mesh.train.loop import Schedule, Trained, seeded
from voice2mesh.train.unsupervised import UnsupervisedTask, kd_config, train_unsupervised

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KD = KdParams(
    iterations=4,
    batch_size=4,
    student_width=0.25,
    weights=dict.fromkeys(KD_METHODS, 1.0),
    eval_every=2,
)
GAN = replace(TINY_GAN, voice_crops=2)  # triplets need two bank rows per speaker
FACE = FaceModelParams()  # the paper's 40 shape and 10 expression coefficients


class Setup:
    """The GAN world, a trained GAN model file and a frozen teacher."""

    def __init__(self, root: Path) -> None:
        self.world = World(root)
        self.gan = root / "gan.pt"
        trained = self.world.train()
        save_model(self.gan, "gan", trained.model, as_dict(TINY_GAN), {"seed": 1}, trained.meta)
        noise = torch.rand(8, 3, 120, 120, generator=torch.Generator().manual_seed(0))
        self.teacher = calibrated(seeded(0, lambda: Teacher(0.25)), noise * 2 - 1)

    def task(self, kd: KdParams, method: str, teacher: Teacher) -> UnsupervisedTask:
        plan = Schedule(kd.iterations, kd.eval_every, 1)
        return UnsupervisedTask(
            (kd, GAN, method, FACE), self.world.inputs(), (self.gan, teacher), plan
        )

    def train(self, kd: KdParams = KD, method: str = "pkt", seed: int = 1, **schedule) -> Trained:
        plan = Schedule(kd.iterations, kd.eval_every, seed, **schedule)
        config = (kd, GAN, method, FACE)
        return train_unsupervised(config, self.world.inputs(), (self.gan, self.teacher), plan)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(tmp_path_factory.mktemp("unsupervised"))


def calibrated(net: nn.Module, images: torch.Tensor) -> nn.Module:
    """``net`` in eval mode with the BatchNorm statistics of (B, 3, 120, 120) ``images`` (not 0
    and 1, which make an untrained MobileNet's features vanish)."""
    net.train()
    with torch.no_grad():
        for _ in range(50):
            net(images)
    return net.eval()


def _same_weights(a: nn.Module, b: nn.Module) -> None:
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name


def student_update(task: UnsupervisedTask, x: torch.Tensor, b: int, index) -> dict[str, float]:
    """One joint-optimizer step on the student terms of fixed (3B, 3, 120, 120) images."""
    terms = task._student_terms(x, b, index)
    task.optims["joint"].zero_grad(set_to_none=True)
    terms["loss"].backward()
    task.optims["joint"].step()
    return {k: v.item() for k, v in terms.items()}


@pytest.mark.parametrize("method", list(REGISTRY))
def test_student_steps_lower_every_loss_and_leave_the_teacher(setup: Setup, method: str) -> None:
    """The tiny world's GAN draws nearly one face for every voice (1e-4 apart), and an untrained
    MobileNet calibrated on other images maps distinct faces to nearly one feature: relational
    losses (RKD, SP, PKT) would match rounding noise. So a random linear map stands in for the
    generator, and both networks take their BatchNorm statistics from the batch's faces."""
    teacher = seeded(0, lambda: Teacher(0.25))
    kd = replace(KD, lr=2e-4, weights={method: 10.0}, triplet_weight=0.0)  # the distillation only
    task = setup.task(kd, method, teacher)
    task.model.gan.generator = seeded(
        0,
        lambda: nn.Sequential(nn.Linear(64, 3 * 64 * 64), nn.Tanh(), nn.Unflatten(1, (3, 64, 64))),
    )
    data = prepare_gan_data(
        *setup.world.inputs(),
        task.model.gan.encoder,
        "cpu",
        crop_frames=GAN.crop_frames,
        voice_crops=2,
        seed=1,
    )  # the task's voice bank: CRD's memory is indexed by its rows
    batch = sample_batch(data, 0, seed=1, batch_size=4, noise=GAN.noise, flip=GAN.flip)
    triplet = sample_triplets(data, batch, seed=1, step=0, noise=GAN.noise)
    with torch.no_grad():
        x = gan_to_image_net(task.model.gan.generator(torch.cat([batch.voice, *triplet])))
    calibrated(teacher, x[:4])
    calibrated(task.model.image_net, x)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    task.model.eval()  # fixed BatchNorm statistics: the same batch gives comparable losses
    losses = [student_update(task, x, 4, batch.voice_index) for _ in range(20)]
    first, last = losses[0], losses[-1]
    for term in ("loss", "param_loss", "kd_loss"):
        assert last[term] < first[term], (method, term, first, last)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_one_optimizer_moves_the_generator_with_the_student_loss(setup: Setup) -> None:
    """The authors' joint training: no detach, one Adam over generator and student."""
    task = setup.task(KD, "pkt", setup.teacher)
    joint = {id(p) for group in task.optims["joint"].param_groups for p in group["params"]}
    gan = task.model.gan
    assert {id(p) for p in gan.generator.parameters()} <= joint
    assert {id(p) for p in task.model.image_net.parameters()} <= joint
    assert not {id(p) for p in gan.discriminator.parameters()} & joint
    assert task.optims["joint"].defaults["betas"] == GAN.betas
    voices = task.gan_data.bank[:4]
    x = gan_to_image_net(gan.generator(torch.cat([voices, voices, voices.flip(0)])))
    task._student_terms(x, 4, torch.arange(4))["loss"].backward()
    grads = [p.grad for p in gan.generator.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in task.teacher.parameters())  # frozen: no update


@pytest.mark.parametrize("method", ["pkt", "crd"])  # crd samples negatives at random
def test_training_runs_resumes_and_round_trips(setup: Setup, tmp_path: Path, method: str) -> None:
    torch.manual_seed(123)  # the global RNG's state must not matter
    full = setup.train(method=method)
    assert [h["step"] for h in full.history] == [2, 4]
    metrics = full.metrics
    assert metrics["kd_method"] == method and metrics["kd_weight"] == 1.0
    assert metrics["distill_mse"] == full.history[-1]["distill_mse"] is not None
    assert metrics["distill_mse_mean_baseline"] > 0
    assert metrics["iterations"] == KD.iterations
    assert metrics["n_identities"] == len(IDENTITIES)
    assert full.meta == {"identities": IDENTITIES}
    assert not full.model.training

    state = tmp_path / "resume.pt"
    part = setup.train(replace(KD, iterations=2), method, state_path=state)
    assert part.history == full.history[:1]
    torch.manual_seed(456)
    resumed = setup.train(method=method, state_path=state, resume=True)
    assert resumed.history == full.history
    _same_weights(full.model, resumed.model)

    path = tmp_path / "unsupervised.pt"
    config = kd_config(KD, GAN, method)
    params = {"seed": 1, "face_model": as_dict(FACE)}
    save_model(path, "unsupervised", full.model, config, params, full.meta)
    assert read_model(path).config == config
    loaded = load_model(path, kinds=("supervised", "unsupervised"), purpose="predict")
    _same_weights(full.model, loaded)
    x = torch.from_numpy(setup.world.store[0].T.copy())[None]
    with torch.no_grad():
        shape, expression = loaded(x)
        expected = full.model(x)
    assert shape.shape == (1, 40) and expression.shape == (1, 10)
    assert torch.equal(shape, expected[0]) and torch.equal(expression, expected[1])


def test_a_state_of_another_method_is_ignored(
    setup: Setup, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "resume.pt"
    short = replace(KD, iterations=2)
    setup.train(short, "pkt", state_path=state)
    fresh = setup.train(short, "rkd")
    with caplog.at_level(logging.WARNING, logger="voice2mesh.train.loop"):
        ignored = setup.train(short, "rkd", state_path=state, resume=True)
    assert "another configuration" in caplog.text and str(state) in caplog.text
    assert ignored.history == fresh.history  # started at step 0, as a fresh run
    assert ignored.metrics["kd_method"] == "rkd"
    _same_weights(fresh.model, ignored.model)


def test_a_method_is_trained_with_its_own_settings_only() -> None:
    config = kd_config(replace(KD, lr=1e-3), GAN, "rkd")
    assert config["method"] == "rkd" and config["weight"] == KD.weights["rkd"]
    assert config["iterations"] == KD.iterations != GAN.iterations  # its own, not the GAN's
    assert config["lr"] == 1e-3 and config["gan"]["lr"] == GAN.lr  # its own lr, not the GAN's
    assert "iterations" not in config["gan"] and "batch_size" not in config["gan"]
    assert config["gan"]["voice_crops"] == GAN.voice_crops
    others = replace(
        KD, method="crd", weights={"pkt": 5.0}, options={"crd": {"feat_dim": 8}, "rkd": {}}
    )
    assert kd_config(others, GAN, "rkd") == kd_config(KD, GAN, "rkd")  # kd.method: the main row
    assert kd_config(replace(KD, weights={"rkd": 5.0}), GAN, "rkd")["weight"] == 5.0
    assert kd_config(replace(KD, options={"rkd": {"w_d": 2}}), GAN, "rkd")["options"] == {"w_d": 2}


def test_a_gan_of_other_identities_or_another_kind_is_refused(setup: Setup, tmp_path: Path) -> None:
    gan = load_model(setup.gan, kinds=("gan",))
    other = tmp_path / "gan.pt"
    save_model(other, "gan", gan, {}, {}, {"identities": IDENTITIES[:-1]})
    config = (KD, GAN, "pkt", FACE)
    plan = Schedule(KD.iterations, KD.eval_every, 1)
    with pytest.raises(ValueError, match="other identities"):
        train_unsupervised(config, setup.world.inputs(), (other, setup.teacher), plan)
    with pytest.raises(CheckpointError, match="needs a gan model"):
        train_unsupervised(config, setup.world.inputs(), (setup.world.encoder, setup.teacher), plan)


def test_an_unknown_method_in_params_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"kd\.method = 'fitnet'.*'pkt'"):
        params_from_dict({"kd": {"method": "fitnet"}})


def test_an_unknown_method_in_code_is_refused() -> None:
    with pytest.raises(ValueError, match="pkt"):
        KdParams(method="fitnet")
    with pytest.raises(ValueError, match=r"'fitnet'.*one of"):
        kd_config(KdParams(), GAN, "fitnet")
