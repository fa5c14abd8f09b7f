"""The face-model preview sheet and summary (``face_model`` stage, ``voice2mesh facemodel``).

The sheet shows the mean face (and the male/female means when the model has them), then
±``sigma`` standard deviations of the leading shape and expression components, each frontally
and at 45° yaw. Every tile of one view uses the same camera, so size changes stay visible.
"""

from __future__ import annotations

import numpy as np

from voice2mesh.facemodel import GENDERS, MorphableModel
from voice2mesh.render import fit_pose, image_grid, render

VIEWS: tuple[tuple[str, float], ...] = (("front", 0.0), ("45°", 45.0))


def component_label(model: MorphableModel, kind: str, index: int) -> str:
    """Human-readable name of shape/expression component ``index`` (0-based)."""
    names = model.shape_names if kind == "shape" else model.expression_names
    name = names[index] if index < len(names) else ""
    return f"{kind} {index + 1}" + (f": {name}" if name else "")


def preview_rows(
    model: MorphableModel, n_shape: int = 6, n_expression: int = 4, sigma: float = 3.0
) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """The faces of the sheet as rows ``(row label, [(tile label, (N, 3) vertices), ...])``."""
    model.require_dense("The face-model preview")
    zeros_s = np.zeros((1, model.n_shape), np.float32)
    zeros_e = np.zeros((1, model.n_expression), np.float32)
    mean = model.reconstruct(zeros_s, zeros_e)[0]
    rows = [("mean face", [("mean", mean)])]
    if model.gender_shape is not None:  # male | mean | female, under the -σ | 0 | +σ columns
        male, female = (model.mean_vertices(g) for g in GENDERS)
        rows = [("male | mean | female", [("male", male), ("mean", mean), ("female", female)])]
    for kind, count, std in (
        ("shape", n_shape, model.shape_std),
        ("expression", n_expression, model.expression_std),
    ):
        for k in range(min(count, len(std))):
            coeffs = np.zeros((2, len(std)), np.float32)
            coeffs[:, k] = [-sigma * std[k], sigma * std[k]]
            if kind == "shape":
                faces = model.reconstruct(coeffs, np.repeat(zeros_e, 2, 0))
            else:
                faces = model.reconstruct(np.repeat(zeros_s, 2, 0), coeffs)
            label = component_label(model, kind, k)
            rows.append(
                (label, [(f"-{sigma:g}σ", faces[0]), ("mean", mean), (f"+{sigma:g}σ", faces[1])])
            )
    return rows


def face_model_sheet(model: MorphableModel, size: int = 192, **kwargs) -> np.ndarray:
    """Render the preview sheet of ``model``: (H, W, 3) uint8."""
    rows = preview_rows(model, **kwargs)
    mean = model.mean_vertices()
    poses = {name: fit_pose(mean, (size, size), yaw=yaw, margin=0.16) for name, yaw in VIEWS}
    tiles, row_labels = [], []
    for label, faces in rows:
        tiles.append(
            [
                render(vertices, model.triangles, poses[view], (size, size)).image
                for _, vertices in faces
                for view, _ in VIEWS
            ]
        )
        row_labels.append(label)
    columns = [f"{name} {view}" for name, _ in rows[-1][1] for view, _ in VIEWS]
    return image_grid(tiles, row_labels=row_labels, col_labels=columns)


def face_model_summary(model: MorphableModel) -> dict:
    """Counts and mean-face measurements: vertices, triangles, components, OICD, ratios."""
    zeros = np.zeros((1, model.n_shape), np.float32)
    summary: dict = {
        "model": model.name,
        "vertices": model.n_vertices,
        "triangles": 0 if model.triangles is None else len(model.triangles),
        "shape_components": model.n_shape,
        "expression_components": model.n_expression,
    }
    if not model.dense:
        return summary
    faces = {"mean": model.reconstruct(zeros)[0]}
    if model.gender_shape is not None:
        faces.update({g: model.mean_vertices(g) for g in GENDERS})
    for name, vertices in faces.items():
        distances = model.pair_distances(vertices[None])
        oicd = float(distances["oicd"][0])
        summary[name] = {"oicd_mm": round(oicd, 4)} | {
            f"{pair}_ratio": round(float(d[0]) / oicd, 6)
            for pair, d in distances.items()
            if pair != "oicd"
        }
    return summary
