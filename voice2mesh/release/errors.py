"""The release importer's errors: one for a whole release, one for a single bad file."""

from __future__ import annotations

from pathlib import Path


class ReleaseError(Exception):
    """A release that cannot be imported as given; the message names the path and the fix."""


class ReleaseFileError(ReleaseError):
    """One file of the release that cannot be used; importing lists it as a reject.

    Attributes:
        path: the file.
        code: short reason for the rejects table (``unreadable``, ``bad_shape``, ...).
    """

    def __init__(self, path: Path | str, message: str, code: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.code = code
