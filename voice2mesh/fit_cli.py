"""``voice2mesh fit IMAGE --model sfm --path sfm_shape_3448.npz --out face.obj --png fit.png``.

Photo → 3D face: the 68 ibug landmarks of the photo's largest face (dlib, as ``voice2mesh
detect``; or ``--pts FILE``, e.g. a hand annotation or a ``detect`` output), the ``fit3dmm``
stage's MAP fit of pose + shape + expression (``voice2mesh.fit_photo``), then

* ``--out``: the fitted mesh (.obj or .ply) in the model's canonical frame (mm; the pose is in
  the JSON). A landmark-only model (``bfm68``) has no mesh: ``--out`` is refused before any work;
* ``--png``: the photo around the face with the fitted mesh shaded over it, the input landmarks
  (green) and the fitted ones (blue);
* stdout: one JSON object: the landmark RMSE in pixels and over the outer-eye-corner distance
  (ibug 37 and 46), the pose angles, convergence, and the seconds spent detecting and fitting.

This module sits beside ``cli.py``, not in ``fitting/``, so that editing it does not rerun the
stages that depend on that package.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from voice2mesh.data.pts import PtsError, read_pts
from voice2mesh.detect_cli import FACE_BACKENDS
from voice2mesh.facemodel.loaders import LOADERS
from voice2mesh.landmarks.base import LandmarkError, load_image
from voice2mesh.render.export import SUFFIXES as MESH_SUFFIXES

log = logging.getLogger(__name__)

OUTPUT = (
    "stdout: one JSON object: landmarks (where they came from), landmarks_used (the model's "
    "mapped ones: 50 of 68 for the SFM), rmse_px, rmse_eye_corners (rmse_px over the distance "
    "of ibug points 37 and 46), face_size_px, yaw/pitch/roll (degrees), converged, pose "
    "([sR | t], 3x4, x right, y up from the image bottom), detect_s, fit_s, total_s (from the "
    "command's start, after Python's imports)."
)


class FitError(Exception):
    """A problem the user can fix (no photo, bad .pts, no face, a model without a mesh)."""


def add_fit_parser(
    commands: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    check_output: Callable,
    face_model: Callable,
) -> None:
    """Register ``fit`` on the ``voice2mesh`` sub-command set; ``check_output`` and
    ``face_model`` are the CLI's own (passed in: ``python -m voice2mesh.cli`` runs it as
    ``__main__``)."""
    fit = commands.add_parser(
        "fit",
        help="fit a 3D face model to a photo's landmarks (mesh, overlay, RMSE)",
        parents=[common],
        description="Photo -> 3D face: 68 landmarks (dlib or --pts), MAP 3DMM fit, mesh.",
        epilog=OUTPUT,
    )
    fit.add_argument("image", type=Path, help="photo (any format Pillow reads)")
    fit.add_argument(
        "--model",
        choices=sorted(LOADERS),
        default="synthetic",
        help="face model (default synthetic; the others need --path)",
    )
    fit.add_argument("--path", type=Path, default=None, help="model file or folder")
    fit.add_argument(
        "--pts", type=Path, default=None, help="ibug 68-point .pts landmarks (default: dlib)"
    )
    fit.add_argument("--out", type=Path, default=None, help="mesh to write (.obj or .ply)")
    fit.add_argument("--png", type=Path, default=None, help="overlay picture to write")
    fit.add_argument(
        "--size", type=_at_least(64), default=512, help="--png's longer side, px (512)"
    )
    fit.add_argument(
        "--detector",
        choices=["hog", "cnn"],
        default="hog",
        help="dlib's face detector: hog (fast) or cnn (seconds per photo, more poses)",
    )
    fit.add_argument(
        "--landmark-sigma",
        type=_positive,
        default=0.02,
        help="landmark noise, fraction of the face size (fit3dmm.landmark_sigma); larger: "
        "closer to the mean face",
    )
    fit.set_defaults(
        handler=partial(fit_command, check_output=check_output, load_face_model=face_model)
    )


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if int(text) < low:
            raise argparse.ArgumentTypeError(f"{text} must be >= {low}")
        return int(text)

    return parse


def _positive(text: str) -> float:
    if not float(text) > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return float(text)


def fit_command(args: argparse.Namespace, check_output: Callable, load_face_model: Callable) -> int:
    """Check the inputs and outputs, find the landmarks, fit, write, print; exit status 0.

    Raises:
        FitError: a missing photo or .pts, a malformed .pts, no face, dlib not installed,
            ``--out`` with a landmark-only model, or a fit without finite parameters.
    """
    from voice2mesh.fit_photo import fit_overlay, fit_photo, fitted_vertices
    from voice2mesh.fitting import diverged_reasons
    from voice2mesh.render import export_mesh, save_png

    start = time.perf_counter()
    for path, what in ((args.image, "photo"), (args.pts, "landmark file")):
        if path is not None and not path.is_file():
            raise FitError(f"{path}: no such file; check the {what}'s path")
    inputs = (args.image, args.pts, args.path)
    out = None if args.out is None else check_output(args.out, MESH_SUFFIXES, "--out", inputs)
    png = None if args.png is None else check_output(args.png, (".png",), "--png", inputs)
    face_model = load_face_model(args.model, args.path, "--model and --path")
    if out is not None and not face_model.dense:
        raise FitError(
            f"{args.path or args.model}: the {args.model!r} model has only its 68 landmarks, no "
            f"mesh for --out {out}; use a dense model (--model sfm or bfm), or drop --out "
            "(--png shows the fitted landmarks)"
        )
    try:
        image = load_image(args.image)
    except LandmarkError as error:
        raise FitError(f"{error}; check that it is a photo") from error
    points, source, detect_s = _landmarks(args, image)
    fit = fit_photo(face_model, points, image.shape[0], args.landmark_sigma)
    (reason,) = diverged_reasons(fit.result)
    if not fit.finite:
        raise FitError(f"{source}: the fit failed ({reason}); check the landmarks")
    if reason is not None:
        log.warning("%s: doubtful fit: %s", args.image, reason)
    if out is not None:
        export_mesh(out, fitted_vertices(face_model, fit), face_model.triangles)
        print(f"wrote {out} ({face_model.n_vertices} vertices)", file=sys.stderr)
    if png is not None:
        save_png(png, fit_overlay(image, face_model, fit, args.size))
        print(f"wrote {png}", file=sys.stderr)
    print(json.dumps(_summary(args, fit, source, detect_s, time.perf_counter() - start)))
    return 0


def _landmarks(args: argparse.Namespace, image: np.ndarray) -> tuple[np.ndarray, str, float]:
    """(68, 2) landmarks (x, row), where they came from, and the seconds spent finding them."""
    start = time.perf_counter()
    if args.pts is not None:
        try:
            points = read_pts(args.pts)
        except PtsError as error:
            raise FitError(f"{error}; give an ibug 68-point .pts file") from error
        return points, str(args.pts), time.perf_counter() - start
    try:
        faces = FACE_BACKENDS["dlib"](detector=args.detector).faces(image)
    except (ImportError, LandmarkError) as error:
        raise FitError(f"{error}; or give the landmarks with --pts FILE") from error
    if not faces:
        hint = "--detector cnn, or " if args.detector == "hog" else ""
        raise FitError(f"{args.image}: no face found; try {hint}give the landmarks with --pts")
    if len(faces) > 1:
        log.info("%s: %d faces; fitting the largest", args.image, len(faces))
    return faces[0].points, f"dlib ({args.detector})", time.perf_counter() - start


def _summary(args: argparse.Namespace, fit, source: str, detect_s: float, total_s: float) -> dict:
    """The JSON record printed on stdout (``OUTPUT``)."""
    r = fit.result

    def number(value: float, digits: int) -> float | None:
        return round(float(value), digits) if np.isfinite(value) else None

    return {
        "image": str(args.image),
        "landmarks": source,
        "model": args.model,
        "landmarks_used": int(fit.used.sum()),
        "rmse_px": number(fit.rmse_px, 3),
        "rmse_eye_corners": number(fit.rmse_eye, 4),
        "face_size_px": number(r.face_size_px[0], 1),
        "yaw": number(r.yaw[0], 2),
        "pitch": number(r.pitch[0], 2),
        "roll": number(r.roll[0], 2),
        "converged": bool(r.converged[0]),
        "pose": np.round(r.pose[0], 5).tolist(),
        "detect_s": round(detect_s, 3),
        "fit_s": round(fit.seconds, 3),
        "total_s": round(total_s, 3),
    }
