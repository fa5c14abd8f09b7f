"""Basel Face Model 2009 loaders, in the layouts that 3DDFA and 3DDFA-V2 distribute.

Three forms (3DDFA stores micrometres; every loader divides by 1000 to get millimetres; the
axes already match our canonical frame and the origin is kept, so that ``u_base / 1000`` is
the bfm68 mean exactly):
    - 3DDFA-V2 ``bfm_noneck_v3.pkl``: dict with ``u`` (3N, 1), ``w_shp`` (3N, >=40),
      ``w_exp`` (3N, >=10), ``keypoints`` (204,) and maybe ``tri``; the re-built triangles
      of the 38,365-vertex mesh sit beside it in ``tri.pkl`` (3, F) and win over ``tri``.
    - a 3DDFA v1 folder: ``V1_FILES`` (53,215 vertices; ``tri.mat`` is 3 x F, 1-based).
    - ``load_bfm68``: the 68-landmark rows only (``BFM68_FILES``), a landmark-only model.

Coefficients are 3DDFA's raw 40 shape + 10 expression values (the 62-d parameter minus its 12
pose values), so a 3DDFA / 3DDFA-V2 network's de-normalized output plugs in unchanged; the
basis is divided by 1000 instead. Their prior std (``shape_std``, ``expression_std``) is read
from the first of ``STD_FILES`` in the model's folder (or ``param_std_path``); without one, the
3DDFA-V2 statistics embedded below (``param_mean_std_62d_120x120.pkl``, 6 significant digits)
are used: they belong to the same basis in all three forms.

``keypoints`` index the flattened mean, three consecutive rows (x, y, z) per ibug landmark.
Measurement pairs: the paper's ``BFM_PAIRS`` on the 53,215-vertex mesh, derived ones on any
other mesh; bfm68 only has ``"oicd"`` = ibug 37-46 (outer eye corners; 86 mm on the mean, where
the paper's 2217-14607 gives 94 mm because 14607 is not 2217's mirror image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.semantics import BFM_PAIRS, derive_pairs, derive_regions
from voice2mesh.safe_pickle import load_pickle

UM_PER_MM = 1000.0
N_POSE, N_SHAPE, N_EXPRESSION = 12, 40, 10  # 3DDFA's 62-d parameter layout
BFM_V1_VERTICES = 53215  # the mesh ``BFM_PAIRS`` refer to
MEAN_FILES: tuple[str, ...] = ("u_shp.npy", "u_exp.npy", "keypoints_sim.npy", "tri.mat")
V1_FILES: tuple[str, ...] = (*MEAN_FILES, "w_shp_sim.npy", "w_exp_sim.npy")
BFM68_FILES: tuple[str, ...] = ("u_base.txt", "w_shp_base.txt", "w_exp_base.txt")
STD_FILES: tuple[str, ...] = ("param_mean_std_62d_120x120.pkl", "param_std_v2.txt", "param_std.txt")

# fmt: off
DEFAULT_SHAPE_STD = np.array([
    575421, 277649, 258337, 255163, 150994, 160086, 111277, 97311.8, 117198, 89317.4,
    88493.6, 72229.9, 71080.2, 50014, 55968.6, 47525.5, 49515.1, 38161.5, 44872.1, 46273.2,
    38116.8, 28191.2, 32191.4, 36006.2, 32559.9, 25551.1, 24267.5, 27521.4, 23166.5, 21101.6,
    19412.3, 19452.2, 17455, 22537.6, 16174.3, 14671.6, 15115.7, 13870.1, 13746.3, 12663.1,
], np.float32)  # (40,)
DEFAULT_EXPRESSION_STD = np.array([
    1.58708, 1.5077, 0.588136, 0.588974, 0.213279, 0.26302, 0.279643, 0.380302, 0.161628,
    0.255969,
], np.float32)  # (10,)
# fmt: on


def load_bfm(path: Path | str, *, param_std_path: Path | str | None = None) -> MorphableModel:
    """Load the dense BFM from a 3DDFA-V2 ``.pkl`` file or a 3DDFA v1 folder.

    Args:
        path: ``bfm_noneck_v3.pkl`` (any ``.pkl`` with its keys) or a folder with ``V1_FILES``.
        param_std_path: 62-d parameter std (``.pkl`` dict with ``std``, or ``.txt``); default:
            the first of ``STD_FILES`` beside the model, else the embedded 3DDFA-V2 values.

    Returns:
        The model: mean (N, 3) mm, shape basis (3N, 40), expression basis (3N, 10), triangles
        (F, 3) counter-clockwise from +z, landmarks (68,), pairs and regions.
    """
    path = Path(path)
    if path.is_dir():
        missing = [name for name in V1_FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"BFM folder {path} lacks {missing}: a 3DDFA v1 BFM folder needs {V1_FILES}. "
                f"With only {BFM68_FILES} use the landmark-only model (kind 'bfm68'); for "
                "3DDFA-V2 pass the bfm_noneck_v3.pkl file itself."
            )
        mean, triangles, landmarks = load_bfm_mean(path)
        w_shp = np.load(path / "w_shp_sim.npy", mmap_mode="r")
        w_exp = np.load(path / "w_exp_sim.npy", mmap_mode="r")
        folder = path
    elif path.is_file() and path.suffix == ".pkl":
        mean, triangles, landmarks, w_shp, w_exp = _read_v2_pickle(path)
        folder = path.parent
    elif path.is_file():
        raise ValueError(f"{path}: expected a 3DDFA-V2 .pkl file or a 3DDFA v1 folder")
    else:
        raise FileNotFoundError(f"BFM model {path} does not exist")

    w_shp, w_exp = _basis_mm(path, w_shp, N_SHAPE), _basis_mm(path, w_exp, N_EXPRESSION)
    for name, basis in (("shape", w_shp), ("expression", w_exp)):
        if basis.shape[0] != mean.size:
            raise ValueError(f"{path}: {name} basis has {basis.shape[0]} rows, mean {mean.size}")
    shape_std, expression_std = load_param_std(folder, param_std_path)
    check_canonical_frame(mean, landmarks, path)
    return MorphableModel(
        name="bfm",
        mean=mean,
        shape_basis=w_shp,
        shape_std=shape_std,
        expression_basis=w_exp,
        expression_std=expression_std,
        triangles=triangles,
        landmarks=landmarks,
        pairs=dict(BFM_PAIRS) if len(mean) == BFM_V1_VERTICES else derive_pairs(mean, landmarks),
        regions=derive_regions(mean, landmarks),
        source=path,
    )


def load_bfm68(folder: Path | str, *, param_std_path: Path | str | None = None) -> MorphableModel:
    """The BFM restricted to its 68 ibug landmarks (enough to fit 2D/3D landmarks).

    Args:
        folder: contains ``BFM68_FILES`` (u_base (204,), w_shp_base (204, 40), w_exp_base
            (204, 10), micrometres, rows x, y, z per landmark).
        param_std_path: as in ``load_bfm``.

    Returns:
        A landmark-only model (``dense=False``, no triangles): 68 vertices, landmarks
        ``arange(68)``, pairs ``{"oicd": (36, 45)}``, no regions. Dense use raises
        ``DenseBasisUnavailable``.
    """
    folder = Path(folder)
    missing = [name for name in BFM68_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"bfm68 folder {folder} lacks {missing}; it needs {BFM68_FILES}")
    u_base, w_shp, w_exp = (np.loadtxt(folder / name, ndmin=2) for name in BFM68_FILES)
    if u_base.size != 204 or w_shp.shape[0] != 204 or w_exp.shape[0] != 204:
        raise ValueError(
            f"{folder}: expected 204 rows (68 landmarks x 3) in {BFM68_FILES}, got "
            f"{u_base.size}, {w_shp.shape[0]}, {w_exp.shape[0]}"
        )
    mean = (u_base.reshape(68, 3) / UM_PER_MM).astype(np.float32)
    landmarks = np.arange(68, dtype=np.int64)
    check_canonical_frame(mean, landmarks, folder)
    shape_std, expression_std = load_param_std(folder, param_std_path)
    return MorphableModel(
        name="bfm68",
        mean=mean,
        shape_basis=_basis_mm(folder / BFM68_FILES[1], w_shp, N_SHAPE),
        shape_std=shape_std,
        expression_basis=_basis_mm(folder / BFM68_FILES[2], w_exp, N_EXPRESSION),
        expression_std=expression_std,
        triangles=None,
        landmarks=landmarks,
        pairs={"oicd": (36, 45)},
        source=folder,
        dense=False,
    )


def load_bfm_mean(folder: Path | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 3DDFA v1 BFM mean mesh, without the dense bases.

    Args:
        folder: contains ``MEAN_FILES`` (u_shp + u_exp is the mean, micrometres).

    Returns:
        mean (N, 3) float32 mm, triangles (F, 3) int64 counter-clockwise from +z, landmarks
        (68,) int64 ibug vertex ids.
    """
    folder = Path(folder)
    missing = [name for name in MEAN_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"BFM folder {folder} lacks {missing}; it needs {MEAN_FILES}")
    flat = np.load(folder / "u_shp.npy").reshape(-1) + np.load(folder / "u_exp.npy").reshape(-1)
    if flat.size % 3:
        raise ValueError(f"{folder}: u_shp/u_exp have {flat.size} values, not 3 per vertex")
    mean = (flat.reshape(-1, 3) / UM_PER_MM).astype(np.float32)
    mat = scipy.io.loadmat(folder / "tri.mat")
    if "tri" not in mat:
        raise ValueError(f"{folder / 'tri.mat'}: no 'tri' variable (3 x F, 1-based)")
    triangles = _triangles(folder / "tri.mat", mat["tri"], len(mean), one_based=True)
    landmarks = keypoints_to_landmarks(np.load(folder / "keypoints_sim.npy"), len(mean), folder)
    return mean, orient_ccw(mean, triangles), landmarks


