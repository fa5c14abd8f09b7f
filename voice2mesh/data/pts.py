"""ibug ``.pts`` landmark files (the 300-W / iBUG 68-point format).

A file looks like::

    version: 1
    n_points:  68
    {
    123.456 78.9
    ...
    }

Coordinates follow the 300-W convention: 1-based, so the centre of the top-left pixel is
``(1, 1)``. Inside voice2mesh, image coordinates are continuous with the top-left pixel's
centre at ``(0.5, 0.5)`` (see ``voice2mesh.render.camera``); ``read_pts`` and ``write_pts``
convert, so ``PTS_OFFSET`` lives only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice2mesh.io import write_text

PTS_OFFSET = 0.5  # 300-W 1-based pixel centres minus voice2mesh's 0.5-based ones


class PtsError(ValueError):
    """A malformed .pts file; the message names the file and the line."""


def format_pts(points: np.ndarray) -> str:
    """The text of a .pts file for (K, 2) points in voice2mesh image coordinates."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (K, 2), got {points.shape}")
    rows = "\n".join(f"{x + PTS_OFFSET:.3f} {y + PTS_OFFSET:.3f}" for x, y in points)
    return f"version: 1\nn_points: {len(points)}\n{{\n{rows}\n}}\n"


def write_pts(path: Path | str, points: np.ndarray) -> None:
    """Write (K, 2) points (x, row in voice2mesh image coordinates) as an ibug .pts file."""
    write_text(path, format_pts(points))


def read_pts(path: Path | str, n_points: int | None = 68) -> np.ndarray:
    """Read an ibug .pts file.

    Args:
        path: the file.
        n_points: expected number of points (``None`` accepts any).

    Returns:
        (K, 2) float64 points (x, row) in voice2mesh image coordinates.

    Raises:
        PtsError: for a missing header, braces, a wrong count or a non-numeric line.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header: dict[str, str] = {}
    body: list[tuple[int, str]] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if body is None:
            if line == "{":
                body = []
            elif ":" in line:
                key, value = line.split(":", 1)
                header[key.strip()] = value.strip()
            else:
                raise PtsError(f"{path}:{number}: expected 'key: value' or '{{', got {line!r}")
        elif line == "}":
            break
        else:
            body.append((number, line))
    else:
        raise PtsError(f"{path}: no point block between '{{' and '}}'")
    points = np.empty((len(body), 2))
    for i, (number, line) in enumerate(body):
        parts = line.split()
        try:
            points[i] = [float(parts[0]), float(parts[1])]
        except (ValueError, IndexError):
            raise PtsError(f"{path}:{number}: expected two numbers, got {line!r}") from None
    declared = header.get("n_points")
    if declared is not None and declared.isdigit() and int(declared) != len(points):
        raise PtsError(f"{path}: header says n_points {declared} but {len(points)} are listed")
    if n_points is not None and len(points) != n_points:
        raise PtsError(f"{path}: {len(points)} points, expected {n_points} (ibug 68-point)")
    return points - PTS_OFFSET
