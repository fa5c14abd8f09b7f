"""GAN training on a tiny made-up world: voices, face photos (one corrupt), an encoder."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_store  # tests/train is on sys.path under pytest
from PIL import Image
from torch.nn import functional as F  # noqa: N812

from voice2mesh.checkpoint import load_model, read_model, read_state, save_model
from voice2mesh.config import GanParams, as_dict
from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.models.gan import GanConfig, VoiceToFaceGan
from voice2mesh.report.gan_samples import sample_grid
from voice2mesh.train.face_data import load_faces, to_tensor, to_uint8
from voice2mesh.train.gan import GanTask, gan_optimizers, gan_step, generate, train_gan
from voice2mesh.train.gan_data import GanData, embed_voice_bank, prepare_gan_data, sample_batch
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.pretrain_voice import load_voice_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_TRAIN, N_TEST, PER_SPEAKER, FACES = 4, 2, 3, 2
TINY = GanParams(
    iterations=6,
    batch_size=4,
    lr=1e-3,
    generator_channels=(16, 8, 8, 8, 4),
    face_channels=(4, 8, 8, 8, 16),
    crop_frames=(30, 60),
    voice_crops=2,
    eval_every=3,
)
IDENTITIES = [f"id{s:05d}" for s in range(N_TRAIN)]


class World:
    """Feature store, voices and faces manifests, photos and a voice-encoder model file."""

    def __init__(self, root: Path) -> None:
        rng = np.random.default_rng(0)
        utterances, voices, faces = [], [], []
        for s in range(N_TRAIN + N_TEST):
            identity, split = f"id{s:05d}", "train" if s < N_TRAIN else "test"
            for _ in range(PER_SPEAKER):
                frames = rng.normal(size=(int(rng.integers(50, 120)), 64)) + s % 3  # (T, 64)
                utterances.append((identity, frames.astype(np.float32)))
                voices.append({"identity": identity, "name": f"Name {s}", "split": split})
            colour = rng.integers(0, 256, 3)  # one colour per identity: learnable identities
            for k in range(FACES):
                photo = np.clip(colour + rng.normal(0, 20, (128, 128, 3)), 0, 255)
                path = Path(identity) / f"{k:05d}.jpg"
                (root / identity).mkdir(parents=True, exist_ok=True)
                Image.fromarray(photo.astype(np.uint8)).save(root / path)
                faces.append({"identity": identity, "split": split, "path": str(path)})
        (root / "id00000" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
        faces.append({"identity": "id00000", "split": "train", "path": "id00000/broken.jpg"})
        faces.append({"identity": "id99999", "split": "train", "path": "id00001/00000.jpg"})
        self.root = root
        self.store = write_store(root / "features", utterances)
        self.voices, self.faces = pd.DataFrame(voices), pd.DataFrame(faces)
        self.encoder = root / "voice_encoder.pt"
        torch.manual_seed(0)
        speaker = SpeakerClassifier(N_TRAIN, VoiceEncoderConfig(channels=(16, 16)))
        save_model(self.encoder, "voice_encoder", speaker, {}, {}, {"speakers": IDENTITIES})

    def train_faces(self) -> tuple[np.ndarray, np.ndarray]:
        train = self.faces[self.faces.split == "train"]
        images, kept, _ = load_faces(list(train.path), self.root)
        return images, train.identity.to_numpy()[kept]

    def inputs(self) -> tuple:
        """``train_gan``'s ``(store, voices, (face_images, face_identities))``."""
        return self.store, self.voices, self.train_faces()

    def train(self, cfg: GanParams = TINY, seed: int = 1, **schedule) -> Trained:
        plan = Schedule(cfg.iterations, cfg.eval_every, seed, **schedule)
        return train_gan(cfg, self.inputs(), self.encoder, plan)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("gan"))


@pytest.fixture(scope="module")
def data(world: World) -> GanData:
    """The GAN's data with TINY's voice bank."""
    encoder = load_voice_encoder(world.encoder)
    return prepare_gan_data(
        world.store,
        world.voices,
        world.train_faces(),
        encoder,
        "cpu",
        crop_frames=TINY.crop_frames,
        voice_crops=TINY.voice_crops,
        seed=1,
    )


