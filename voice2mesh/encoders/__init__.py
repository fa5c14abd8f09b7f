"""Pretrained speaker encoders, an alternative to Wen et al.'s from-scratch voice encoder.

``ge2e``: the GE2E d-vector network with the weights that ship in the ``resemblyzer`` wheel;
``ge2e_audio``: its front end (wav -> mel partials); ``embeddings``: many files at once, cached
(``cache``); ``store``: the ``embed_ge2e`` stage's output folder.
"""

from voice2mesh.encoders.cache import EmbeddingCache
from voice2mesh.encoders.embeddings import (
    Embedded,
    Reject,
    embed_files,
    embed_utterance,
    speech_partials,
    utterance_key,
    utterance_partials,
)
from voice2mesh.encoders.ge2e import (
    EMBEDDING_DIM,
    EncoderUnavailable,
    GE2EEncoder,
    load_ge2e,
    weights_path,
)

__all__ = [
    "EMBEDDING_DIM",
    "Embedded",
    "EmbeddingCache",
    "EncoderUnavailable",
    "GE2EEncoder",
    "Reject",
    "embed_files",
    "embed_utterance",
    "load_ge2e",
    "speech_partials",
    "utterance_key",
    "utterance_partials",
    "weights_path",
]
