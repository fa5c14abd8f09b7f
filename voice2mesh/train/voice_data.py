"""Speaker-ID training data: random log-mel crops of the training identities' utterances.

Wen et al. (docs/audio.md, "Repetition and crops"): an utterance under 1000 frames is first
repeated to 1000 (``repeat_to``), then a random window of 300-800 frames is cut from it. All
crops of one batch share one length (drawn per batch), so a batch is one dense tensor.

Held-out rule (for speaker accuracy): per identity, in feature-index order, the **last**
utterance goes to validation when the identity has at least 2 utterances; all others train.
Identities with a single utterance are train-only, so every validation speaker is a training
class.

Batches are a pure function of ``(seed, step)``: a resumed run sees exactly the batches an
uninterrupted run would, whatever happened before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to

MIN_FRAMES = 1000  # Wen et al. repeat shorter utterances to 10 s


@dataclass(frozen=True)
class SpeakerSplit:
    """Which stored utterances train and which are held out, and their speaker labels.

    Attributes:
        speakers: identity of each class, sorted; label ``k`` is ``speakers[k]``.
        train: (N_train,) int64 row numbers into the ``FeatureStore``.
        train_labels: (N_train,) int64 class labels.
        val: (N_val,) int64 row numbers of the held-out utterances.
        val_labels: (N_val,) int64 class labels.
    """

    speakers: tuple[str, ...]
    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray


def split_speakers(index: pd.DataFrame, identities: list[str] | set[str]) -> SpeakerSplit:
    """Split the utterances of ``identities`` into train and held-out (rule in module doc).

    Args:
        index: ``FeatureStore.index`` (needs ``identity``); row order is the utterance order.
        identities: the identities to classify (e.g. the train split of the manifest).

    Raises:
        ValueError: fewer than 2 of the identities have stored utterances.
    """
    wanted = {str(i) for i in identities}
    rows = index.reset_index(drop=True)
    rows = rows[rows.identity.astype(str).isin(wanted)]
    speakers = tuple(sorted(rows.identity.astype(str).unique()))
    if len(speakers) < 2:
        raise ValueError(
            f"{len(speakers)} of the {len(wanted)} requested identities have features; speaker "
            "pretraining needs at least 2 (check the manifest split and the features stage)"
        )
    label_of = {s: k for k, s in enumerate(speakers)}
    labels = rows.identity.astype(str).map(label_of).to_numpy(np.int64)
    counts = rows.groupby("identity").identity.transform("size").to_numpy()
    is_last = ~rows.identity.duplicated(keep="last").to_numpy()
    held_out = is_last & (counts >= 2)
    positions = rows.index.to_numpy(np.int64)
    return SpeakerSplit(
        speakers=speakers,
        train=positions[~held_out],
        train_labels=labels[~held_out],
        val=positions[held_out],
        val_labels=labels[held_out],
    )


def load_utterances(store: FeatureStore, rows: np.ndarray) -> list[np.ndarray]:
    """Read utterances ``rows`` (in index order, so shards load once), each (T, 64) float32."""
    order = np.argsort(rows, kind="stable")
    out: list[np.ndarray] = [np.empty(0)] * len(rows)
    for k in order:
        out[k] = np.array(store[int(rows[k])], dtype=np.float32)  # a copy frees the shard
    return out


class CropBatches(Dataset):
    """Item ``step`` is the training batch of that step: ``(x (B, 64, L), y (B,))``.

    Utterances are drawn uniformly with replacement; one crop length ``L`` in
    ``[min_crop, max_crop]`` per batch; a uniform start in each repeated utterance.
    Use with ``DataLoader(batches, batch_size=None)`` or index it directly.
    """

    def __init__(
        self,
        utterances: list[np.ndarray],
        labels: np.ndarray,
        *,
        batch_size: int,
        crop_frames: tuple[int, int] = (300, 800),
        n_batches: int,
        seed: int = 0,
        min_frames: int = MIN_FRAMES,
    ) -> None:
        lo, hi = crop_frames
        if not 1 <= lo <= hi <= min_frames:
            raise ValueError(
                f"crop_frames = {crop_frames} must satisfy 1 <= min <= max <= {min_frames}"
            )
        if batch_size < 1 or not utterances or len(utterances) != len(labels):
            raise ValueError(
                f"need batch_size >= 1 and one label per utterance, got batch_size={batch_size},"
                f" {len(utterances)} utterances, {len(labels)} labels"
            )
        self.utterances = utterances
        self.labels = np.asarray(labels, dtype=np.int64)
        self.batch_size = batch_size
        self.crop_frames = (lo, hi)
        self.n_batches = n_batches
        self.seed = seed
        self.min_frames = min_frames

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.n_batches:
            raise IndexError(f"batch {step} out of range [0, {self.n_batches})")
        rng = np.random.default_rng([self.seed, step])
        length = int(rng.integers(self.crop_frames[0], self.crop_frames[1] + 1))
        picks = rng.integers(0, len(self.utterances), self.batch_size)
        crops = np.empty((self.batch_size, length, self.utterances[0].shape[1]), np.float32)
        for b, u in enumerate(picks):
            frames = repeat_to(self.utterances[u], self.min_frames)  # (T >= 1000, 64)
            start = int(rng.integers(0, len(frames) - length + 1))
            crops[b] = frames[start : start + length]
        x = torch.from_numpy(crops).transpose(1, 2).contiguous()  # (B, 64, L)
        return x, torch.from_numpy(self.labels[picks])


def speaker_batches(
    store: FeatureStore, split: SpeakerSplit, cfg: Any, schedule: Any
) -> tuple[CropBatches, list[np.ndarray]]:
    """The training crops of ``split`` (``cfg``'s ``batch_size`` and ``crop_frames``, one batch
    per step of the ``train.loop.Schedule``) and its held-out utterances, whole."""
    batches = CropBatches(
        load_utterances(store, split.train),
        split.train_labels,
        batch_size=cfg.batch_size,
        crop_frames=cfg.crop_frames,
        n_batches=schedule.iterations,
        seed=schedule.seed,
    )
    return batches, load_utterances(store, split.val)
