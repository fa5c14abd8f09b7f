"""Mesh files: OBJ and PLY export/import through trimesh, keeping vertex order.

trimesh is always called with ``process=False`` so that vertices are neither merged nor
reordered: row ``i`` of a saved mesh is vertex ``i`` of the face model, which keeps landmark
and region ids valid after a round trip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from voice2mesh.io import atomic_path

SUFFIXES: tuple[str, ...] = (".obj", ".ply")


def export_mesh(
    path: str | Path,
    vertices: np.ndarray,
    triangles: np.ndarray,
    colors: np.ndarray | None = None,
) -> Path:
    """Write a triangle mesh as .obj or .ply (chosen by suffix), atomically.

    Args:
        path: destination ending in .obj or .ply (any case); parent folders are created.
        vertices: (N, 3) vertices.
        triangles: (F, 3) vertex ids.
        colors: optional (N, 3) per-vertex RGB, floats in [0, 1] or uint8.

    Returns:
        The destination path.
    """
    path = Path(path)
    file_type = _file_type(path)
    vertices = np.asarray(vertices, np.float64)
    triangles = np.asarray(triangles, np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{path}: vertices must be (N, 3), got {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"{path}: triangles must be (F, 3), got {triangles.shape}")
    mesh = trimesh.Trimesh(
        vertices, triangles, vertex_colors=_colors_u8(colors, len(vertices), path), process=False
    )
    data = mesh.export(file_type=file_type)
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return path


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an .obj or .ply triangle mesh without reordering its vertices.

    Args:
        path: an existing .obj or .ply file.

    Returns:
        ``(vertices, triangles)``: (N, 3) float64 and (F, 3) int64.
    """
    path = Path(path)
    file_type = _file_type(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file not found: {path}")
    mesh = trimesh.load(path, file_type=file_type, process=False, force="mesh")
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


def _file_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"{path}: unsupported mesh suffix {path.suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    return suffix[1:]


def _colors_u8(colors: np.ndarray | None, n: int, path: Path) -> np.ndarray | None:
    if colors is None:
        return None
    colors = np.asarray(colors)
    if colors.shape != (n, 3):
        raise ValueError(f"{path}: colors must be (N, 3) = ({n}, 3), got {colors.shape}")
    if colors.dtype == np.uint8:
        return colors
    return np.round(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)
