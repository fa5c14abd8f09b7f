"""``voice2mesh detect IMAGE --out OUT.pts``: every face of a photo as ibug .pts files.

The largest face (by detector box area) goes to ``OUT.pts``, the next ones to ``OUT_1.pts``,
``OUT_2.pts``, ... beside it; stdout gets one JSON line per face (file, box, score). Files of
an earlier run with more faces are left alone (not deleted). This module sits beside ``cli.py``,
not in ``landmarks/``, so that editing it does not rerun the stages that depend on that package.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from voice2mesh.data.pts import write_pts
from voice2mesh.landmarks.base import LandmarkError, load_image
from voice2mesh.landmarks.dlib_backend import DlibBackend

# Backends that report every face of a photo (``faces(image) -> list[Face]``), by CLI name.
FACE_BACKENDS = {"dlib": DlibBackend}

NAMING = (
    "files: OUT.pts holds the largest face, OUT_1.pts, OUT_2.pts, ... the next ones by box area. "
    "stdout: one JSON line per face, in that order: pts file, box [x1, y1, x2, y2] in pixels, "
    "detector score."
)


class DetectError(Exception):
    """A problem the user can fix (no such photo, no face, a backend not installed)."""


def out_paths(out: Path, count: int) -> list[Path]:
    """``out`` for the largest face, then ``<stem>_1<suffix>``, ``<stem>_2<suffix>``, ..."""
    return [out if k == 0 else out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(count)]


def add_detect_parser(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser, check_output: Callable
) -> None:
    """Register ``detect`` on the ``voice2mesh`` sub-command set; ``check_output`` is the
    CLI's own (passed in, not imported: ``python -m voice2mesh.cli`` runs it as ``__main__``)."""
    detect = commands.add_parser(
        "detect",
        help="68 ibug landmarks of every face in a photo (.pts files)",
        parents=[common],
        description="Every face in a photo, largest first, as ibug 68-point .pts files.",
        epilog=NAMING,
    )
    detect.add_argument("image", type=Path, help="photo (any format Pillow reads)")
    detect.add_argument("--out", type=Path, required=True, help="OUT.pts (largest face); see below")
    detect.add_argument(
        "--backend",
        choices=sorted(FACE_BACKENDS),
        default="dlib",
        help="landmark backend (weights offline)",
    )
    detect.add_argument(
        "--detector",
        choices=["hog", "cnn"],
        default="hog",
        help="dlib's face detector: hog (fast) or cnn (seconds per photo, more poses)",
    )
    detect.set_defaults(handler=partial(detect_command, check_output=check_output))


def detect_command(args: argparse.Namespace, check_output: Callable) -> int:
    """Detect, write the .pts files, print the boxes; exit status 0.

    Raises:
        DetectError: no such photo, an unreadable one, no face, or the backend not installed.
    """
    if not args.image.is_file():
        raise DetectError(f"{args.image}: no such file; check the photo's path")
    check_output(args.out, (".pts",), "--out", (args.image,))
    try:
        backend = FACE_BACKENDS[args.backend](detector=args.detector)
        faces = backend.faces(load_image(args.image))
    except (ImportError, LandmarkError) as error:
        raise DetectError(str(error)) from error
    if not faces:
        hint = "; try --detector cnn" if args.detector == "hog" else ""
        raise DetectError(f"{args.image}: no face found{hint}")
    for path, face in zip(out_paths(args.out, len(faces)), faces, strict=True):
        write_pts(check_output(path, (".pts",), "--out", (args.image,)), face.points)
        box = [round(float(v), 1) for v in face.box]
        print(json.dumps({"pts": str(path), "box": box, "score": round(face.score, 3)}))
    print(f"wrote {len(faces)} .pts file(s) for {args.image}", file=sys.stderr)
    return 0
