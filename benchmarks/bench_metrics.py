"""Evaluation speed of the paper's metrics at the paper's scale: 301 identities x 3 utterances.

References are the real BFM mean (53,215 vertices, ``../shared/assets/bfm68``) with a random
smooth deformation per identity (amplitude ~4 mm); each of an identity's three predictions
is its reference with another smooth deformation (~2 mm) and a small rigid motion (<= 3°,
<= 2 mm). Timed with the default ``IcpSettings``: ARE, NME, whole-mesh ICP RMSE (Table 3)
and per-part ICP RMSE (Table 4, six parts); the mean value of each metric is printed too.
Each metric runs ``REPEATS`` times; the median wall time is reported, with the median CPU
time of the process (the machine is shared: wall time grows with its load, CPU time less so).
A first run on a fresh checkout also compiles the numba kernels (tens of seconds, once;
numba caches them next to the sources), which the median leaves out.

    python benchmarks/bench_metrics.py    # skips with a message when the assets are absent
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from voice2mesh.facemodel.bfm import load_bfm_mean
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.semantics import BFM_PAIRS, derive_regions
from voice2mesh.metrics import are, icp_rmse, nme, part_rmse

ASSETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "assets"
N_IDENTITIES, N_UTTERANCES = 301, 3
N_FIELDS = 8  # smooth deformation fields combined per face
REPEATS = 3


def mean_model(folder: Path) -> MorphableModel:
    """The BFM mean as a model without bases (the metrics read only its mesh and semantics)."""
    mean, triangles, landmarks = load_bfm_mean(folder)
    return MorphableModel.without_basis(
        "bfm-mean",
        mean,
        triangles=triangles,
        landmarks=landmarks,
        pairs=dict(BFM_PAIRS),
        regions=derive_regions(mean, landmarks),
        source=folder,
    )


def smooth_fields(vertices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(K, N, 3) unit-amplitude sinusoidal displacement fields with wavelengths of 6-30 cm."""
    freq = rng.normal(size=(N_FIELDS, 3, 3)) / 40.0  # rad/mm
    phase = rng.uniform(0.0, 2 * np.pi, (N_FIELDS, 1, 3))
    return np.sin(np.einsum("nj,kjc->knc", vertices, freq) + phase).astype(np.float32)


def deformed(base: np.ndarray, fields: np.ndarray, amplitude: float, rng) -> np.ndarray:
    """(B, N, 3) = base (B, N, 3) + random combinations of the fields (RMS ~amplitude)."""
    coeff = rng.normal(size=(len(base), len(fields))) * amplitude / np.sqrt(len(fields))
    return base + np.einsum("bk,knc->bnc", coeff.astype(np.float32), fields)


def rigid_motion(vertices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B, N, 3) vertices each rotated by <= 3° about a random axis and shifted <= 2 mm."""
    axis = rng.normal(size=(len(vertices), 3))
    angle = np.deg2rad(rng.uniform(-3, 3, len(vertices)))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    K = np.cross(np.eye(3)[None, :, :], axis[:, None, :])  # (B, 3, 3), K @ v = axis x v
    R = np.eye(3) + np.sin(angle)[:, None, None] * K + (1 - np.cos(angle))[:, None, None] * K @ K
    shift = rng.uniform(-2, 2, (len(vertices), 1, 3)) / np.sqrt(3)
    return (np.einsum("bij,bnj->bni", R.astype(np.float32), vertices) + shift).astype(np.float32)


def timed(fn, *args, **kw) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``REPEATS`` calls, and the result."""
    wall, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kw)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu)), result


def main() -> None:
    folder = ASSETS / "bfm68"
    if not folder.is_dir():
        print(f"skipped: BFM assets not found at {folder.resolve()}")
        return
    load = os.getloadavg()
    model = mean_model(folder)
    rng = np.random.default_rng(0)
    fields = smooth_fields(model.mean, rng)
    refs = deformed(np.repeat(model.mean[None], N_IDENTITIES, 0), fields, 4.0, rng)  # (R, N, 3)
    ref_index = np.repeat(np.arange(N_IDENTITIES), N_UTTERANCES)  # (B,)
    preds = rigid_motion(deformed(refs[ref_index], fields, 2.0, rng), rng)  # (B, N, 3)

    rows = []
    for name, fn in (("ARE", are), ("NME", nme), ("ICP whole mesh", icp_rmse)):
        seconds, cpu, value = timed(fn, model, preds, refs, ref_index=ref_index)
        mean = value["mean"] if isinstance(value, dict) else value
        rows.append((name, seconds, cpu, f"{np.mean(mean):.4g}"))
    seconds, cpu, parts = timed(part_rmse, model, preds, refs, ref_index=ref_index)
    means = ", ".join(f"{np.mean(v):.3g}" for v in parts.values())
    rows.append(("ICP parts (6)", seconds, cpu, means))

    print(
        f"{len(preds)} predictions ({N_IDENTITIES} references x {N_UTTERANCES}), "
        f"{model.n_vertices} vertices, default settings, one process, median of {REPEATS} "
        f"runs; load average {load[0]:.2f} before and {os.getloadavg()[0]:.2f} after "
        "(wall time grows with it)\n"
    )
    print("| metric | wall s | CPU s | mean value |")
    print("| --- | ---: | ---: | --- |")
    for name, seconds, cpu, value in rows:
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {value} |")
    total, total_cpu = (sum(row[k] for row in rows) for k in (1, 2))
    print(f"| total | {total:.2f} | {total_cpu:.2f} | |")


if __name__ == "__main__":
    main()
