"""Training data shared by the GAN and the joint unsupervised training.

Voices: the frozen encoder embeds ``voice_crops`` random 300-800-frame crops of every training
utterance **once** (a "voice bank"; one crop length per round, as in
``voice_data.CropBatches``); held-out utterances (``voice_data.split_speakers``'s rule) are
embedded from their first 10 s. Faces: the caller's decoded 64 x 64 images. Voices and faces
share one label list: the training identities that have both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.config import GanParams
from voice2mesh.models.gan import perturb_embedding
from voice2mesh.models.voice_encoder import VoiceEncoder
from voice2mesh.train.face_data import to_tensor
from voice2mesh.train.loop import digest
from voice2mesh.train.voice_banks import VoiceBanks, bank_key
from voice2mesh.train.voice_data import MIN_FRAMES, load_utterances, split_speakers

CHUNK = 64  # crops per encoder call when embedding


@dataclass(frozen=True)
class GanData:
    """Everything a GAN step samples from.

    Attributes:
        speakers: the identities, sorted; label ``k`` is ``speakers[k]``.
        images: (N, 64, 64, 3) uint8 RGB faces; face_labels: (N,) int64.
        bank: (K * U, E) voice embeddings; bank_labels: (K * U,) int64.
        val: (V, E) held-out utterance embeddings; val_labels: (V,) int64.
        n_train_utterances: U.
    """

    speakers: tuple[str, ...]
    images: np.ndarray
    face_labels: torch.Tensor
    bank: torch.Tensor
    bank_labels: torch.Tensor
    val: torch.Tensor
    val_labels: torch.Tensor
    n_train_utterances: int


@torch.no_grad()
def embed_crops(encoder: VoiceEncoder, crops: Sequence[np.ndarray], device: str) -> torch.Tensor:
    """(N, E) float32 CPU embeddings of equal-length (L, 64) crops, ``CHUNK`` at a time."""
    out = []
    for k in range(0, len(crops), CHUNK):
        x = torch.from_numpy(np.stack(crops[k : k + CHUNK])).transpose(1, 2)  # (b, 64, L)
        out.append(encoder(x.to(device)).cpu())
    return torch.cat(out) if out else torch.empty(0, encoder.config.embedding_dim)


def embed_voice_bank(
    encoder: VoiceEncoder,
    utterances: Sequence[np.ndarray],
    crop_frames: tuple[int, int],
    n_crops: int,
    seed: int,
    device: str,
) -> torch.Tensor:
    """(n_crops * N, E) embeddings; row ``r * N + u`` is round ``r``'s crop of utterance ``u``.

    Round ``r`` draws one length in ``crop_frames`` and a start per utterance (repeated to
    1000 frames first), from ``(seed, r)`` only.
    """
    rounds = []
    for r in range(n_crops):
        rng = np.random.default_rng([seed, r])
        length = int(rng.integers(crop_frames[0], crop_frames[1] + 1))
        crops = []
        for frames in utterances:
            frames = repeat_to(frames, MIN_FRAMES)  # (T >= 1000, 64)
            start = int(rng.integers(0, len(frames) - length + 1))
            crops.append(frames[start : start + length])
        rounds.append(embed_crops(encoder, crops, device))
    return torch.cat(rounds)


def prepare_gan_data(
    store: FeatureStore,
    voices_manifest: pd.DataFrame,
    faces: tuple[np.ndarray, np.ndarray],
    encoder: VoiceEncoder,
    device: str,
    *,
    crop_frames: tuple[int, int],
    voice_crops: int,
    seed: int,
    banks: VoiceBanks | None = None,
) -> GanData:
    """Label, filter and embed (module docstring).

    Args:
        store, voices_manifest: the features and the voices table (``identity``, ``split``).
        faces: ``(images (N, 64, 64, 3) uint8 RGB, identities (N,))``, the training faces.
        encoder: the frozen voice encoder.
        device: where the encoder runs.
        crop_frames, voice_crops, seed: the voice bank's crops (``embed_voice_bank``).
        banks: where seed ``seed``'s bank may already be (``train_gan`` writes it, the KD
            stages read it); None: always embed.
    """
    face_images, face_identities = faces
    face_ids = np.asarray(face_identities).astype(str)
    if (
        face_images.ndim != 4
        or face_images.shape[1:] != (64, 64, 3)
        or len(face_ids) != len(face_images)
    ):
        raise ValueError(
            f"face_images must be (N, 64, 64, 3) with one identity each; got "
            f"{face_images.shape} and {face_ids.shape}"
        )
    voice_ids = set(voices_manifest.loc[voices_manifest.split == "train", "identity"].astype(str))
    split = split_speakers(store.index, voice_ids & set(face_ids))
    label_of = {s: k for k, s in enumerate(split.speakers)}
    in_split = np.isin(face_ids, split.speakers)
    encoder = encoder.to(device).eval()
    utterances = load_utterances(store, split.train)
    val_crops = [repeat_to(u, MIN_FRAMES)[:MIN_FRAMES] for u in load_utterances(store, split.val)]
    key = bank_key(encoder, utterances, val_crops, crop_frames, voice_crops, seed)
    saved = banks.load(seed, key) if banks is not None else None
    if saved is None:
        bank = embed_voice_bank(encoder, utterances, crop_frames, voice_crops, seed, device)
        val = embed_crops(encoder, val_crops, device)
        if banks is not None:
            banks.save(seed, key, bank, val)
    else:
        bank, val = saved
    return GanData(
        speakers=split.speakers,
        images=face_images[in_split],
        face_labels=torch.tensor([label_of[i] for i in face_ids[in_split]], dtype=torch.int64),
        bank=bank,
        bank_labels=torch.from_numpy(np.tile(split.train_labels, voice_crops)),
        val=val,
        val_labels=torch.from_numpy(split.val_labels),
        n_train_utterances=len(split.train),
    )


def sampling(cfg: GanParams, seed: int, batch_size: int) -> dict:
    """``sample_batch``'s keyword arguments: the run's seed, its batch size, ``gan``'s noise
    and flips."""
    return {"seed": seed, "batch_size": batch_size, "noise": cfg.noise, "flip": cfg.flip}


def data_summary(data: GanData) -> dict:
    """What a GAN run trains on, for its resume fingerprint."""
    arrays = (data.images, data.face_labels, data.bank, data.bank_labels, data.val)
    return {"identities": list(data.speakers), "digest": digest(*arrays)}


@dataclass(frozen=True)
class Batch:
    """One step's inputs: perturbed unit voice embeddings (B, E) with labels (B,), real faces
    (B, 3, 64, 64) in [-1, 1] with labels (B,), and the voices' rows in the bank (B,)."""

    voice: torch.Tensor
    voice_labels: torch.Tensor
    faces: torch.Tensor
    face_labels: torch.Tensor
    voice_index: torch.Tensor

    def to(self, device: str) -> tuple[torch.Tensor, ...]:
        """``(voice, voice_labels, faces, face_labels)`` on ``device`` (``gan_step``'s order)."""
        return tuple(
            t.to(device) for t in (self.voice, self.voice_labels, self.faces, self.face_labels)
        )


