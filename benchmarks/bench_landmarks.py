"""Offline landmarks: ``DlibBackend`` (HOG and CNN detectors) on the reference photos.

Needs ``dlib-bin`` and ``face-recognition-models`` (``pip install dlib-bin
face-recognition-models``) and the photos in ``../shared/assets/images``. For each detector and
photo: the seconds of ``DlibBackend.faces`` on the decoded image (median of ``HOG_RUNS`` for
HOG, ``CNN_RUNS`` for the CNN), the faces found, and on ``image_0010.png`` the normalised error
of the largest face against the hand-annotated ``image_0010.pts``. emma.jpg's three reference
boxes (``../shared/assets/README.md``) count as found by the rule
``tests/landmarks/test_dlib_backend.py`` checks; its helpers (``nme``, ``iou``, the boxes) are
imported from there. Prints markdown::

    python benchmarks/bench_landmarks.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the tests' helpers

from tests.landmarks.test_dlib_backend import EMMA_BOXES, MIN_IOU, iou, nme  # noqa: E402
from voice2mesh.data.pts import read_pts  # noqa: E402
from voice2mesh.landmarks import DlibBackend  # noqa: E402
from voice2mesh.landmarks.base import Face, load_image  # noqa: E402

IMAGES = ROOT / ".." / "shared" / "assets" / "images"
PHOTOS = ("image_0010.png", "emma.jpg", "trump_hillary.jpg", "JianzhuGuo.jpg")
HOG_RUNS, CNN_RUNS = 3, 1
LABELS = {"hog": "dlib, HOG (default)", "cnn": 'dlib, CNN (`detector="cnn"`)'}
RANK = np.argsort(np.argsort(EMMA_BOXES[:, 0] + EMMA_BOXES[:, 2]))  # emma's boxes left to right
SIDE = [("left", "middle", "right")[r] for r in RANK]  # per box, in the README's order


def emma_found(faces: list[Face]) -> list[tuple[float, float] | None]:
    """Per reference box (README order): (IoU, angle) of the one detection whose box centre
    lies inside it when their IoU is >= MIN_IOU, else None (the test's rule)."""
    out, centres = [], [(f.box[:2] + f.box[2:]) / 2 for f in faces]
    for ref in EMMA_BOXES:
        inside = [f for f, c in zip(faces, centres, strict=True) if (ref[:2] <= c).all()
                  and (c <= ref[2:]).all()]  # fmt: skip
        ok = len(inside) == 1 and iou(inside[0].box, ref) >= MIN_IOU
        out.append((iou(inside[0].box, ref), inside[0].angle) if ok else None)
    return out


def emma_cell(faces: list[Face]) -> str:
    """'3 of 3 (IoU ...; the right one only in the copy turned by -20°)'."""
    found = emma_found(faces)
    hits = [f"{x[0]:.2f}" if x else "–" for x in found]
    turned = [f"the {SIDE[i]} one only in the copy turned by {x[1]:g}°"
              for i, x in enumerate(found) if x and x[1] != 0]  # fmt: skip
    extra = len(faces) - sum(x is not None for x in found)
    notes = "; ".join([f"IoU {', '.join(hits)}", *turned] + ([f"{extra} other"] if extra else []))
    return f"{sum(x is not None for x in found)} of {len(EMMA_BOXES)} ({notes})"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(version unknown)"


def timed(backend: DlibBackend, image: np.ndarray, runs: int) -> tuple[float, list[Face]]:
    """(median seconds of ``runs`` calls of ``backend.faces``, the faces found)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        faces = backend.faces(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), faces


def main() -> None:
    missing = [name for name in (*PHOTOS, "image_0010.pts") if not (IMAGES / name).is_file()]
    if missing:
        raise SystemExit(f"{IMAGES.resolve()}: {', '.join(missing)} missing (reference assets)")
    versions = [f"{p} {_version(p)}" for p in ("dlib-bin", "face-recognition-models")]
    images = {name: load_image(IMAGES / name) for name in PHOTOS}
    truth = read_pts(IMAGES / "image_0010.pts")
    load_before = os.getloadavg()[0]
    rows, loads, upright = [], {}, None
    for detector, runs in (("hog", HOG_RUNS), ("cnn", CNN_RUNS)):
        start = time.perf_counter()
        try:
            backend = DlibBackend(detector=detector)
        except (ImportError, FileNotFoundError) as error:  # its message says what to install
            raise SystemExit(f"the dlib landmark backend is unavailable: {error}") from error
        loads[detector] = time.perf_counter() - start
        for name, image in images.items():
            seconds, faces = timed(backend, image, runs)
            error = "–"
            if name == "image_0010.png":  # the largest face, as `detect_landmarks` takes
                error = f"{nme(faces[0].points, truth):.4f}" if faces else "no face"
            found = emma_cell(faces) if name == "emma.jpg" else str(len(faces))
            size = f"{image.shape[1]}×{image.shape[0]}"
            rows.append(f"| {LABELS[detector]} | {name} | {size} | {error} | {found} | "
                        f"{seconds:.2f} |")  # fmt: skip
        if detector == "hog":
            only = DlibBackend(angles=(0.0,)).faces(images["emma.jpg"])
            upright = sum(x is not None for x in emma_found(only))
    load_after = os.getloadavg()[0]
    print(
        f"`DlibBackend` ({', '.join(versions)}) on the reference photos in "
        f"`../shared/assets/images`; {os.cpu_count()}-core {platform.machine()}, load average "
        f"{load_before:.2f} before and {load_after:.2f} after the run, so the times are upper "
        "bounds. Seconds: `DlibBackend.faces` on one decoded image (detection on a copy "
        f"≤ 1280 px, landmarks at full resolution), median of {HOG_RUNS} runs for HOG, "
        f"{CNN_RUNS} for the CNN; loading the models takes {loads['hog']:.2f} s (HOG) and "
        f"{loads['cnn']:.2f} s (CNN) once. Error: mean point error over the outer-eye-corner "
        "distance (ibug points 37 and 46, 1-based) against the hand-annotated "
        "`image_0010.pts`; required ≤ 0.05. emma.jpg: a reference box counts as found when "
        f"exactly one detection's box centre lies inside it and their IoU is ≥ {MIN_IOU} "
        "(dlib's boxes are tight squares, the reference boxes taller); IoUs in the README's "
        f"box order ({', '.join(SIDE)}).\n"
    )
    print("| backend | image | size | normalised error | faces found | seconds |")
    print("|---|---|---:|---:|---|---:|")
    print("\n".join(rows))
    print(
        f"\nUpright HOG alone finds {upright} of emma.jpg's {len(EMMA_BOXES)} faces. MediaPipe's "
        "face mesh against dlib: the next section. Checked by "
        "`tests/landmarks/test_dlib_backend.py` (error ≤ 0.05; the three emma faces)."
    )


if __name__ == "__main__":
    main()
