"""Atomic writers shared by stages: a file or a whole folder is built aside, then renamed in.

A stage killed mid-way (outside ``dvc repro``, which deletes outputs first) must not leave a
folder that mixes new and old files: ``atomic_dir`` builds the folder as a hidden sibling and
moves it into place whole, so readers see the previous complete folder, or none, or the new one.
``write_npz`` writes the ``.npz`` files of sharded outputs with fixed member timestamps, so that
the same arrays always give the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: deterministic ``.npz`` bytes


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _remove_stale_siblings(path: Path) -> None:
    """Delete ``.<name>.tmp-*`` / ``.<name>.old-*`` folders left by a killed ``atomic_dir``."""
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for stale in path.parent.glob(pattern):
            _remove(stale)


def _check_replaceable(path: Path, owns: tuple[str, ...]) -> None:
    """Refuse to replace anything but a folder holding only names that match ``owns``."""
    if not path.exists():
        return
    if not path.is_dir():
        raise FileExistsError(f"{path} is a file, not an output folder; refusing to replace it")
    foreign = sorted(p.name for p in path.iterdir() if not any(p.match(o) for o in owns))
    if foreign:
        raise FileExistsError(
            f"{path} holds {foreign[0]!r}, which this stage does not write; refusing to replace "
            "the folder. Point the stage's output at a new folder, or empty this one"
        )


@contextmanager
def atomic_dir(path: Path | str, owns: tuple[str, ...] = ("*",)) -> Iterator[Path]:
    """Yield a fresh, empty folder beside ``path``; on success it replaces ``path`` whole.

    The folder is ``<parent>/.<name>.tmp-XXXXXXXX``. When the block succeeds, the old ``path``
    (if any) is renamed aside to ``.<name>.old-XXXXXXXX``, the new folder is renamed to
    ``path`` and the old one is deleted; when the block raises, the new folder is deleted and
    ``path`` is left as it was. A run killed mid-way leaves at most a hidden sibling, which the
    next ``atomic_dir`` on the same path deletes (one writer per path at a time). Only the
    folder's name changes on the way, so nothing written inside depends on the temporary name
    unless the caller writes it into a file.

    Args:
        path: the output folder (created with its parents as needed).
        owns: glob patterns of the names the stage writes in it; an existing ``path`` holding
            anything else is refused before any work (an output pointed at other data by mistake
            is never deleted).

    Yields:
        The temporary folder to write into.

    Raises:
        FileExistsError: ``path`` is a file, or holds names that ``owns`` does not match.
    """
    path = Path(path)
    _check_replaceable(path, owns)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = tmp.with_name(tmp.name.replace(".tmp-", ".old-", 1))
    if path.exists() or path.is_symlink():
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old.exists() or old.is_symlink():
            os.replace(old, path)  # put the previous folder back
        raise
    if old.exists() or old.is_symlink():
        _remove(old)


class MixedOutputError(ValueError):
    """A stage's output folder whose files disagree: files of two runs, or a damaged folder."""


def check_same_rows(
    folder: Path, what: str, stored: Iterable[object], expected: Iterable[object], stage: str
) -> None:
    """Raise ``MixedOutputError`` unless two key sequences are equal element by element.

    Args:
        folder: the output folder, for the message.
        what: which files disagree, e.g. ``"shard paths and index.csv"``.
        stored: (M,) keys stored with the arrays.
        expected: (M,) keys of the index table.
        stage: the DVC stage that rewrites ``folder``.
    """
    stored, expected = [str(k) for k in stored], [str(k) for k in expected]
    if stored == expected:
        return
    if len(stored) != len(expected):
        detail = f"{len(stored)} vs {len(expected)} rows"
    else:
        row = next(i for i, (a, b) in enumerate(zip(stored, expected, strict=True)) if a != b)
        detail = f"row {row}: {stored[row]!r} vs {expected[row]!r}"
    raise MixedOutputError(
        f"{folder}: {what} disagree ({detail}); the folder mixes files of different runs or is "
        f"damaged, re-run `dvc repro {stage}`"
    )


def write_npz(path: Path, arrays: Mapping[str, np.ndarray], compress: bool = False) -> None:
    """Write ``arrays`` as an ``.npz`` (``np.load`` reads it) whose bytes depend on them alone.

    ``np.savez`` leaves the member timestamps to ``zipfile``; here they are fixed
    (``ZIP_TIME``) and the members follow the order of ``arrays``, so equal inputs give equal
    files. ``compress`` deflates the members (landmarks and fits shrink; log-mel barely does).
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            member.compress_type = method
            with archive.open(member, "w", force_zip64=True) as handle:
                array = np.asarray(array)  # C order; 0-d arrays stay 0-d
                array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
                np.lib.format.write_array(handle, array, allow_pickle=False)


def shard_name(k: int) -> str:
    """The file name of shard ``k`` of a sharded output folder."""
    return f"shard_{k:05d}.npz"


def shard_files(folder: Path, shard_of_row: Iterable[int], stage: str) -> list[Path]:
    """The shard files of ``folder``, in order, checked against index.csv's ``shard`` column.

    Args:
        folder: a sharded output folder (``shard_00000.npz``, ``shard_00001.npz``, ...).
        shard_of_row: (M,) the shard of each index row; rows must come shard by shard.
        stage: the DVC stage that rewrites ``folder``.

    Raises:
        MixedOutputError: no shard, a gap in their numbers, or an index naming shards out of
            order or absent.
    """
    files = sorted(folder.glob("shard_*.npz"))
    fix = f"re-run `dvc repro {stage}`"
    if not files:
        raise MixedOutputError(f"{folder} holds no shard_*.npz (an older layout?); {fix}")
    if [p.name for p in files] != [shard_name(k) for k in range(len(files))]:
        raise MixedOutputError(
            f"{folder}: the shard files are not numbered 0 to {len(files) - 1} without a gap "
            f"({files[-1].name} is the last); the folder is damaged, {fix}"
        )
    shards = np.fromiter(shard_of_row, np.int64)
    if (np.diff(shards) < 0).any() or (len(shards) and not 0 <= shards[-1] < len(files)):
        raise MixedOutputError(
            f"{folder}: index.csv's shard column is out of order or names a shard beyond "
            f"{files[-1].name}; the folder mixes files of different runs or is damaged, {fix}"
        )
    return files


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path | str, data: object) -> None:
    """Write ``data`` as sorted, indented JSON atomically (deterministic bytes)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_rows(path: Path | str, rows: list[dict], columns: list[str]) -> None:
    """Write dict rows as CSV with the given column order, atomically (training curves)."""
    import pandas as pd

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
