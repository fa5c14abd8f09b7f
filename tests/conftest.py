"""Shared fixtures: the read-only reference assets and a tiny face-like mesh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# /work/main/tests/conftest.py -> /work/main/../shared/assets; never copied into the repo.
ASSETS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "assets"


REPO = Path(__file__).resolve().parents[1]
PIPELINE_FOLDERS = ("data", "models", "metrics", "reports")  # what `dvc repro` writes


def _pipeline_files() -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of every file the pipeline wrote in this checkout."""
    return {
        str(path.relative_to(REPO)): (path.stat().st_size, path.stat().st_mtime_ns)
        for folder in PIPELINE_FOLDERS
        if (REPO / folder).is_dir()
        for path in (REPO / folder).rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="session", autouse=True)
def pipeline_outputs_untouched():
    """No test may write into the checkout's pipeline outputs (a stage run with a default
    output path would: ``dvc status`` then reports them modified). Fails the session, naming
    the files, when one did."""
    before = _pipeline_files()
    yield
    after = _pipeline_files()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        pytest.fail(
            f"the tests changed {len(changed)} pipeline output(s) of this checkout, e.g. "
            f"{', '.join(changed[:5])}: give the stage a tmp_path for every output param",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The shared reference assets folder; skips the test when it is absent."""
    if not ASSETS_DIR.is_dir():
        pytest.skip(
            f"reference assets not found at {ASSETS_DIR.resolve()} "
            "(they live beside the repository in ../shared/assets and are not distributed)"
        )
    return ASSETS_DIR.resolve()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks and depthwise convolutions run far faster on one torch thread on a busy
    2-core machine than on two that wait on each other (``pytestmark = usefixtures(...)``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class TinyFace:
    """A small symmetric bump surface with face-like landmarks (mm, canonical frame).

    Attributes:
        mean: (N, 3) float32 vertices.
        triangles: (F, 3) int64, counter-clockwise seen from +z.
        landmarks: (68,) int64 vertex ids; eye corners, chin and nose tip are placed where a
            face has them, the rest are arbitrary vertices.
    """

    mean: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray


@pytest.fixture(scope="session")
def tiny_face() -> TinyFace:
    nx, ny = 21, 25
    x, y = np.meshgrid(np.linspace(-90.0, 90.0, nx), np.linspace(-110.0, 110.0, ny))
    z = 60.0 * np.exp(-(x**2 + y**2) / (2 * 70.0**2))
    mean = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)  # (N, 3), v = j*nx + i
    v = (np.arange(ny - 1)[:, None] * nx + np.arange(nx - 1)[None, :]).reshape(-1)
    triangles = np.concatenate(
        [np.stack([v, v + 1, v + nx], 1), np.stack([v + 1, v + nx + 1, v + nx], 1)]
    ).astype(np.int64)

    def nearest(px: float, py: float) -> int:
        return int(np.argmin(np.hypot(mean[:, 0] - px, mean[:, 1] - py)))

    landmarks = np.random.default_rng(0).choice(len(mean), 68, replace=False).astype(np.int64)
    for ibug, (px, py) in {36: (-45, 30), 45: (45, 30), 8: (0, -100), 30: (0, -10)}.items():
        landmarks[ibug] = nearest(px, py)
    return TinyFace(mean, triangles, landmarks)