def test_faces_are_decoded_once_and_a_corrupt_file_is_skipped(world: World) -> None:
    paths = ["id00000/00000.jpg", "id00000/broken.jpg", "missing.jpg", "id00001/00001.jpg"]
    images, kept, rejects = load_faces(paths, world.root)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8
    assert kept.tolist() == [0, 3]
    assert [r["path"] for r in rejects] == ["id00000/broken.jpg", "missing.jpg"]
    assert all(r["reason"] for r in rejects)
    x = to_tensor(images)  # (B, 3, 64, 64) in [-1, 1]
    assert x.shape == (2, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(to_uint8(x), images)  # x / 127.5 - 1 is exact in float32
    flipped = to_uint8(to_tensor(images, np.array([True, False])))
    assert np.array_equal(flipped[0], images[0, :, ::-1]) and np.array_equal(flipped[1], images[1])


def test_voice_bank_layout_and_determinism(world: World) -> None:
    encoder = load_voice_encoder(world.encoder)
    utterances = [world.store[i] for i in range(5)]
    bank = embed_voice_bank(encoder, utterances, (30, 60), 3, seed=2, device="cpu")
    assert bank.shape == (15, 64)  # row r * N + u
    assert torch.equal(bank, embed_voice_bank(encoder, utterances, (30, 60), 3, 2, "cpu"))
    assert not torch.equal(bank[:5], bank[5:10])  # other crops in each round


def test_gan_data_keeps_the_training_identities_with_voices_and_faces(data: GanData) -> None:
    assert data.speakers == tuple(IDENTITIES)
    assert len(data.images) == N_TRAIN * FACES  # test faces, id99999, the broken file left out
    assert data.face_labels.tolist() == [s for s in range(N_TRAIN) for _ in range(FACES)]
    assert data.n_train_utterances == N_TRAIN * (PER_SPEAKER - 1)
    assert data.bank.shape == (2 * N_TRAIN * (PER_SPEAKER - 1), 64)
    assert data.bank_labels.tolist() == 2 * [s for s in range(N_TRAIN) for _ in range(2)]
    assert data.val.shape == (N_TRAIN, 64) and data.val_labels.tolist() == list(range(N_TRAIN))


def test_batches_depend_on_seed_and_step_only(data: GanData) -> None:
    def batch(step: int, seed: int = 1, **kw):
        return sample_batch(data, step, seed=seed, **({"batch_size": 16, "noise": 0.05} | kw))

    first = batch(3, flip=True)
    again = batch(3, flip=True)
    for name in ("voice", "voice_labels", "faces", "face_labels", "voice_index"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    assert not torch.equal(batch(4, flip=True).voice_index, first.voice_index)
    assert not torch.equal(batch(3, seed=2, flip=True).voice_index, first.voice_index)
    assert torch.equal(first.voice_labels, data.bank_labels[first.voice_index])
    assert first.voice.shape == (16, 64)
    torch.testing.assert_close(first.voice.norm(dim=1), torch.ones(16))
    exact = batch(3, noise=0.0, flip=False)
    assert torch.equal(exact.voice, F.normalize(data.bank[first.voice_index], dim=1))
    assert not torch.equal(exact.voice, first.voice)  # the noise perturbs
    faces = to_tensor(data.images)  # (N, 3, 64, 64)
    unflipped = [bool((faces == f).all(dim=(1, 2, 3)).any()) for f in exact.faces]
    mirrored = [bool((faces.flip(3) == f).all(dim=(1, 2, 3)).any()) for f in first.faces]
    assert all(unflipped) and any(mirrored)


def test_training_runs_with_finite_losses_and_counts(world: World) -> None:
    trained = world.train()
    history, metrics = trained.history, trained.metrics
    assert [h["step"] for h in history] == [3, 6]
    for row in history:
        assert all(np.isfinite(row[k]) for k in ("d_loss", "g_loss", "d_real", "c_real"))
        assert 0 <= row["d_real_acc"] <= 1 and 0 <= row["fake_id_accuracy"] <= 1
    assert metrics["n_identities"] == N_TRAIN
    assert metrics["n_train_faces"] == N_TRAIN * FACES  # test faces and id99999 left out
    assert metrics["n_train_utterances"] == N_TRAIN * (PER_SPEAKER - 1)
    assert metrics["n_voice_embeddings"] == 2 * N_TRAIN * (PER_SPEAKER - 1)
    assert metrics["n_val_utterances"] == N_TRAIN
    assert metrics["chance_accuracy"] == 1 / N_TRAIN
    assert metrics["iterations"] == TINY.iterations
    assert metrics["fake_id_accuracy"] == history[-1]["fake_id_accuracy"]
    assert 0 <= metrics["real_face_accuracy"] <= 1
    assert trained.meta == {"identities": IDENTITIES}
    assert not trained.model.training


def test_discriminator_loss_decreases_on_a_fixed_batch(world: World) -> None:
    torch.manual_seed(0)
    widths = GanConfig(generator_channels=TINY.generator_channels, face_channels=TINY.face_channels)
    model = VoiceToFaceGan(load_voice_encoder(world.encoder), N_TRAIN, widths).train()
    optimizers = gan_optimizers(model, TINY)
    voice = F.normalize(torch.randn(4, 64))
    images, _, _ = load_faces([f"id0000{s}/00000.jpg" for s in range(4)], world.root)
    labels = torch.arange(4)
    losses = [
        gan_step(model, optimizers["g"], optimizers["d"], voice, labels, to_tensor(images), labels)
        for _ in range(25)
    ]
    d_loss = [terms["d_loss"] for terms in losses]
    assert np.mean(d_loss[-5:]) < 0.8 * np.mean(d_loss[:5])


def test_resume_reproduces_the_uninterrupted_run(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = world.train()
    state = tmp_path / "resume.pt"
    part = world.train(replace(TINY, iterations=3), state_path=state)
    assert read_state(state)["step"] == 3 and part.history == full.history[:1]
    steps_run: list[int] = []
    step = GanTask.step

    def spy(task: GanTask, n: int) -> dict[str, float]:
        steps_run.append(n)
        return step(task, n)

    monkeypatch.setattr(GanTask, "step", spy)
    torch.manual_seed(123)  # the global RNG's state must not matter
    resumed = world.train(state_path=state, resume=True)
    assert steps_run == [3, 4, 5]
    assert resumed.history == full.history  # same batches, flips, noise, weights, optimizers
    assert resumed.metrics == full.metrics
    for name, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert world.train(seed=2).history != full.history


def test_a_state_of_other_widths_is_ignored(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "resume.pt"
    world.train(replace(TINY, iterations=3), state_path=state)
    wider = replace(TINY, iterations=3, generator_channels=(16, 16, 8, 8, 4))
    fresh = world.train(wider)
    with caplog.at_level(logging.WARNING, logger="voice2mesh.train.loop"):
        ignored = world.train(wider, state_path=state, resume=True)
    assert "another configuration" in caplog.text and str(state) in caplog.text
    assert ignored.history == fresh.history  # started at step 0, as a fresh run
    for name, value in fresh.model.state_dict().items():
        assert torch.equal(value, ignored.model.state_dict()[name]), name


def test_model_round_trip_generates_the_same_faces(world: World, tmp_path: Path) -> None:
    path = tmp_path / "gan.pt"
    trained = world.train()
    save_model(path, "gan", trained.model, as_dict(TINY), {"seed": 1}, trained.meta)
    checkpoint = read_model(path, ("gan",))
    assert checkpoint.meta == {"identities": IDENTITIES}
    assert checkpoint.arch["n_identities"] == N_TRAIN
    assert tuple(checkpoint.arch["gan"]["generator_channels"]) == TINY.generator_channels
    loaded = load_model(path, kinds=("gan",))
    assert not loaded.training
    for name, value in trained.model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    utterances = [world.store[i] for i in range(3)]
    faces = generate(loaded, utterances)
    assert faces.shape == (3, 64, 64, 3) and faces.dtype == np.uint8
    assert np.array_equal(faces, generate(trained.model, utterances))
    sheet = sample_grid(
        loaded,
        world.store,
        world.voices,
        world.faces,
        tmp_path / "s.png",
        split="test",  # this world has no val split; the stage shows val speakers
        face_root=world.root,
    )
    image = np.asarray(Image.open(sheet))
    assert image.shape[0] > 2 * 128 and image.shape[1] > (1 + PER_SPEAKER) * 128  # 2 test rows


def test_faces_of_the_wrong_size_are_a_clear_error(world: World) -> None:
    images, identities = world.train_faces()
    plan = Schedule(TINY.iterations, TINY.eval_every, 1)
    with pytest.raises(ValueError, match="64, 64, 3"):
        train_gan(
            TINY, (world.store, world.voices, (images[:, :32], identities)), world.encoder, plan
        )
    with pytest.raises(ValueError, match="one identity each"):
        train_gan(TINY, (world.store, world.voices, (images, identities[:-1])), world.encoder, plan)
