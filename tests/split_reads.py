"""Record which utterances and images a piece of code reads (to prove test rows stay unread).

Every row-level read of the pipeline goes through one of three doors: ``FeatureStore[i]`` for
an utterance's log-mel frames, ``EmbeddingStore.take(rows)`` for GE2E embeddings and
``PIL.Image.open`` for a face image (teacher crops, GAN faces, sample sheets). ``record_reads``
wraps them and collects the utterance identities and image paths seen while its block runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from voice2mesh.audio.features import FeatureStore
from voice2mesh.encoders.store import EmbeddingStore


@dataclass
class Reads:
    identities: set[str] = field(default_factory=set)  # identities of utterances read
    images: set[str] = field(default_factory=set)  # resolved image paths opened


@contextmanager
def record_reads():
    """Yield a ``Reads`` filled by every utterance and image read inside the block."""
    reads = Reads()
    get_item, open_image = FeatureStore.__getitem__, Image.open
    take = EmbeddingStore.take

    def recording_take(store: EmbeddingStore, rows):
        reads.identities.update(store.index.identity.iloc[rows].astype(str))
        return take(store, rows)

    def recording_get_item(store: FeatureStore, i: int):
        reads.identities.add(str(store.index.identity.iloc[i]))
        return get_item(store, i)

    def recording_open(file, *args, **kwargs):
        if isinstance(file, str | Path):
            reads.images.add(str(Path(file).resolve()))
        return open_image(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FeatureStore, "__getitem__", recording_get_item)
        patch.setattr(EmbeddingStore, "take", recording_take)
        patch.setattr(Image, "open", recording_open)
        yield reads
