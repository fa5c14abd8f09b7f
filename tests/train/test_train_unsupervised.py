"""Joint GAN + student training with every distillation method, on a tiny world."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train_gan import World  # tests/train is on sys.path under pytest
from torch import nn

from voice2mesh.distill import REGISTRY, build_loss
from voice2mesh.models.teacher import Teacher
from voice2mesh.train.gan_data import prepare_gan_data, sample_batch
from voice2mesh.train.unsupervised import (
    UnsupervisedConfig,
    _student_step,
    build_model,
    load_unsupervised,
    train_unsupervised,
)

CFG = UnsupervisedConfig(
    iterations=4,
    batch_size=4,
    crop_frames=(30, 60),
    voice_crops=1,
    student_width=0.25,
    kd_weight=1.0,
    kd_options={},
    eval_every=2,
    seed=1,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("unsupervised")
    world = World(root)
    world.train(checkpoint=root / "gan.pt")
    torch.manual_seed(0)
    return world, root / "gan.pt", calibrated(Teacher(0.25))


def calibrated(net: nn.Module) -> nn.Module:
    """``net`` in eval mode with BatchNorm statistics of image-like inputs (not 0 and 1, which
    make an untrained MobileNet's features vanish)."""
    net.train()
    with torch.no_grad():
        for _ in range(20):
            net(torch.rand(8, 3, 120, 120) * 2 - 1)
    return net.eval()


def _train(setup, cfg=CFG, **kwargs):
    world, gan, teacher = setup
    images, identities = world.train_faces()
    return train_unsupervised(
        cfg, world.store, world.voices, images, identities, gan, teacher, **kwargs
    )


@pytest.mark.parametrize("method", list(REGISTRY))
def test_student_steps_lower_the_distillation_loss_and_leave_the_teacher(setup, method) -> None:
    world, gan, teacher = setup
    cfg = replace(CFG, kd_method=method, lr=2e-4, kd_weight=10.0)
    model = build_model(gan, teacher, cfg, "cpu")
    images, identities = world.train_faces()
    data = prepare_gan_data(
        cfg, world.store, world.voices, images, identities, model.gan.encoder, "cpu"
    )

    options = {"n_data": len(data.bank)} if method == "crd" else {}
    net = calibrated(model.image_net)
    kd = nn.ModuleList(
        [
            build_loss(method, net.embedding_dim, teacher.net.embedding_dim, **options),
            build_loss(method, net.mid_channels, teacher.net.mid_channels, **options),
        ]
    )
    optimizer = torch.optim.Adam([*net.parameters(), *kd.parameters()], lr=cfg.lr)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    batch = sample_batch(data, cfg, 0)
    model.eval()  # fixed BatchNorm statistics: the same batch gives comparable losses
    losses = [
        _student_step(model, teacher, kd, optimizer, batch.voice, batch.voice_index, cfg)
        for _ in range(20)
    ]
    first, last = losses[0], losses[-1]
    assert last["student_loss"] < first["student_loss"], (method, first, last)
    assert last["param_loss"] < first["param_loss"]
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("method", ["pkt", "crd"])  # crd samples negatives at random
def test_training_runs_resumes_and_round_trips(setup, tmp_path: Path, method: str) -> None:
    world = setup[0]
    cfg = replace(CFG, kd_method=method)
    full = tmp_path / "full.pt"
    torch.manual_seed(123)  # the global RNG's state must not matter
    model, history, metrics = _train(setup, cfg, checkpoint=full)
    assert [h["step"] for h in history] == [2, 4]
    assert metrics["kd_method"] == method and metrics["distill_mse"] is not None
    assert metrics["distill_mse_mean_baseline"] > 0

    part = tmp_path / "part.pt"
    _train(setup, replace(cfg, iterations=2), checkpoint=part)
    torch.manual_seed(456)
    resumed, history2, _ = _train(setup, cfg, checkpoint=part, resume=True)
    assert history2 == history
    for k, v in model.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k

    loaded = load_unsupervised(full)
    x = torch.from_numpy(world.store[0].T.copy())[None]
    with torch.no_grad():
        shape, expression = loaded(x)
        expected = model(x)
    assert shape.shape == (1, 40) and expression.shape == (1, 10)
    assert torch.allclose(shape, expected[0]) and torch.allclose(expression, expected[1])


def test_resume_with_another_method_is_refused(setup, tmp_path: Path) -> None:
    path = tmp_path / "u.pt"
    _train(setup, replace(CFG, iterations=2), checkpoint=path)
    with pytest.raises(ValueError, match="saved for"):
        _train(setup, replace(CFG, kd_method="rkd"), checkpoint=path, resume=True)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="pkt"):
        UnsupervisedConfig(kd_method="fitnet")
