"""Voice embeddings computed once for every evaluation row that shares a frozen voice encoder.

``evaluate`` runs some 30 networks over the same test utterances, and most of them start with
a copy of one seed's pretrained voice encoder: the baseline's and every ``kd_ablation@``
model's GAN keeps it frozen, and so does the gender-from-voice classifier's embedding step.
The encoder is about a third of a cascade's cost, so computing it once per (encoder weights,
batch) instead of once per row saves that much of the stage's inference.

An ``EncoderMemo`` attached to a network replaces the ``forward`` of each ``VoiceEncoder``
inside it (on that instance only) by a look-up keyed by a digest of the encoder's weights and
by which distinct input batch it is given: equal weights on a bit-for-bit equal batch give the
very same output tensor (CPU kernels are deterministic for a fixed batch), so the rows'
predictions are unchanged. A batch is recognised by a cheap key (shape, dtype, device and a
digest of ``SAMPLES`` of its words spread over it) and then confirmed bit for bit against the
kept copy, which costs a fraction of hashing all its bytes (an 8 MB batch: ~1 ms against
~13 ms for blake2b; the evaluation makes some 300 such look-ups). It only answers in eval
mode without gradients; anything else runs the encoder as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
from torch import nn

from voice2mesh.models.voice_encoder import VoiceEncoder

SAMPLES = 4096  # words of a batch in its cheap key


def weights_digest(module: nn.Module) -> bytes:
    """A digest of ``module``'s parameter and buffer names, shapes, dtypes and values."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


def _bits(x: torch.Tensor) -> torch.Tensor:
    """The tensor's bits as a flat integer tensor: int64 words where its size allows (eight
    times faster to compare than bytes), else bytes. Comparing them compares bit patterns:
    -0.0 is not 0.0 and a NaN equals the same NaN."""
    data = x.detach().contiguous().reshape(-1).view(torch.uint8)
    return data.view(torch.int64) if data.numel() % 8 == 0 else data


class EncoderMemo:
    """Outputs of frozen voice encoders, shared by every network the memo is attached to."""

    def __init__(self) -> None:
        self._batches: dict[tuple, list[torch.Tensor]] = {}  # cheap key -> distinct batches
        self._outputs: dict[tuple[bytes, tuple, int], torch.Tensor] = {}
        self.hits = 0  # forward passes answered from the memo (for the log)

    def attach(self, net: nn.Module | Callable) -> None:
        """Answer the ``VoiceEncoder`` forward passes of ``net`` (a module or a bound method
        of one, e.g. ``model.predict_raw``) from the memo where it can; any other callable
        has no encoder to share and is left as it is."""
        module = net if isinstance(net, nn.Module) else getattr(net, "__self__", None)
        if not isinstance(module, nn.Module):
            return
        for encoder in module.modules():
            if isinstance(encoder, VoiceEncoder) and "forward" not in vars(encoder):
                encoder.forward = self._forward_of(encoder)

    def _batch(self, x: torch.Tensor) -> tuple[tuple, int]:
        """Which distinct batch ``x`` is: its cheap key and its place among the batches kept
        under that key (a copy of ``x`` is kept when it is new)."""
        data = _bits(x)
        sample = data[:: max(1, data.numel() // SAMPLES)].cpu().numpy()
        digest = hashlib.blake2b(sample.tobytes(), digest_size=16).digest()
        key = (tuple(x.shape), x.dtype, str(x.device), digest)
        kept = self._batches.setdefault(key, [])
        for k, seen in enumerate(kept):
            if torch.equal(seen, data):
                return key, k
        kept.append(data.clone())
        return key, len(kept) - 1

    def _forward_of(self, encoder: VoiceEncoder) -> Callable[[torch.Tensor], torch.Tensor]:
        """``encoder``'s forward, answered from the memo in eval mode without gradients."""
        weights = weights_digest(encoder)  # fixed: the memo only answers frozen encoders
        compute = type(encoder).forward.__get__(encoder)

        def forward(x: torch.Tensor) -> torch.Tensor:
            if encoder.training or torch.is_grad_enabled():
                return compute(x)
            key = (weights, *self._batch(x))
            if key in self._outputs:
                self.hits += 1
            else:
                self._outputs[key] = compute(x)
            return self._outputs[key].clone()  # (B, E): callers may modify theirs

        return forward
