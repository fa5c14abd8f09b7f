"""Surrey Face Model (SFM) loaders: the eos binary format (``.bin``) and its numpy form (``.npz``).

The SFM (Huber et al., VISAPP 2016) is a PCA shape model in millimetres, already in our
canonical frame (x to the image-right, y up, z towards the camera), plus six expression
blendshapes (anger, disgust, fear, happiness, sadness, surprise).

Coefficient conventions (chosen so that our coefficients equal eos's):
    shape: ``shape_basis`` is the *rescaled* PCA basis, orthonormal basis x sqrt(eigenvalue)
        per column, and ``shape_std`` is 1. eos's ``fit_shape_and_pose`` returns coefficients
        in these units (standard deviations of the rescaled basis), so they plug in unchanged.
    expression: ``expression_basis`` holds the blendshape offsets (mm) from the mean,
        ``expression_std`` is 1 (blendshape weights are O(1); eos fits them non-negative).

Landmarks come from eos's ``ibug_to_sfm.txt`` (TOML, 1-based ibug id -> 0-based vertex id).
The jaw contour (ibug 1-8, 10-17) and inner mouth corners (61, 65) are not mapped: they are
-1 in ``landmarks``. Ids beyond the model's vertex count (the file warns that ids above 845
exist only in the higher resolutions) are treated as unmapped too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.facemodel.semantics import derive_pairs, derive_regions

LANDMARK_FILE = "ibug_to_sfm.txt"
NPZ_KEYS: tuple[str, ...] = (
    "mean",
    "orthonormal_basis",
    "eigenvalues",
    "triangles",
    "expression_blendshapes",
)
EOS_HINT = (
    "The eos binary format needs eos-py: install it with `pip install 'voice2mesh[eos]'`, "
    "or use the .npz form of the model (keys: " + ", ".join(NPZ_KEYS) + ")."
)


def load_sfm(
    path: Path | str,
    *,
    expression_path: Path | str | None = None,
    landmarks_path: Path | str | None = None,
) -> MorphableModel:
    """Load a Surrey Face Model.

    Args:
        path: ``.npz`` (keys ``NPZ_KEYS``) or eos ``.bin`` shape model, e.g.
            ``sfm_shape_3448.bin``.
        expression_path: eos blendshapes ``.bin`` for a ``.bin`` model without its own
            expression model; default ``expression_blendshapes_<N>.bin`` beside the model.
            Not allowed for ``.npz`` (it carries its blendshapes).
        landmarks_path: ibug -> SFM mapping; default ``ibug_to_sfm.txt`` beside the model.

    Returns:
        The model: mean (N, 3) mm, rescaled shape basis (3N, Ks) with unit std, blendshapes
        (3N, 6) with unit std, triangles (F, 3), landmarks (68,) with -1 for unmapped points,
        derived pairs and regions.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SFM model file {path} does not exist")
    if path.suffix == ".npz":
        if expression_path is not None:
            raise ValueError(
                f"{path}: an .npz SFM carries its own expression_blendshapes; "
                "do not pass expression_path"
            )
        arrays = _read_npz(path)
    elif path.suffix == ".bin":
        arrays = _read_bin(path, expression_path)
    else:
        raise ValueError(f"{path}: unknown SFM format {path.suffix!r}; expected .npz or .bin")

    mean = arrays.mean.reshape(-1, 3)
    mapping = Path(landmarks_path) if landmarks_path is not None else path.parent / LANDMARK_FILE
    landmarks = load_ibug_mapping(mapping, len(mean))
    return MorphableModel(
        name="sfm",
        mean=mean,
        shape_basis=arrays.shape_basis,
        shape_std=np.ones(arrays.shape_basis.shape[1], np.float32),
        expression_basis=arrays.expression_basis,
        expression_std=np.ones(arrays.expression_basis.shape[1], np.float32),
        triangles=arrays.triangles,
        landmarks=landmarks,
        pairs=derive_pairs(mean, landmarks),
        regions=derive_regions(mean, landmarks),
        source=path,
        expression_names=arrays.expression_names,
    )


