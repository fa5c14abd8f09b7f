"""The independent gender probe: learns a visible gender cue, seeded, strict about its labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voice2mesh.train.face_data import to_tensor
from voice2mesh.train.gender_probe import (
    agreement_by_speaker,
    drawn_at,
    probe_agreement,
    probe_correct,
    train_probe,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 64, 64, 3) uint8 noise faces, half of them male with a brighter lower half
    (a beard's place), and their genders."""
    rng = np.random.default_rng(seed)
    genders = np.where(np.arange(n) % 2 == 0, "male", "female")
    images = rng.integers(0, 100, (n, 64, 64, 3))
    images[genders == "male", 32:] += 120
    return images.astype(np.uint8), genders


@pytest.fixture(scope="module")
def probe() -> torch.nn.Module:
    images, genders = faces(48, seed=1)
    return train_probe(images, genders, seed=0, steps=60)


def test_the_probe_tells_held_out_faces_gender(probe) -> None:
    images, genders = faces(32, seed=2)
    assert probe_agreement(probe, to_tensor(images), genders) >= 0.9
    wrong = np.where(genders == "male", "female", "male")
    assert probe_agreement(probe, to_tensor(images), wrong) <= 0.1


def test_drawn_at_is_what_a_lower_resolution_generator_draws_nearest() -> None:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    drawn = drawn_at(x, 32)
    assert drawn.shape == x.shape
    blocks = x.reshape(2, 3, 32, 2, 32, 2).mean((3, 5))  # each 2 x 2 block's mean
    for dy in (0, 1):
        for dx in (0, 1):
            torch.testing.assert_close(drawn[..., dy::2, dx::2], blocks)
    # No other 32-pixel image (pixels repeated) is nearer: moving any block's value adds error.
    nudged = drawn.clone()
    nudged[..., 0:2, 0:2] += 0.01
    assert ((nudged - x) ** 2).sum() > ((drawn - x) ** 2).sum()
    assert drawn_at(x, 64) is x
    torch.testing.assert_close(drawn_at(x, 16)[..., 0, 0], x[..., :4, :4].mean((2, 3)))
    with pytest.raises(ValueError, match="must divide"):
        drawn_at(x, 48)


def test_no_faces_have_no_agreement(probe) -> None:
    assert probe_agreement(probe, torch.zeros((0, 3, 64, 64)), []) is None


def test_training_is_a_function_of_the_seed() -> None:
    images, genders = faces(16, seed=3)
    held = to_tensor(faces(8, seed=4)[0])
    first, again, other = (train_probe(images, genders, s, steps=3, batch=8) for s in (0, 0, 1))
    with torch.no_grad():
        assert torch.equal(first(held), again(held))
    weights, others = first.state_dict(), other.state_dict()
    assert any(not torch.equal(weights[k], others[k]) for k in weights)


@pytest.mark.parametrize(
    "genders",
    [
        ["male", "female", "other", "male"],  # an unknown gender
        ["M", "F", "M", "F"],  # not the manifest's words
        ["male"] * 4,  # one gender only
        ["male", "female", "male"],  # fewer genders than faces
    ],
)
def test_training_rejects_genders_it_cannot_learn_from(genders: list[str]) -> None:
    images = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="gender probe"):
        train_probe(images, genders, seed=0, steps=1)


def test_agreement_rejects_an_unknown_gender(probe) -> None:
    with pytest.raises(ValueError, match="female or male"):
        probe_agreement(probe, torch.zeros((2, 3, 64, 64)), ["male", "unknown"])


def test_probe_correct_marks_each_face_and_agreement_is_its_share(probe) -> None:
    images, genders = faces(8, seed=5)
    correct = probe_correct(probe, to_tensor(images), genders)
    assert correct.dtype == bool and correct.shape == (8,)
    assert probe_agreement(probe, to_tensor(images), genders) == pytest.approx(correct.mean())
    with pytest.raises(ValueError, match="8 faces but 7 genders"):
        probe_correct(probe, to_tensor(images), genders[:7])


def test_agreement_by_speaker_weighs_speakers_not_faces_and_tests_against_chance() -> None:
    # speaker a: 8 faces all right; b, c, d: 1 face each, wrong. Faces: 8/11 right;
    # speakers: 1/4.
    speakers = np.array(["a"] * 8 + ["b", "c", "d"])
    correct = np.array([True] * 8 + [False] * 3)
    out = agreement_by_speaker({0: correct, 1: correct}, speakers, 2000, seed=0)
    assert out["mean"] == pytest.approx(0.25) and out["n_speakers"] == 4
    assert out["ci_low"] <= 0.25 <= out["ci_high"]
    # 30 speakers all right on every seed: far from chance, an interval at 1
    many = np.repeat(np.arange(30).astype(str), 3)
    sure = agreement_by_speaker({0: np.ones(90, bool)}, many, 2000, seed=0)
    assert sure["mean"] == sure["ci_low"] == sure["ci_high"] == 1.0
    assert sure["p_vs_chance"] < 0.001
    # half the speakers right, half wrong: chance
    half = np.arange(90) < 45
    coin = agreement_by_speaker({0: half, 1: half}, many, 2000, seed=0)
    assert coin["mean"] == pytest.approx(0.5) and coin["p_vs_chance"] > 0.5
    assert coin["ci_low"] < 0.5 < coin["ci_high"]
