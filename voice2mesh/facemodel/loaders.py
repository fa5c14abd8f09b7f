"""One registry of face-model loaders: ``load_model(kind, path, **options)``.

Every entry has the same interface, ``loader(path, **options) -> MorphableModel``:
    synthetic: procedural model, no files (``path`` must be None); options go to
        ``voice2mesh.facemodel.synthetic.build_synthetic_model``.
    sfm: Surrey Face Model ``.npz`` / eos ``.bin`` (``voice2mesh.facemodel.sfm.load_sfm``).
    bfm: dense BFM, 3DDFA-V2 ``.pkl`` or 3DDFA v1 folder (``bfm.load_bfm``).
    bfm68: BFM 68-landmark subspace folder (``bfm.load_bfm68``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice2mesh.config import FaceModelParams
from voice2mesh.facemodel.bfm import load_bfm, load_bfm68
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.sfm import load_sfm


def _load_synthetic(path: Path | None = None, **options: Any) -> MorphableModel:
    """The procedural default model; it reads no file."""
    if path is not None:
        raise ValueError(f"the 'synthetic' face model reads no file; got path {path}")
    # Imported lazily: file-based models must not depend on the procedural model module.
    from voice2mesh.facemodel.synthetic import build_synthetic_model

    _check_options("synthetic", build_synthetic_model, (), options)
    return build_synthetic_model(**options)


LOADERS: dict[str, Callable[..., MorphableModel]] = {
    "synthetic": _load_synthetic,
    "sfm": load_sfm,
    "bfm": load_bfm,
    "bfm68": load_bfm68,
}
FILE_BASED: frozenset[str] = frozenset({"sfm", "bfm", "bfm68"})


def load_model(kind: str, path: Path | str | None = None, **options: Any) -> MorphableModel:
    """Load a face model by registry key.

    Args:
        kind: one of ``LOADERS``.
        path: model file or folder (required for every kind but ``"synthetic"``).
        **options: keyword options of that kind's loader.

    Returns:
        The ``MorphableModel``.

    Raises:
        KeyError: unknown kind (the message lists the known ones).
        ValueError: missing path for a file-based kind.
        FileNotFoundError: the path does not exist.
        TypeError: an option the loader does not accept (the message lists the accepted ones).
    """
    if kind not in LOADERS:
        raise KeyError(f"unknown face model kind {kind!r}; known kinds: {sorted(LOADERS)}")
    loader = LOADERS[kind]
    if kind not in FILE_BASED:
        return loader(None if path is None else Path(path), **options)
    if path is None:
        raise ValueError(
            f"face model kind {kind!r} needs a file: set face_model.path (the `path` argument "
            "of load_model) to the model file or folder"
        )
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"face model {kind!r}: {path} does not exist")
    _check_options(kind, loader, (path,), options)
    return loader(path, **options)


def _check_options(
    kind: str, loader: Callable[..., Any], args: tuple[Any, ...], options: dict[str, Any]
) -> None:
    """Raise a TypeError naming the accepted options if ``loader`` cannot take ``options``."""
    signature = inspect.signature(loader)
    try:
        signature.bind(*args, **options)
    except TypeError as error:
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names = [n for n, p in signature.parameters.items() if p.kind not in variadic]
        accepted = names[len(args) :]
        raise TypeError(
            f"face model {kind!r}: bad options {sorted(options)} ({error}); "
            f"accepted options: {accepted}"
        ) from error


def load_from_params(cfg: FaceModelParams) -> MorphableModel:
    """The model a ``face_model`` params section names, cut to its component counts.

    Args:
        cfg: the params section (kind, path, n_shape, n_expression).
    """
    model = load_model(cfg.kind, cfg.path)
    return model.truncated(cfg.n_shape, cfg.n_expression)
