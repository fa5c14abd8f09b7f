"""What the speaker-split trainers (``pretrain_voice``, ``supervised``) share."""

from __future__ import annotations

from voice2mesh.train.loop import Task
from voice2mesh.train.voice_data import SpeakerSplit


class SpeakerTask(Task):
    """A ``train.loop.Task`` over a ``SpeakerSplit`` (``split``): its model checkpoint records
    the identities, its metrics count the utterances."""

    split: SpeakerSplit

    def meta(self) -> dict:
        return {"identities": list(self.split.speakers)}

    def counts(self) -> dict[str, int]:
        """Training and held-out utterances."""
        split = self.split
        return {"n_train_utterances": len(split.train), "n_val_utterances": len(split.val)}
