"""The GE2E speaker encoder with the pretrained weights that ship in the ``resemblyzer`` wheel.

Wan, Wang, Papir & Lopez Moreno, *Generalized End-to-End Loss for Speaker Verification*
(ICASSP 2018), as Resemblyzer 0.1.4 (Jemine, ``resemblyzer/voice_encoder.py``) trains and runs
it: 160 frames of a 40-channel mel spectrogram through a 3-layer LSTM; the last layer's final
hidden state through a linear layer, ReLU and L2 normalisation (Sec. 2.1: the d-vector).

    (P, 160, 40) mel partials -> LSTM 40->256, 3 layers -> h_T of layer 3 (P, 256)
                              -> Linear 256->256 -> ReLU -> / ||.||_2 -> (P, 256)

Only the weights come from the package: ``resemblyzer``'s own code imports librosa and the
``webrtcvad`` sdist, which clashes with this project's ``webrtcvad-wheels`` (both install the
module ``_webrtcvad``), so the wheel is installed with ``pip install --no-deps`` and never
imported; its ``pretrained.pt`` is found through the installed distribution's file list and
checked against the wheel's RECORD hash. The checkpoint's ``similarity_weight`` and
``similarity_bias`` are the GE2E loss's scale ``w`` and offset ``b`` (Eq. 5), unused at
inference. The weights were trained on LibriSpeech, VoxCeleb1 and VoxCeleb2 speakers (the
Real-Time-Voice-Cloning encoder), which include VoxCeleb1's A–E identities.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

PACKAGE = "resemblyzer"
VERSION = "0.1.4"  # the wheel whose weights and front end this module reproduces
WEIGHTS = "resemblyzer/pretrained.pt"
INSTALL = f".venv/bin/pip install --no-deps {PACKAGE}=={VERSION}"
N_MELS = 40  # mel channels (resemblyzer hparams.mel_n_channels)
HIDDEN = 256  # LSTM width (model_hidden_size)
EMBEDDING_DIM = 256  # d-vector size (model_embedding_size)
LAYERS = 3  # LSTM layers (model_num_layers)
_CHUNK = 1 << 20  # bytes hashed per read


class EncoderUnavailable(RuntimeError):
    """The pretrained weights are not installed, or the installed file is damaged."""


def _unavailable(problem: str) -> EncoderUnavailable:
    return EncoderUnavailable(
        f"{problem}. The GE2E weights ship inside the '{PACKAGE}' wheel and nothing is downloaded "
        f"at run time: install it without its dependencies, `{INSTALL}` (or `make setup`)"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def weights_path() -> tuple[Path, str]:
    """Where the installed wheel keeps ``pretrained.pt``, and its sha256 (hex).

    The file is located through ``importlib.metadata`` (the package itself is never imported:
    its ``__init__`` needs librosa) and its bytes are checked against the hash in the wheel's
    RECORD.

    Raises:
        EncoderUnavailable: the package is not installed, lists no weights, the file is
            missing, or its hash differs from the RECORD's (a damaged install).
    """
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise _unavailable(f"the Python package '{PACKAGE}' is not installed") from None
    entry = next((f for f in dist.files or () if f.as_posix() == WEIGHTS), None)
    if entry is None:
        raise _unavailable(f"'{PACKAGE}' {dist.version} lists no {WEIGHTS} in its RECORD")
    path = Path(dist.locate_file(entry))
    if not path.is_file():
        raise _unavailable(f"{path} is listed by '{PACKAGE}' {dist.version} but missing")
    digest = _sha256(path)
    if entry.hash is not None and entry.hash.mode == "sha256":
        recorded = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
        if recorded.hex() != digest:
            raise _unavailable(
                f"{path} does not match the sha256 in {PACKAGE} {dist.version}'s RECORD (a "
                "damaged or edited install); reinstall with --force-reinstall"
            )
    return path, digest


class GE2EEncoder(nn.Module):
    """Mel partials -> L2-normalised 256-d speaker embeddings (module docstring).

    Attributes:
        key: what identifies the weights in caches: ``ge2e-<first 16 hex of their sha256>``
            (``""`` for an encoder built without pretrained weights).
    """

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING_DIM)
        self.key = ""

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Embed a batch of equally long mel partials.

        Args:
            mels: (P, T, 40) float32 mel power spectrogram frames (``ge2e_audio.partials``).

        Returns:
            (P, 256) embeddings: non-negative (ReLU) with unit L2 norm.
        """
        if mels.ndim != 3 or mels.shape[2] != N_MELS:
            raise ValueError(
                f"GE2EEncoder expects (P, T, {N_MELS}) mel partials, got {tuple(mels.shape)}"
            )
        _, (hidden, _) = self.lstm(mels)  # hidden: (LAYERS, P, HIDDEN)
        raw = torch.relu(self.linear(hidden[-1]))  # (P, 256)
        # resemblyzer divides without a floor; an all-zero ReLU output would give NaN there.
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)


def load_ge2e(device: str | torch.device = "cpu", sha256: str | None = None) -> GE2EEncoder:
    """The pretrained GE2E encoder from the installed ``resemblyzer`` wheel, in eval mode.

    Args:
        device: where it runs.
        sha256: the weights file must have this sha256 (hex), e.g. ``ge2e.weights_sha256`` or
            what a trained model recorded; None: any the wheel's RECORD vouches for.

    Raises:
        EncoderUnavailable: the weights are not installed, damaged, other than ``sha256``, or
            lack a layer.
    """
    path, digest = weights_path()
    if sha256 is not None and digest != sha256:
        raise _unavailable(
            f"{path} has sha256 {digest[:16]}..., not the pinned {sha256[:16]}... (another "
            f"release of the weights)"
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise _unavailable(f"{path} holds no 'model_state' dictionary")
    encoder = GE2EEncoder()
    wanted = encoder.state_dict().keys()
    missing = sorted(k for k in wanted if k not in state)
    if missing:
        raise _unavailable(f"{path} lacks the weights {missing[:3]}")
    encoder.load_state_dict({k: state[k] for k in wanted})
    encoder.key = f"ge2e-{digest[:16]}"
    return encoder.to(device).eval()