def load_ibug_mapping(path: Path, n_vertices: int) -> np.ndarray:
    """Parse eos's ``ibug_to_sfm.txt``.

    Args:
        path: TOML file with a ``[landmark_mappings]`` table of ``ibug_id = vertex_id`` lines.
        n_vertices: vertex count of the model; larger vertex ids count as unmapped.

    Returns:
        (68,) int64 vertex id per ibug landmark (0-based ibug order), -1 where unmapped.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"SFM landmark mapping {path} does not exist: put eos's share/{LANDMARK_FILE} "
            "next to the model or pass landmarks_path"
        )
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))["landmark_mappings"]
    except (tomllib.TOMLDecodeError, KeyError) as error:
        raise ValueError(
            f"{path}: not an eos landmark mapping (TOML with a [landmark_mappings] table): {error}"
        ) from error
    landmarks = np.full(68, -1, np.int64)
    for key, vertex in table.items():
        if not (key.isdigit() and 1 <= int(key) <= 68 and isinstance(vertex, int) and vertex >= 0):
            raise ValueError(
                f"{path}: bad mapping {key} = {vertex!r}; expected 1-68 = <vertex id >= 0>"
            )
        if vertex < n_vertices:
            landmarks[int(key) - 1] = vertex
    return landmarks


class _SfmArrays(NamedTuple):
    mean: np.ndarray  # (3N,) float32 mm
    shape_basis: np.ndarray  # (3N, Ks) float32, rescaled (orthonormal x sqrt(eigenvalue))
    triangles: np.ndarray  # (F, 3) int64
    expression_basis: np.ndarray  # (3N, Ke) float32 blendshape offsets
    expression_names: tuple[str, ...]  # (Ke,)


def _read_npz(path: Path) -> _SfmArrays:
    """Read the numpy form of the model (keys ``NPZ_KEYS``, optional ``expression_names``)."""
    with np.load(path) as data:
        missing = [key for key in NPZ_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing}; an SFM .npz needs {NPZ_KEYS}")
        arrays = {key: np.asarray(data[key]) for key in NPZ_KEYS}
        names = data["expression_names"] if "expression_names" in data.files else ()
    eigenvalues = arrays["eigenvalues"].astype(np.float64)
    if (eigenvalues < 0).any():
        raise ValueError(f"{path}: negative eigenvalues; is 'eigenvalues' really PCA variances?")
    rescaled = arrays["orthonormal_basis"] * np.sqrt(eigenvalues)[None, :]
    return _as_parts(
        path,
        arrays["mean"],
        rescaled,
        arrays["triangles"],
        arrays["expression_blendshapes"],
        [str(name) for name in names],
    )


def _read_bin(path: Path, expression_path: Path | str | None) -> _SfmArrays:
    """Read an eos binary model (and its blendshapes) with eos-py."""
    try:
        import eos
    except ImportError as error:
        raise ImportError(f"Cannot load {path}: {EOS_HINT}") from error

    model = eos.morphablemodel.load_model(str(path))
    shape = model.get_shape_model()
    mean = np.asarray(shape.get_mean())
    offsets, names = _bin_expression(eos, model, path, mean.shape[0] // 3, expression_path)
    return _as_parts(
        path,
        mean,
        np.asarray(shape.get_rescaled_pca_basis()),
        np.asarray(shape.get_triangle_list()),
        offsets,
        names,
    )


def _bin_expression(
    eos: Any, model: Any, path: Path, n_vertices: int, expression_path: Path | str | None
) -> tuple[np.ndarray, list[str]]:
    """Expression basis (3N, Ke) and names of an eos model: its own, or blendshapes from file.

    An eos PCA expression model gives its rescaled basis (unit std, like the shape).
    """
    if model.has_separate_expression_model():
        if expression_path is not None:
            raise ValueError(f"{path} has its own expression model; do not pass expression_path")
        expression = model.get_expression_model()
        if not isinstance(expression, list):  # a PcaModel
            return np.asarray(expression.get_rescaled_pca_basis()), []
        blendshapes = expression
    else:
        default = path.parent / f"expression_blendshapes_{n_vertices}.bin"
        blend_path = Path(expression_path) if expression_path is not None else default
        if not blend_path.is_file():
            raise FileNotFoundError(
                f"{path} has no expression model and the blendshapes file {blend_path} does not "
                "exist: pass expression_path (eos share/expression_blendshapes_<N>.bin)"
            )
        blendshapes = eos.morphablemodel.load_blendshapes(str(blend_path))
    offsets = np.stack([np.asarray(b.deformation) for b in blendshapes], axis=1)
    return offsets, [b.name for b in blendshapes]


def _as_parts(
    path: Path,
    mean: np.ndarray,
    shape_basis: np.ndarray,
    triangles: np.ndarray,
    expression_basis: np.ndarray,
    expression_names: list[str],
) -> _SfmArrays:
    """Check sizes and cast to the dtypes of ``MorphableModel``."""
    mean = mean.reshape(-1)
    if mean.shape[0] % 3 or shape_basis.shape[0] != mean.shape[0]:
        raise ValueError(
            f"{path}: mean has {mean.shape[0]} values and the shape basis {shape_basis.shape[0]} "
            "rows; both must be 3N (x, y, z interleaved per vertex)"
        )
    if expression_basis.shape[0] != mean.shape[0]:
        raise ValueError(
            f"{path}: expression blendshapes have {expression_basis.shape[0]} rows, the model "
            f"{mean.shape[0]}; use the blendshapes of the same resolution"
        )
    if expression_names and len(expression_names) != expression_basis.shape[1]:
        raise ValueError(
            f"{path}: {len(expression_names)} expression names for "
            f"{expression_basis.shape[1]} blendshapes"
        )
    return _SfmArrays(
        mean.astype(np.float32),
        shape_basis.astype(np.float32),
        triangles.astype(np.int64).reshape(-1, 3),
        expression_basis.astype(np.float32),
        tuple(expression_names),
    )
