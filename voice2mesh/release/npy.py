"""Reading one plain ``.npy`` array of the release, every failure a ``ReleaseFileError``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice2mesh.release.errors import ReleaseFileError

MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file (numpy.lib.format)


def load_npy(path: Path | str, fix: str) -> np.ndarray:
    """The array in ``path``, never unpickled.

    Args:
        path: the file.
        fix: how to write the file right, for the messages.

    Raises:
        ReleaseFileError: code ``unreadable`` for a missing or unreadable file, one that is no
            ``.npy`` (an ``.npz`` included), or one holding pickled objects.
    """
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(MAGIC))
        if magic != MAGIC:
            raise ReleaseFileError(path, f"not an .npy file (no numpy header); {fix}", "unreadable")
        return np.load(path, allow_pickle=False)
    except ValueError as error:  # numpy refuses object arrays without allow_pickle
        raise ReleaseFileError(
            path, f"holds pickled objects, not a plain array; {fix}", "unreadable"
        ) from error
    except (OSError, EOFError) as error:
        raise ReleaseFileError(path, f"cannot be read ({error}); {fix}", "unreadable") from error
