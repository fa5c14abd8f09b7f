"""Offline landmarks: MediaPipe's face mesh (0.10.14) against dlib's HOG backend, side by side.

MediaPipe is not a project dependency (0.10.14 pulls in jax, opencv-contrib-python, matplotlib,
...), so this runs in a throwaway venv and calls the project's own interpreter for the rest::

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.14 numpy pillow
    /tmp/mpvenv/bin/python benchmarks/bench_mediapipe.py [--project-python .venv/bin/python]

In the MediaPipe venv: the legacy ``solutions.face_mesh.FaceMesh`` (static images, up to 5 faces,
no iris refinement; its weights ship in the wheel) on each photo of ``../shared/assets/images``,
seconds per photo (median of ``RUNS`` calls of ``process``) and its 468 points per face. Those go
as JSON on stdin to ``--score`` in the project's venv, which runs ``DlibBackend`` (HOG, the
default) on the same photos and scores both with the functions ``bench_landmarks.py`` uses
(``nme``, ``iou`` and the emma rule), so the two are measured by one rule in one run. Prints
markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import distributions
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / ".." / "shared" / "assets" / "images"
PHOTOS = ("image_0010.png", "emma.jpg", "trump_hillary.jpg", "JianzhuGuo.jpg")
RUNS = 3
INSTALL = (
    "python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.14 numpy pillow"
)
MAPPING_SOURCE = "PeizhiYan/Mediapipe_2_Dlib_Landmarks (mediapipe2dlib/mp2dlib.py, 2024)"

# The 68 ibug points (1-based in the comments) as MediaPipe face-mesh vertex ids; two ids: their
# mean. Source: github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks, mediapipe2dlib/mp2dlib.py.
# Points 18-68 (brows, nose, eyes, lips) have mesh vertices at the same anatomical spot. The jaw
# (1-17) has no exact counterpart: ibug's contour is the visible outline, which slides over the
# face as the head turns, while a mesh vertex stays on the skin; the table takes fixed vertices
# of the mesh's face oval at about the ibug points' heights (two neighbours averaged where the
# ibug point falls between them), right for frontal faces only. Hence the 51-point error too.
MESH_TO_IBUG: tuple[tuple[int, ...], ...] = (
    # jaw 1-17, from the subject's right ear down to the chin (9) and up to the left ear
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    (70,), (63,), (105,), (66,), (107,),  # right brow 18-22, outer to inner
    (336,), (296,), (334,), (293,), (300,),  # left brow 23-27, inner to outer
    (168, 6), (197, 195), (5,), (4,),  # nose bridge 28-31, top to tip
    (75,), (97,), (2,), (326,), (305,),  # nostrils 32-36, right to left
    (33,), (160,), (158,), (133,), (153,), (144,),  # right eye 37-42 from the outer corner
    (362,), (385,), (387,), (263,), (373,), (380,),  # left eye 43-48 from the inner corner
    (61,), (39,), (37,), (0,), (267,), (269,), (291,),  # outer lips 49-55, upper
    (321,), (314,), (17,), (84,), (91,),  # outer lips 56-60, lower
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),  # inner lips 61-68
)  # fmt: skip
INNER = slice(17, 68)  # ibug 18-68: everything but the jaw
PARTS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36),
         "eyes": slice(36, 48), "lips": slice(48, 68)}  # fmt: skip


def to_ibug(mesh: np.ndarray) -> np.ndarray:
    """(68, 2) ibug points of one (468, 2) mesh by ``MESH_TO_IBUG``."""
    return np.stack([mesh[list(ids)].mean(axis=0) for ids in MESH_TO_IBUG])


def part_error(points: np.ndarray, truth: np.ndarray, part: slice) -> float:
    """``nme`` over the (68, 2) points in ``part`` only, still over the whole face's outer-eye-
    corner distance (``nme`` of sliced arrays would take the slice's 37th and 46th rows)."""
    error = np.linalg.norm(points[part] - truth[part], axis=1).mean()
    return float(error / np.linalg.norm(truth[36] - truth[45]))


def run_mediapipe() -> dict:
    """Meshes, seconds and image sizes per photo, plus versions and installed sizes (JSON-able).

    Landmarks come normalised by the image's width and height; ×(W, H) gives image coordinates
    with pixel edges on integers, voice2mesh's convention (top-left pixel centre at 0.5).
    """
    try:
        import mediapipe as mp
    except ImportError as error:
        raise SystemExit(
            f"mediapipe is not importable by {sys.executable} ({error}). Run this benchmark "
            f"with the interpreter of a venv that has it: {INSTALL}"
        ) from error
    start = time.perf_counter()
    mesher = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=5, refine_landmarks=False
    )
    mesher.process(np.zeros((64, 64, 3), np.uint8))  # the graph starts on the first call
    load = time.perf_counter() - start
    photos = {}
    for name in PHOTOS:
        with Image.open(IMAGES / name) as file:
            image = np.ascontiguousarray(file.convert("RGB"))  # (H, W, 3) uint8
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            result = mesher.process(image)
            times.append(time.perf_counter() - start)
        scale = np.array([image.shape[1], image.shape[0]], float)
        meshes = [
            (np.array([(p.x, p.y) for p in face.landmark]) * scale).tolist()  # (468, 2)
            for face in result.multi_face_landmarks or []
        ]
        photos[name] = {
            "size": image.shape[:2],
            "seconds": float(np.median(times)),
            "meshes": meshes,
        }
    mesher.close()
    return {"version": mp.__version__, "load": load, "photos": photos, "installed": installed()}