def sample_batch(
    data: GanData, step: int, *, seed: int, batch_size: int, noise: float, flip: bool
) -> Batch:
    """Step ``step``'s batch, a function of ``(seed, step)`` only (resumes reproduce runs).

    Voices and faces are drawn independently (Wen et al.), faces mirrored with probability 0.5
    when ``flip``, voice embeddings L2-normalised + ``noise`` Gaussian noise.
    """
    rng = np.random.default_rng([seed, step])
    v = torch.from_numpy(rng.integers(0, len(data.bank), batch_size))
    f = rng.integers(0, len(data.images), batch_size)
    mirror = rng.random(batch_size) < 0.5 if flip else None
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)  # CPU: any device
    return Batch(
        voice=perturb_embedding(data.bank[v], noise, generator),
        voice_labels=data.bank_labels[v],
        faces=to_tensor(data.images[f], mirror),
        face_labels=data.face_labels[f],
        voice_index=v,
    )


def triplet_rows(
    labels: torch.Tensor, anchors: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A same-speaker positive and an other-speaker negative bank row for every anchor row.

    The positive is drawn uniformly from the anchor speaker's other rows (another utterance or
    another crop of the same one), the negative uniformly from every other speaker's rows.

    Args:
        labels: (N,) int64 speaker of each bank row.
        anchors: (B,) anchor rows.
        rng: the step's generator.

    Returns:
        ``(positives (B,), negatives (B,))`` int64 rows.

    Raises:
        ValueError: an anchor's speaker has one row only, or every row is one speaker's.
    """
    y = labels.numpy()
    a = anchors.numpy()
    order = np.argsort(y, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(y))
    start = np.searchsorted(y[order], y[a], side="left")
    count = np.searchsorted(y[order], y[a], side="right") - start
    if (count < 2).any() or (count == len(y)).any():
        raise ValueError(
            "triplets need two bank rows per speaker and more than one speaker (voice_crops >= 2)"
        )
    j = rng.integers(0, count - 1)  # among the anchor's other rows
    j = j + (j >= rank[a] - start)
    k = rng.integers(0, len(y) - count)  # among the other speakers' rows
    k = k + count * (k >= start)
    return torch.from_numpy(order[start + j]), torch.from_numpy(order[k])


def sample_triplets(
    data: GanData, batch: Batch, *, seed: int, step: int, noise: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturbed unit embeddings ``(positives (B, E), negatives (B, E))`` for ``batch``'s voices,
    a function of ``(seed, step)`` only (``triplet_rows``, then ``perturb_embedding``)."""
    rng = np.random.default_rng([seed, step, 3])
    positives, negatives = triplet_rows(data.bank_labels, batch.voice_index, rng)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step + 7_919)
    return (
        perturb_embedding(data.bank[positives], noise, generator),
        perturb_embedding(data.bank[negatives], noise, generator),
    )
