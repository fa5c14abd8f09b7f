"""Rasterizer speed: median milliseconds per render of a ~10K-triangle face-like mesh.

Prints one markdown table row per configuration (after a numba warm-up render):

    python benchmarks/bench_render.py
"""

from __future__ import annotations

import time

import numpy as np

from voice2mesh.render import fit_pose, render

RUNS = 50


def face_like_mesh(n: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """A bumpy half-ellipsoid height field of n x n vertices and 2 (n - 1)^2 triangles.

    Returns:
        (n*n, 3) vertices in mm and (2 (n - 1)^2, 3) counter-clockwise triangles.
    """
    u, v = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    r2 = np.clip(u**2 + v**2, 0, 1)
    z = 60.0 * np.sqrt(1.0 - 0.9 * r2) + 25.0 * np.exp(-(u**2 + (v + 0.1) ** 2) / 0.02)  # "nose"
    vertices = np.stack([75.0 * u, 95.0 * v, z], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    triangles = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    return vertices, triangles


def time_render(vertices, triangles, size: tuple[int, int], landmarks=None) -> float:
    """Median wall-clock milliseconds of ``RUNS`` renders at yaw 20 degrees."""
    pose = fit_pose(vertices, size, yaw=20.0)
    render(vertices, triangles, pose, size, landmarks=landmarks)  # numba warm-up / cache load
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        render(vertices, triangles, pose, size, landmarks=landmarks)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def main() -> None:
    vertices, triangles = face_like_mesh()
    landmarks = np.linspace(0, len(vertices) - 1, 68).astype(np.int64)
    print("| vertices | triangles | image | landmarks | median ms |")
    print("|---:|---:|---:|:---:|---:|")
    for size, lms in (((128, 128), None), ((128, 128), landmarks), ((256, 256), None)):
        ms = time_render(vertices, triangles, size, lms)
        print(
            f"| {len(vertices)} | {len(triangles)} | {size[0]}x{size[1]} | "
            f"{'68' if lms is not None else '-'} | {ms:.2f} |"
        )


if __name__ == "__main__":
    main()
