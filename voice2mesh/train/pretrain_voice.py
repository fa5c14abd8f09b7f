"""Speaker-identification pretraining of Wen et al.'s voice encoder.

Adam + cross-entropy on random 300-800-frame crops (``voice_data.CropBatches``); every
``eval_every`` steps and at the end, top-1 speaker accuracy on the held-out utterances, each
fed whole (repeated to >= 1000 frames), one at a time since lengths differ. ``train.loop``
runs it (seeding, resume, curves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F  # noqa: N812

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.checkpoint import load_model
from voice2mesh.config import PretrainVoiceParams
from voice2mesh.models.voice_encoder import SpeakerClassifier, VoiceEncoder, VoiceEncoderConfig
from voice2mesh.train.distributed import shard
from voice2mesh.train.loop import Schedule, Trained, final, fit, seeded, settings
from voice2mesh.train.speaker_task import SpeakerTask
from voice2mesh.train.voice_data import MIN_FRAMES, speaker_batches, split_speakers


def load_voice_encoder(path: Path | str, device: str = "cpu") -> VoiceEncoder:
    """The pretrained encoder of a ``pretrain_voice`` model, in eval mode on ``device``."""
    model = load_model(path, device, ("voice_encoder",), "the voice encoder")
    return model.encoder.eval()


@torch.no_grad()
def speaker_accuracy(
    model: SpeakerClassifier, utterances: list[np.ndarray], labels: np.ndarray, device: str
) -> float | None:
    """Top-1 accuracy over whole utterances (each (T, 64), repeated to >= 1000 frames).

    Returns None when there is nothing to evaluate.
    """
    if not utterances:
        return None
    was_training = model.training
    model.eval()
    correct = 0
    for frames, label in zip(utterances, labels, strict=True):
        x = torch.from_numpy(repeat_to(frames, MIN_FRAMES).T.copy())[None].to(device)  # (1,64,T)
        correct += int(model(x).argmax(dim=1).item() == int(label))
    model.train(was_training)
    return correct / len(utterances)


class PretrainVoice(SpeakerTask):
    """The speaker-ID classifier over the manifest's train-split identities."""

    shards = True  # step trains ``net`` on this rank's rows of each batch

    def __init__(
        self,
        cfg: PretrainVoiceParams,
        store: FeatureStore,
        voices: pd.DataFrame,
        schedule: Schedule,
    ) -> None:
        seed, device = schedule.seed, schedule.device
        train_ids = voices.loc[voices.split == "train", "identity"].astype(str)
        self.split = split_speakers(store.index, set(train_ids))
        self.cfg, self.seed, self.device = cfg, seed, device
        self.batches, self.val = speaker_batches(store, self.split, cfg, schedule)
        encoder = VoiceEncoderConfig(channels=cfg.channels)
        n_speakers = len(self.split.speakers)
        self.model = seeded(seed, lambda: SpeakerClassifier(n_speakers, encoder)).to(device)
        self.optims = {"adam": torch.optim.Adam(self.model.parameters(), lr=cfg.lr)}
        self.settings = settings(cfg)

    def step(self, step: int) -> dict[str, float]:
        x, y = (shard(t) for t in self.batches[step])  # this rank's rows of the global batch
        loss = F.cross_entropy(self.net(x.to(self.device)), y.to(self.device))
        self.optims["adam"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["adam"].step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, float | None]:
        accuracy = speaker_accuracy(self.model, self.val, self.split.val_labels, self.device)
        return {"val_accuracy": accuracy}

    def metrics(self, history: list[dict]) -> dict:
        """Final metrics: held-out accuracy, chance level, last loss, counts."""
        last = final(history, "loss", "val_accuracy")
        return self.counts() | {
            "val_accuracy": last["val_accuracy"],
            "chance_accuracy": 1.0 / len(self.split.speakers),
            "final_loss": last["loss"],
            "n_speakers": len(self.split.speakers),
        }


def pretrain_voice(
    cfg: PretrainVoiceParams, store: FeatureStore, voices: pd.DataFrame, schedule: Schedule
) -> Trained:
    """Train a ``SpeakerClassifier`` on the manifest's train-split identities.

    Args:
        cfg: the ``pretrain_voice`` params.
        store: the features of every utterance.
        voices: the manifest's voices table (``identity``, ``split``).
        schedule: how ``train.loop.fit`` runs (seed, device, resume state, progress).

    Returns:
        ``Trained``: the classifier (eval mode), one history row per evaluation
        ``{step, loss, val_accuracy}``, final metrics, the speakers (``meta``).
    """
    task = PretrainVoice(cfg, store, voices, schedule)
    return fit(task, schedule)