def installed() -> list[tuple[str, str, int]]:
    """(name, version, bytes on disk) of every distribution in this interpreter's environment."""
    out = []
    for dist in distributions():
        files = [dist.locate_file(f) for f in dist.files or []]
        size = sum(Path(f).stat().st_size for f in files if Path(f).is_file())
        out.append((dist.metadata["Name"], dist.version, size))
    return sorted(out, key=lambda row: -row[2])


def mesh_faces(meshes: list, face_type: type) -> dict[str, list]:
    """MediaPipe's meshes as ``Face``s, largest first, boxed by their 68 ibug points or all 468.

    ``score`` is NaN (the mesh has none per face) and ``angle`` 0 (no turned copies).
    """
    out = {}
    for boxed_by in ("68", "468"):
        faces = []
        for mesh in map(np.asarray, meshes):
            points = to_ibug(mesh)
            hull = points if boxed_by == "68" else mesh
            box = np.concatenate([hull.min(axis=0), hull.max(axis=0)])
            faces.append(face_type(box=box, points=points, score=float("nan"), angle=0.0))
        out[boxed_by] = sorted(faces, key=lambda f: -np.prod(f.box[2:] - f.box[:2]))
    return out


def score(measured: dict) -> None:
    """Run dlib (HOG) on the photos, score both backends and print the markdown section.

    Runs in the project's venv, where ``voice2mesh`` and the tests' helpers import.
    """
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from bench_landmarks import HOG_RUNS, SIDE, emma_cell, timed

    from tests.landmarks.test_dlib_backend import nme
    from voice2mesh.data.pts import read_pts
    from voice2mesh.landmarks import DlibBackend
    from voice2mesh.landmarks.base import Face, load_image

    truth = read_pts(IMAGES / "image_0010.pts")
    try:
        dlib = DlibBackend()
    except (ImportError, FileNotFoundError) as error:  # its message says what to install
        raise SystemExit(f"the dlib landmark backend is unavailable: {error}") from error
    rows, parts, by_468 = {"mp": [], "dlib": []}, {}, ""
    for name in PHOTOS:
        photo = measured["photos"][name]
        mesh = mesh_faces(photo["meshes"], Face)
        seconds, found = timed(dlib, load_image(IMAGES / name), HOG_RUNS)
        for key, faces, secs in (("mp", mesh["68"], photo["seconds"]), ("dlib", found, seconds)):
            errors = ["–", "–"]
            if name == "image_0010.png" and not faces:
                errors = ["no face", "no face"]
            elif name == "image_0010.png":  # the largest face, as `detect_landmarks` takes
                points = faces[0].points
                errors = [f"{nme(points, truth):.4f}", f"{part_error(points, truth, INNER):.4f}"]
                parts[key] = ", ".join(f"{part} {part_error(points, truth, rows_of):.3f}"
                                       for part, rows_of in PARTS.items())  # fmt: skip
            cell = emma_cell(faces) if name == "emma.jpg" else str(len(faces))
            size = "×".join(map(str, photo["size"][::-1]))
            rows[key].append(f"| {name} | {size} | {' | '.join(errors)} | {cell} | {secs:.2f} |")
        if name == "emma.jpg":
            by_468 = emma_cell(mesh["468"])
    labels = {"mp": f"MediaPipe {measured['version']} face mesh", "dlib": "dlib, HOG (default)"}
    print(
        f"MediaPipe {measured['version']}'s legacy `solutions.face_mesh.FaceMesh` "
        "(`static_image_mode=True, max_num_faces=5, refine_landmarks=False`; its face detector "
        "is BlazeFace short-range) and `DlibBackend` (HOG) on the reference photos in "
        f"`../shared/assets/images`, one run, {os.cpu_count()}-core {platform.machine()}, load "
        f"average {measured['load_before']:.2f} before and {os.getloadavg()[0]:.2f} after, so "
        f"the times are upper bounds. Seconds: `FaceMesh.process` / `DlibBackend.faces` on one "
        f"decoded image, median of {RUNS} / {HOG_RUNS} runs; loading the face mesh takes "
        f"{measured['load']:.2f} s once. The 468 mesh points become the 68 ibug points by the "
        f"table in `benchmarks/bench_mediapipe.py` from {MAPPING_SOURCE}; the jaw (points 1–17) "
        "has no exact counterpart (ibug's contour is the visible outline, the mesh's vertices "
        "stay on the skin; the table takes fixed face-oval vertices), so the error is also given "
        "over the 51 inner points 18–68. Error: mean point error over the outer-eye-corner "
        "distance (ibug 37 and 46, 1-based) against the hand-annotated `image_0010.pts`. "
        "emma.jpg: the rule of the dlib section (exactly one detection's box centre in the "
        f"reference box, IoU ≥ 0.4; IoUs in the README's box order, {', '.join(SIDE)}); a mesh's "
        "box is the bounding box of its 68 ibug points.\n"
    )
    print("| backend | image | size | error, 68 points | error, 51 inner | faces found | seconds |")
    print("|---|---|---:|---:|---:|---|---:|")
    for key, label in labels.items():
        print("\n".join(f"| {label} {row}" for row in rows[key]))
    print(
        f"\nimage_0010's error by part, MediaPipe: {parts.get('mp', 'no face')}; dlib: "
        f"{parts.get('dlib', 'no face')}. With boxes around all 468 mesh points, emma.jpg gives "
        f"{by_468}.\n"
    )
    print(dependency_weight(measured["installed"], measured["version"]))


