"""Photo → 3D face: ``voice2mesh fit`` vs eos-py on ``image_0010`` with the Surrey Face Model.

Both fitters get the photo's hand-annotated 68 ibug landmarks (``images/image_0010.pts``,
1280x1024) and run on one CPU core (thread variables set before anything loads, torch set to
one thread). Ours is ``voice2mesh.fit_photo.fit_photo``, the code ``voice2mesh fit`` runs (the
``fit3dmm`` stage's MAP fit of pose + 63 shape + 6 expression coefficients); eos is
``eos.fitting.fit_shape_and_pose`` called as ``bench_fitting.py`` calls it, with and without
its contour fitting. The error is the RMS distance between the input landmarks and each fit's
projected landmark vertices over the 50 landmarks the SFM maps (both fitters use them; eos with
contours also fits the jaw line, which is not counted), in pixels and over the outer-eye-corner
distance (ibug 37 and 46). Times: the first call in the process (ours includes torch's and
numba's start-up) and the best of ``REPEATS`` later calls. Then the whole command, as a user
runs it (a fresh Python process: imports, model load, landmarks, fit, .obj and .png written),
with the hand landmarks and with dlib's.

    python benchmarks/bench_fit_cli.py    # needs ../shared/assets and eos-py
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_fitting import ASSETS, Eos  # noqa: E402

from voice2mesh.data.pts import read_pts  # noqa: E402
from voice2mesh.facemodel.loaders import load_model  # noqa: E402
from voice2mesh.fit_photo import EYE_CORNERS, fit_photo  # noqa: E402

REPEATS = 5
PHOTO = ASSETS / "images" / "image_0010.png"
PTS = ASSETS / "images" / "image_0010.pts"
SFM = ASSETS / "sfm" / "sfm_shape_3448.npz"
SIZE = (1280, 1024)  # width x height
ROOT = Path(__file__).resolve().parents[1]


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """(first call s, best of ``REPEATS`` later calls s, the last output)."""
    start = time.perf_counter()
    out = run()
    first, times = time.perf_counter() - start, []
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return first, min(times), out


def rmse(fitted: np.ndarray, points: np.ndarray) -> float:
    """RMS distance in px of (L, 2) fitted and input points."""
    return float(np.sqrt(((fitted - points) ** 2).sum(1).mean()))


def fitter_rows(model, points: np.ndarray) -> tuple[list[tuple], dict[str, np.ndarray]]:
    """Table rows (name, RMSE px, first ms, best ms) and each fitter's (50, 2) landmarks."""
    mapped = model.landmark_valid
    first, best, ours = timed(lambda: fit_photo(model, points, SIZE[1]))
    fits = {"voice2mesh fit (fit3dmm's default fit)": (first, best, ours.fitted[mapped])}
    for contour in (False, True):
        eos = Eos(contour)
        first, best, fit = timed(lambda eos=eos: eos.fit(points, SIZE))
        name = f"eos fit_shape_and_pose, {'contours' if contour else 'no contours'}"
        fits[name] = (first, best, eos.projected(fit, model.landmarks[mapped], SIZE))
    rows = [
        (name, rmse(fitted, points[mapped]), first * 1e3, best * 1e3)
        for name, (first, best, fitted) in fits.items()
    ]
    return rows, {name: fitted for name, (_, _, fitted) in fits.items()}


def command_row(name: str, extra: list[str], folder: Path) -> tuple:
    """(name, the command's JSON record, wall seconds of the whole process)."""
    command = [sys.executable, "-m", "voice2mesh.cli", "fit", str(PHOTO), "--model", "sfm"]
    command += ["--path", str(SFM), "--out", str(folder / "face.obj")]
    command += ["--png", str(folder / "fit.png"), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return name, json.loads(done.stdout), time.perf_counter() - start


def dlib_sentence(model, points: np.ndarray, eyes: float) -> str:
    """How far dlib's landmarks, and our fit to them, lie from the hand annotation."""
    from voice2mesh.landmarks import DlibBackend
    from voice2mesh.landmarks.base import load_image

    detected = DlibBackend().faces(load_image(PHOTO))[0].points
    fit, mapped = fit_photo(model, detected, SIZE[1]), model.landmark_valid
    on_fit, on_dlib = (
        rmse(fit.fitted[mapped], points[mapped]),
        rmse(detected[mapped], points[mapped]),
    )
    return (
        f"Fitted to dlib's landmarks, our fit's landmarks lie {on_fit:.2f} px "
        f"({on_fit / eyes:.4f} of the eye-corner distance) RMS from the hand annotation over the "
        f"{mapped.sum()} mapped points; dlib's own landmarks {on_dlib:.2f} px "
        f"({on_dlib / eyes:.4f})."
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(version unknown)"


def main() -> None:
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    model = load_model("sfm", SFM)
    points = read_pts(PTS)
    eyes = float(np.linalg.norm(points[EYE_CORNERS[0]] - points[EYE_CORNERS[1]]))
    rows, fitted = fitter_rows(model, points)
    print(
        f"image_0010.png with its hand landmarks; RMSE over the SFM's {model.landmark_valid.sum()}"
        f" mapped landmarks (outer-eye-corner distance {eyes:.1f} px).\n"
    )
    print("| fitter (1 CPU core) | RMSE px | RMSE / eye-corner distance | first call ms | ms |")
    print("|---|---:|---:|---:|---:|")
    for name, error, first_ms, best_ms in rows:
        print(f"| {name} | {error:.2f} | {error / eyes:.4f} | {first_ms:.1f} | {best_ms:.1f} |")
    ours, eos = (fitted[name] for name in list(fitted)[:2])
    print(f"\nOur fitted landmarks and eos's (no contours) differ by {rmse(ours, eos):.2f} px RMS.")
    with tempfile.TemporaryDirectory() as folder:
        commands = [
            command_row(
                "hand landmarks (`--pts image_0010.pts`)", ["--pts", str(PTS)], Path(folder)
            ),
            command_row("dlib HOG (default)", [], Path(folder)),
        ]
    print(
        "\n`voice2mesh fit image_0010.png --model sfm --path sfm_shape_3448.npz --out face.obj "
        "--png fit.png`, a fresh process each:\n"
    )
    print("| landmarks | RMSE px | / eye-corner distance | detect s | fit s | command s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, record, wall in commands:
        print(
            f"| {name} | {record['rmse_px']:.2f} | {record['rmse_eye_corners']:.4f} | "
            f"{record['detect_s']:.2f} | {record['fit_s']:.2f} | {record['total_s']:.2f} | "
            f"{wall:.2f} |"
        )
    print(f"\n{dlib_sentence(model, points, eyes)}")
    versions = ", ".join(f"{p} {_version(p)}" for p in ("eos-py", "dlib-bin", "numpy", "torch"))
    print(
        f"\n{versions}; {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load_before:.2f} before and {os.getloadavg()[0]:.2f} after the run (times are upper "
        "bounds when it is above 0)."
    )


if __name__ == "__main__":
    main()
