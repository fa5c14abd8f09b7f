"""GAN training on a tiny made-up world: voices, face photos (one corrupt), an encoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_pretrain_voice import _write_store  # tests/train is on sys.path under pytest

from voice2mesh.models import SpeakerClassifier, VoiceEncoderConfig
from voice2mesh.models.gan import GanConfig
from voice2mesh.report.gan_samples import sample_grid
from voice2mesh.train.face_data import load_faces, to_tensor, to_uint8
from voice2mesh.train.gan import TrainGanConfig, gan_step, generate, load_gan, train_gan
from voice2mesh.train.gan_data import embed_voice_bank
from voice2mesh.train.pretrain_voice import load_checkpoint, load_voice_encoder, save_checkpoint

N_TRAIN, N_TEST, PER_SPEAKER, FACES = 4, 2, 3, 2
TINY = TrainGanConfig(
    iterations=6,
    batch_size=4,
    lr=1e-3,
    crop_frames=(30, 60),
    voice_crops=2,
    eval_every=3,
    seed=1,
    gan=GanConfig(generator_channels=(16, 8, 8, 8, 4), face_channels=(4, 8, 8, 8, 16)),
)


class World:
    """Feature store, voices and faces manifests, photos and an encoder checkpoint."""

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
        self.store = _write_store(root / "features", utterances)
        self.voices, self.faces = pd.DataFrame(voices), pd.DataFrame(faces)
        self.encoder = root / "voice_encoder.pt"
        torch.manual_seed(0)
        speaker = SpeakerClassifier(N_TRAIN, VoiceEncoderConfig(channels=(16, 16)))
        config = {"encoder": {"in_channels": 64, "channels": [16, 16], "embedding_dim": 64}}
        save_checkpoint(self.encoder, speaker, None, 0, config | {"n_speakers": N_TRAIN})

    def train_faces(self) -> tuple[np.ndarray, np.ndarray]:
        train = self.faces[self.faces.split == "train"]
        images, kept, _ = load_faces(list(train.path), self.root)
        return images, train.identity.to_numpy()[kept]

    def train(self, cfg: TrainGanConfig = TINY, **kwargs):
        images, identities = self.train_faces()
        return train_gan(cfg, self.store, self.voices, images, identities, self.encoder, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The nets are tiny: one thread beats two that wait on each other on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("gan"))


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


def test_training_runs_with_finite_losses_and_counts(world: World) -> None:
    model, history, metrics = world.train()
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
    assert not model.training


def test_discriminator_loss_decreases_on_a_fixed_batch(world: World) -> None:
    model, _, _ = world.train(replace(TINY, iterations=0))
    model.train()
    critics = [model.face_net, model.discriminator, model.classifier]
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam([p for n in critics for p in n.parameters()], 1e-3, (0.5, 0.999))
    torch.manual_seed(0)
    voice = torch.nn.functional.normalize(torch.randn(4, 64))
    images, _, _ = load_faces([f"id0000{s}/00000.jpg" for s in range(4)], world.root)
    labels = torch.arange(4)
    losses = [
        gan_step(model, g_opt, d_opt, voice, labels, to_tensor(images), labels)["d_loss"]
        for _ in range(25)
    ]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_resume_reproduces_the_uninterrupted_run(world: World, tmp_path: Path) -> None:
    full_model, full, _ = world.train()
    checkpoint = tmp_path / "gan.pt"
    _, part, _ = world.train(replace(TINY, iterations=3), checkpoint=checkpoint)
    assert load_checkpoint(checkpoint)["step"] == 3 and part == full[:1]
    steps_run: list[int] = []

    def spy(steps):
        steps_run.extend(steps)
        return steps_run

    model, resumed, _ = world.train(checkpoint=checkpoint, resume=True, progress=spy)
    assert steps_run == [3, 4, 5]
    assert resumed == full  # same batches, flips, noise, weights and optimizer states
    for name, value in full_model.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    _, other, _ = world.train(replace(TINY, seed=2))
    assert other != full
    with pytest.raises(ValueError, match="delete it or set resume to false"):
        world.train(replace(TINY, gan=GanConfig()), checkpoint=checkpoint, resume=True)


def test_checkpoint_round_trip_generates_the_same_faces(world: World, tmp_path: Path) -> None:
    checkpoint = tmp_path / "gan.pt"
    model, _, _ = world.train(checkpoint=checkpoint)
    loaded = load_gan(checkpoint)
    assert not loaded.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    utterances = [world.store[i] for i in range(3)]
    faces = generate(loaded, utterances)
    assert faces.shape == (3, 64, 64, 3) and faces.dtype == np.uint8
    assert np.array_equal(faces, generate(model, utterances))
    sheet = sample_grid(
        loaded, world.store, world.voices, world.faces, tmp_path / "s.png", face_root=world.root
    )
    image = np.asarray(Image.open(sheet))
    assert image.shape[0] > 2 * 128 and image.shape[1] > (1 + PER_SPEAKER) * 128  # 2 test rows


def test_faces_of_the_wrong_size_are_a_clear_error(world: World) -> None:
    images, identities = world.train_faces()
    with pytest.raises(ValueError, match="64, 64, 3"):
        train_gan(TINY, world.store, world.voices, images[:, :32], identities, world.encoder)
    with pytest.raises(ValueError, match="one identity each"):
        train_gan(TINY, world.store, world.voices, images, identities[:-1], world.encoder)