def dependency_weight(rows: list, mp_version: str) -> str:
    """What the MediaPipe venv holds beyond pip and setuptools, biggest first, with sizes."""
    from importlib.metadata import PackageNotFoundError, version

    def ours(name: str) -> bool:
        try:
            return bool(version(name))
        except PackageNotFoundError:
            return False

    kept = [row for row in rows if row[0].lower() not in ("pip", "setuptools", "wheel")]
    cells = [f"{name} {ver} ({size / 2**20:.0f} MB{', also in ours' if ours(name) else ''})"
             for name, ver, size in kept]  # fmt: skip
    total = sum(size for *_, size in kept) / 2**20
    return (
        f"`pip install mediapipe=={mp_version} numpy pillow` into an empty venv installs "
        f"{len(kept)} distributions, {total:.0f} MB on disk (bytes of the files each one's RECORD "
        f"lists; 'also in ours': the project's venv has it already): {', '.join(cells)}."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project-python",
        type=Path,
        default=ROOT / ".venv" / "bin" / "python",
        help="the project venv's interpreter, which runs dlib and scores (default: .venv)",
    )
    parser.add_argument(
        "--score", action="store_true", help="internal: score MediaPipe's JSON read from stdin"
    )
    args = parser.parse_args(argv)
    if args.score:
        score(json.load(sys.stdin))
        return
    missing = [name for name in (*PHOTOS, "image_0010.pts") if not (IMAGES / name).is_file()]
    if missing:
        raise SystemExit(f"{IMAGES.resolve()}: {', '.join(missing)} missing (reference assets)")
    if not args.project_python.is_file():
        raise SystemExit(
            f"{args.project_python}: no such interpreter; pass the project venv's python (with "
            "voice2mesh, dlib-bin and face-recognition-models) as --project-python"
        )
    load_before = os.getloadavg()[0]
    measured = {**run_mediapipe(), "load_before": load_before}
    command = [str(args.project_python), str(Path(__file__).resolve()), "--score"]
    done = subprocess.run(command, input=json.dumps(measured), text=True, check=False)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
