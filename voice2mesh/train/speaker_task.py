"""What the speaker-split trainers (``pretrain_voice``, ``supervised``) share."""

from __future__ import annotations

from voice2mesh.train.loop import Task, digest
from voice2mesh.train.voice_data import CropBatches, SpeakerSplit


class SpeakerTask(Task):
    """A ``train.loop.Task`` over a ``SpeakerSplit`` (``split``): its model checkpoint records
    the identities, its metrics count the utterances."""

    split: SpeakerSplit
    batches: CropBatches
    val: list

    def data(self) -> dict:
        frames = [*self.batches.utterances, *self.val]
        arrays = digest(*frames, self.split.train_labels, self.split.val_labels)
        return {"identities": list(self.split.speakers), "digest": arrays}

    def meta(self) -> dict:
        return {"identities": list(self.split.speakers)}

    def counts(self) -> dict[str, int]:
        """Training and held-out (``val``) utterances."""
        return {"n_train_utterances": len(self.split.train), "n_val_utterances": len(self.val)}
