"""Triplet rows of the joint training: same-speaker positives, other-speaker negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voice2mesh.train.gan_data import Batch, GanData, sample_triplets, triplet_rows

# bank rows of five speakers, shuffled as a voice bank's rounds interleave them
LABELS = torch.tensor([3, 0, 1, 0, 2, 3, 1, 0, 4, 2, 3, 1, 0, 4, 2, 3], dtype=torch.int64)


def _draw(anchors: list[int], seed: int, labels: torch.Tensor = LABELS) -> tuple:
    rng = np.random.default_rng(seed)
    positives, negatives = triplet_rows(labels, torch.tensor(anchors, dtype=torch.int64), rng)
    return positives.numpy(), negatives.numpy()


def test_positives_share_the_label_and_negatives_do_not() -> None:
    y = LABELS.numpy()
    anchors = list(range(len(y))) * 3  # every row, several times in one batch
    for seed in range(200):
        positives, negatives = _draw(anchors, seed)
        assert positives.dtype == negatives.dtype == np.int64
        assert positives.shape == negatives.shape == (len(anchors),)
        assert (y[positives] == y[anchors]).all(), seed
        assert (positives != anchors).all(), seed  # another row of the speaker
        assert (y[negatives] != y[anchors]).all(), seed
        assert ((negatives >= 0) & (negatives < len(y))).all()


def test_every_other_row_can_be_drawn() -> None:
    y = LABELS.numpy()
    for anchor in range(len(y)):
        positives, negatives = _draw([anchor] * 400, anchor)
        same = set(np.flatnonzero(y == y[anchor])) - {anchor}
        assert set(positives) == same, anchor  # uniform over the speaker's other rows
        assert set(negatives) == set(np.flatnonzero(y != y[anchor])), anchor


def test_the_draws_are_uniform() -> None:
    y = LABELS.numpy()
    anchor = 1  # speaker 0: rows 1, 3, 7, 12
    positives, negatives = _draw([anchor] * 6000, 7)
    counts = np.bincount(positives, minlength=len(y))[[3, 7, 12]]
    np.testing.assert_allclose(counts / 6000, 1 / 3, atol=0.03)
    others = np.flatnonzero(y != 0)
    shares = np.bincount(negatives, minlength=len(y))[others] / 6000
    np.testing.assert_allclose(shares, 1 / len(others), atol=0.02)


def test_the_rng_alone_decides() -> None:
    anchors = [0, 5, 9, 13]
    first = _draw(anchors, 11)
    np.testing.assert_array_equal(_draw(anchors, 11)[0], first[0])
    np.testing.assert_array_equal(_draw(anchors, 11)[1], first[1])
    assert any(not np.array_equal(_draw(anchors, s)[0], first[0]) for s in range(12, 20))


def test_a_speaker_with_one_row_cannot_anchor() -> None:
    labels = torch.tensor([0, 0, 1, 2, 2], dtype=torch.int64)  # speaker 1 has row 2 only
    with pytest.raises(ValueError, match="two bank rows per speaker"):
        _draw([0, 2], 0, labels)
    positives, negatives = _draw([0, 1, 3, 4] * 50, 0, labels)  # a negative it can be
    assert 2 in set(negatives) and 2 not in set(positives)


def test_one_speaker_has_no_negatives() -> None:
    with pytest.raises(ValueError, match="more than one speaker"):
        _draw([0, 1], 0, torch.zeros(4, dtype=torch.int64))


def _data() -> tuple[GanData, Batch]:
    bank = torch.randn(len(LABELS), 8, generator=torch.Generator().manual_seed(0))
    data = GanData(
        speakers=tuple(f"s{k}" for k in range(5)),
        images=np.zeros((1, 64, 64, 3), np.uint8),
        face_labels=torch.zeros(1, dtype=torch.int64),
        bank=bank,
        bank_labels=LABELS,
        val=torch.zeros(0, 8),
        val_labels=torch.zeros(0, dtype=torch.int64),
        n_train_utterances=4,
    )
    index = torch.tensor([0, 4, 8, 15, 1, 1], dtype=torch.int64)
    batch = Batch(
        voice=bank[index],
        voice_labels=LABELS[index],
        faces=torch.zeros(len(index), 3, 64, 64),
        face_labels=torch.zeros(len(index), dtype=torch.int64),
        voice_index=index,
    )
    return data, batch


def test_sample_triplets_is_a_function_of_seed_and_step() -> None:
    data, batch = _data()
    first = sample_triplets(data, batch, seed=4, step=9, noise=0.05)
    torch.manual_seed(123)  # the global generator must not matter
    torch.randn(10)
    again = sample_triplets(data, batch, seed=4, step=9, noise=0.05)
    for a, b in zip(first, again, strict=True):
        assert a.shape == (6, 8)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for seed, step in ((4, 10), (5, 9)):
        other = sample_triplets(data, batch, seed=seed, step=step, noise=0.05)
        assert not torch.equal(other[0], first[0]) or not torch.equal(other[1], first[1])


def test_sample_triplets_embeds_the_drawn_rows() -> None:
    data, batch = _data()
    positives, negatives = sample_triplets(data, batch, seed=2, step=3, noise=0.0)
    unit = torch.nn.functional.normalize(data.bank, dim=1)
    anchors = batch.voice_index.numpy()
    # without noise each embedding is a bank row, unit length: find which
    rows_p = (positives @ unit.T).argmax(dim=1).numpy()  # (6,)
    rows_n = (negatives @ unit.T).argmax(dim=1).numpy()
    torch.testing.assert_close(positives, unit[rows_p])
    torch.testing.assert_close(negatives, unit[rows_n])
    y = LABELS.numpy()
    assert (y[rows_p] == y[anchors]).all() and (rows_p != anchors).all()
    assert (y[rows_n] != y[anchors]).all()
    # noise perturbs, but keeps each embedding near its row and of unit length
    noisy, _ = sample_triplets(data, batch, seed=2, step=3, noise=0.05)
    assert not torch.equal(noisy, positives)
    torch.testing.assert_close(noisy.norm(dim=1), torch.ones(6))
    assert (noisy * positives).sum(dim=1).min() > 0.9