def load_param_std(folder: Path, path: Path | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prior std of 3DDFA's shape (40,) and expression (10,) coefficients.

    Reads ``path`` or the first of ``STD_FILES`` in ``folder``: a 62-d std (12 pose + 40 shape
    + 10 expression) as a pickled dict with key ``std`` or a text file of 62 numbers. Falls back
    to ``DEFAULT_SHAPE_STD`` / ``DEFAULT_EXPRESSION_STD`` when no file is found.
    """
    if path is None:
        found = [folder / name for name in STD_FILES if (folder / name).is_file()]
        if not found:
            return DEFAULT_SHAPE_STD.copy(), DEFAULT_EXPRESSION_STD.copy()
        path = found[0]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter std file {path} does not exist")
    if path.suffix == ".pkl":
        std = np.asarray(load_pickle(path)["std"], np.float64).reshape(-1)
    else:
        std = np.loadtxt(path).reshape(-1)
    if std.shape != (N_POSE + N_SHAPE + N_EXPRESSION,) or (std <= 0).any():
        raise ValueError(f"{path}: expected 62 positive std values (12 pose, 40 shape, 10 exp)")
    return (
        std[N_POSE : N_POSE + N_SHAPE].astype(np.float32),
        std[N_POSE + N_SHAPE :].astype(np.float32),
    )


def keypoints_to_landmarks(keypoints: np.ndarray, n_vertices: int, where: Path) -> np.ndarray:
    """(204,) flat indices, rows x, y, z per landmark -> (68,) int64 vertex ids."""
    rows = np.asarray(keypoints).reshape(-1).astype(np.int64)
    if rows.size != 204:
        raise ValueError(f"{where}: keypoints must have 204 entries (68 x 3), got {rows.size}")
    rows = rows.reshape(68, 3)
    if not (rows == 3 * (rows[:, :1] // 3) + np.arange(3)).all():
        raise ValueError(f"{where}: keypoints are not x, y, z row triples of 68 vertices")
    if rows.min() < 0 or rows.max() >= 3 * n_vertices:
        raise ValueError(f"{where}: keypoints point outside the {n_vertices}-vertex mean")
    return rows[:, 0] // 3


def orient_ccw(mean: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Flip the winding if the mesh's projected area seen from +z is negative (F, 3)."""
    a, b, c = (mean[triangles[:, k]].astype(np.float64) for k in range(3))
    signed_area = np.cross(b - a, c - a)[:, 2].sum()
    return triangles[:, [0, 2, 1]] if signed_area < 0 else triangles


def check_canonical_frame(mean: np.ndarray, landmarks: np.ndarray, where: Path) -> None:
    """Fail when the mesh is not in mm with x right, y up, z to the camera."""
    left, right, chin, nose = (mean[landmarks[i]] for i in (36, 45, 8, 30))
    oicd = float(np.linalg.norm(left - right))
    problems = [
        (40.0 <= oicd <= 200.0, f"outer eye corners are {oicd:.4g} apart; expected ~90 mm"),
        (left[0] < right[0], "ibug 37 (image-left eye corner) must have the smaller x"),
        ((left[1] + right[1]) / 2 > chin[1], "the eyes must be above the chin (y up)"),
        (nose[2] > (left[2] + right[2]) / 2, "the nose tip must be nearer the camera (z)"),
    ]
    bad = [message for ok, message in problems if not ok]
    if bad:
        raise ValueError(
            f"{where}: not a BFM in 3DDFA's micrometre layout ({'; '.join(bad)}). "
            "Expected 3DDFA's files unchanged."
        )


def _read_v2_pickle(path: Path) -> tuple[np.ndarray, ...]:
    """(mean (N, 3) mm, triangles (F, 3), landmarks (68,), w_shp, w_exp) of a 3DDFA-V2 pickle."""
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict; expected 3DDFA-V2's bfm_noneck_v3.pkl")
    missing = [key for key in ("u", "w_shp", "w_exp", "keypoints") if key not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected 3DDFA-V2's bfm_noneck_v3.pkl")
    flat = np.asarray(data["u"], np.float64).reshape(-1)
    mean = (flat.reshape(-1, 3) / UM_PER_MM).astype(np.float32)
    tri_path = path.parent / "tri.pkl"
    if tri_path.is_file():
        tri = np.asarray(load_pickle(tri_path))
    elif data.get("tri") is not None:
        tri_path, tri = path, np.asarray(data["tri"])
    else:
        raise FileNotFoundError(
            f"{path} has no 'tri' and {tri_path} does not exist: copy 3DDFA-V2's configs/tri.pkl "
            "next to the model"
        )
    triangles = orient_ccw(mean, _triangles(tri_path, tri, len(mean), one_based=False))
    landmarks = keypoints_to_landmarks(data["keypoints"], len(mean), path)
    return mean, triangles, landmarks, np.asarray(data["w_shp"]), np.asarray(data["w_exp"])


def _triangles(where: Path, tri: np.ndarray, n_vertices: int, *, one_based: bool) -> np.ndarray:
    """3DDFA triangles (3, F) or (F, 3) -> (F, 3) int64 0-based (tri.mat: 1-based, pkl: 0)."""
    tri = np.asarray(tri).astype(np.int64)
    if tri.ndim != 2 or 3 not in tri.shape:
        raise ValueError(f"{where}: triangles must be (3, F) or (F, 3), got {tri.shape}")
    tri = tri.T if tri.shape[0] == 3 and tri.shape[1] != 3 else tri
    tri = tri - 1 if one_based else tri
    if tri.min() < 0 or tri.max() >= n_vertices:
        raise ValueError(f"{where}: triangle ids outside 0..{n_vertices - 1}")
    return np.ascontiguousarray(tri)


def _basis_mm(where: Path, basis: np.ndarray, n_columns: int) -> np.ndarray:
    """First ``n_columns`` of a micrometre basis (3N, >=n), in mm, float32."""
    if basis.ndim != 2 or basis.shape[1] < n_columns:
        raise ValueError(
            f"{where}: basis of shape {basis.shape} has fewer than the {n_columns} columns "
            "of 3DDFA's parameterization"
        )
    return (np.asarray(basis[:, :n_columns], np.float64) / UM_PER_MM).astype(np.float32)
