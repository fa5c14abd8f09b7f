"""One checkpoint format for every model, and the resume state of a training run.

A **model checkpoint** (``save_model``) is a finished network, nothing else: its ``kind`` (a
``models.registry.KINDS`` key), its ``arch`` (enough to rebuild it), the trainer's own
``config`` (its params section), the ``params`` that produced it (the sections its stage read,
e.g. ``face_model`` for the mesh it predicts), a small ``meta`` (identities, final metrics) and
the weights. A **resume state** (``save_state``, written by ``train.loop``) also holds the
optimizers and the step; it lives at its own path, so a model path only ever holds a finished
model.

Both are ``torch.save`` archives read with ``weights_only=True`` (no code runs on load), written
atomically from an in-memory buffer (``torch.save`` names its archive after the file; a temp name
would change the bytes run to run). Every load problem is a ``CheckpointError`` whose one-line
message names the file and what to do.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from voice2mesh.io import atomic_path
from voice2mesh.models.registry import KINDS, PREDICTING_KINDS

MODEL_FORMAT = "voice2mesh.model/1"
STATE_FORMAT = "voice2mesh.resume/1"


class CheckpointError(ValueError):
    """A model or resume file that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Checkpoint:
    """A model checkpoint as stored (``read_model``).

    Attributes:
        path: where it was read from.
        kind: a ``KINDS`` key.
        arch: what ``KINDS[kind].build`` needs.
        config: the trainer's params section, as trained.
        params: other params the model depends on (e.g. ``face_model``, ``seed``).
        meta: identities, final metrics, ...
        weights: the ``state_dict``.
    """

    path: Path
    kind: str
    arch: dict
    config: dict
    params: dict
    meta: dict
    weights: dict[str, torch.Tensor]


def _write(path: Path | str, payload: dict) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _read(path: Path | str, what: str, fix: str) -> dict:
    """``torch.load(weights_only=True)`` of ``path``, any failure as a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what}; {fix}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        OSError,
        zipfile.BadZipFile,
        ValueError,
        LookupError,  # garbage through torch's legacy (non-zip) unpickler: memo keys, empty stack
    ) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not zipfile.is_zipfile(path):
            reason = "not a PyTorch zip archive"
        elif "Weights only load failed" in reason:
            reason = "it holds Python objects that a weights-only load refuses"
        raise CheckpointError(
            f"{path}: not a readable {what} ({reason[:160]}); was it truncated or is it another "
            f"file? {fix}"
        ) from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a voice2mesh {what}; {fix}")
    return payload


def save_model(
    path: Path | str,
    kind: str,
    model: nn.Module,
    config: dict,
    params: dict | None = None,
    meta: dict | None = None,
) -> None:
    """Write a finished ``model`` of ``kind`` atomically (module docstring)."""
    spec = KINDS[kind]
    if not isinstance(model, spec.cls):
        raise TypeError(f"save_model: a {kind} checkpoint holds a {spec.cls.__name__}")
    _write(
        path,
        {
            "format": MODEL_FORMAT,
            "kind": kind,
            "arch": spec.arch(model),
            "config": config,
            "params": params or {},
            "meta": meta or {},
            "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
    )


def _wrong_kind(path: Path | str, kind: str, kinds: tuple[str, ...], purpose: str) -> str:
    """ "models/teacher.pt is an image-to-3DMM teacher (...); predict needs a supervised or
    unsupervised model"."""
    names = [k.replace("_", " ") for k in kinds]
    wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    who = f"{purpose} needs" if purpose else "expected"
    return f"{path} is {KINDS[kind].title}; {who} a {wanted} model"


def read_model(
    path: Path | str, kinds: tuple[str, ...] | None = None, purpose: str = ""
) -> Checkpoint:
    """Read a model checkpoint, checking its format and (if given) that its kind is in ``kinds``.

    Args:
        path: the file.
        kinds: the acceptable kinds; None: any.
        purpose: who needs it, for the message ("predict", "train_supervised").
    """
    fix = "train it with `dvc repro` or pass the right file"
    payload = _read(path, "voice2mesh model", fix)
    if payload.get("format") != MODEL_FORMAT:
        hint = (
            "a resume state, not a model"
            if payload.get("format") == STATE_FORMAT
            else "written by an older voice2mesh or another program"
            if "model" in payload or "state_dict" in payload
            else "another program's file"
        )
        raise CheckpointError(f"{path}: not a voice2mesh model ({hint}); {fix}")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r}; known: {', '.join(KINDS)}")
    if kinds is not None and kind not in kinds:
        raise CheckpointError(_wrong_kind(path, kind, kinds, purpose))
    return Checkpoint(
        Path(path),
        kind,
        payload["arch"],
        payload.get("config", {}),
        payload.get("params", {}),
        payload.get("meta", {}),
        payload["weights"],
    )


def build_model(checkpoint: Checkpoint, device: str | torch.device = "cpu") -> nn.Module:
    """The network of ``checkpoint`` with its weights, in eval mode on ``device``."""
    bad = [
        k for k, v in checkpoint.weights.items() if v.is_floating_point() and not v.isfinite().all()
    ]
    if bad:
        more = f" and {len(bad) - 1} more tensors" if len(bad) > 1 else ""
        raise CheckpointError(
            f"{checkpoint.path}: non-finite weights in {bad[0]}{more}; the run that wrote it "
            "diverged: retrain it (e.g. with a lower lr)"
        )
    try:
        with torch.random.fork_rng(devices=[]):  # the throw-away init leaves the global RNG be
            model = KINDS[checkpoint.kind].build(checkpoint.arch)
        model.load_state_dict(checkpoint.weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0][:160]
        raise CheckpointError(
            f"{checkpoint.path}: its weights do not fit its recorded architecture ({first}); "
            "the file is damaged: retrain it"
        ) from error
    return model.to(device).eval()


def load_model(
    path: Path | str,
    device: str | torch.device = "cpu",
    kinds: tuple[str, ...] | None = None,
    purpose: str = "",
) -> nn.Module:
    """``build_model(read_model(path, kinds, purpose), device)``."""
    return build_model(read_model(path, kinds, purpose), device)


def load_predictor(
    path: Path | str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Checkpoint]:
    """A model that maps a voice to 3DMM coefficients (``predict_raw``) and its checkpoint."""
    checkpoint = read_model(path, PREDICTING_KINDS, "predict")
    return build_model(checkpoint, device), checkpoint


def save_state(path: Path | str, state: dict[str, Any]) -> None:
    """Write a training run's resume state (``train.loop``) atomically."""
    _write(path, {"format": STATE_FORMAT, **state})


def read_state(path: Path | str) -> dict[str, Any]:
    """Read a resume state written by ``save_state``."""
    payload = _read(path, "resume state", "delete it to start the run afresh")
    if payload.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a voice2mesh resume state; delete it or fix the path")
    return payload


class ModelCache:
    """Each model file loaded once: several users of one model share it (eval mode)."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = device
        self._loaded: dict[Path, tuple[str, nn.Module]] = {}

    def get(
        self, path: Path | str, kinds: tuple[str, ...] | None = None, purpose: str = ""
    ) -> nn.Module:
        """The model at ``path``, its kind checked against ``kinds`` on every call."""
        key = Path(path).resolve()
        if key not in self._loaded:
            checkpoint = read_model(path)
            self._loaded[key] = (checkpoint.kind, build_model(checkpoint, self.device))
        kind, model = self._loaded[key]
        if kinds is not None and kind not in kinds:
            raise CheckpointError(_wrong_kind(path, kind, kinds, purpose))
        return model
