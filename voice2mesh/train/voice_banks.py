"""The GAN's voice banks, written once by ``train_gan`` and read by every ``kd_ablation`` stage.

A voice bank (``gan_data.embed_voice_bank``) is the frozen encoder's embeddings of random crops
of every training utterance, plus the held-out utterances' embeddings. Seed ``k``'s GAN and all
eight of seed ``k``'s KD runs embed exactly the same crops with exactly the same encoder, so
embedding them again in each KD stage (seconds per seed, 24 times per ``dvc repro``) is waste.

``VoiceBanks`` is a folder of ``seed_<k>.npz`` files, each tagged with the ``bank_key`` of what
it was computed from: the encoder's weights, the utterances' frames, the crop settings and the
seed. A reader uses a file only when its key is the one it computes itself, so a stale or
foreign bank is never used (it is embedded afresh, with a warning); the result is the same
bytes either way, only faster.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voice2mesh.io import atomic_path

log = logging.getLogger(__name__)
FORMAT = "voice-bank-1"  # changes when what a bank holds or how it is embedded changes


def bank_key(
    encoder: nn.Module,
    utterances: Sequence[np.ndarray],
    val_crops: Sequence[np.ndarray],
    crop_frames: tuple[int, int],
    n_crops: int,
    seed: int,
) -> str:
    """SHA-256 of everything a bank depends on (module docstring)."""
    h = hashlib.sha256(f"{FORMAT}|{tuple(crop_frames)}|{n_crops}|{seed}".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{name}{array.shape}{array.dtype.str}".encode())
        h.update(array.tobytes())
    for group in (utterances, val_crops):
        h.update(f"|{len(group)}".encode())
        for frames in group:
            frames = np.ascontiguousarray(frames)
            h.update(f"{frames.shape}{frames.dtype.str}".encode())
            h.update(frames.tobytes())
    return h.hexdigest()


class VoiceBanks:
    """A folder of voice banks by seed (module docstring).

    Args:
        folder: where the ``seed_<k>.npz`` files are.
        write: save each bank computed (``train_gan``); readers (``kd_ablation``) only read.
    """

    def __init__(self, folder: Path | str, write: bool = False) -> None:
        self.folder, self.write = Path(folder), write

    def path(self, seed: int) -> Path:
        return self.folder / f"seed_{seed}.npz"

    def load(self, seed: int, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(bank, val)`` saved under ``key``, or None (missing, or computed from other
        inputs: a warning names the file)."""
        path = self.path(seed)
        if not path.is_file():
            if not self.write:
                log.warning("%s is missing: embedding seed %d's voice bank afresh", path, seed)
            return None
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["key"]) != key:
                log.warning(
                    "%s was embedded from other inputs (encoder, utterances or crop settings): "
                    "embedding seed %d's voice bank afresh",
                    path,
                    seed,
                )
                return None
            return torch.from_numpy(saved["bank"]), torch.from_numpy(saved["val"])

    def save(self, seed: int, key: str, bank: torch.Tensor, val: torch.Tensor) -> None:
        """Write seed ``seed``'s bank atomically (only when ``write``)."""
        if not self.write:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(seed)) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), bank=bank.numpy(), val=val.numpy())
