"""Per-part point-to-plane RMSE after local ICP (the paper's Table 4).

For each face part (left eye, right eye, nose, mouth, left cheek, right cheek; image-left and
-right as in ``facemodel/model.py``), the prediction's vertices of that part are registered
with their own rigid ICP to the reference's vertices of the same part, starting from the
canonical frame, and the point-to-plane RMSE of the part is reported (mm). The reference
part's normals are the whole reference mesh's area-weighted vertex normals, so vertices on a
part's border get the normal of the surface, not of the cut-out patch. ICP and sampling are
those of ``icp.py``; parts (1,400-3,600 BFM vertices) default to ``PART_SETTINGS``: 500
vertices drive each local registration and 2,000 are measured (within about 1.5 % of using all
of them on smooth synthetic deformations; nearly flat parts such as the cheeks let ICP slide,
so the registration depends a little on which vertices drive it).
"""

from __future__ import annotations

import numpy as np

from voice2mesh.facemodel.model import REGION_NAMES, MorphableModel
from voice2mesh.metrics.are import match_references
from voice2mesh.metrics.icp import (
    IcpSettings,
    Surface,
    for_each_reference,
    register_and_measure,
    vertex_normals,
)

PART_SETTINGS = IcpSettings(fit_samples=500, eval_samples=2000)


def registered_part_rmse(
    pred,
    ref,
    triangles: np.ndarray,
    regions: dict[str, np.ndarray],
    *,
    ref_index=None,
    settings: IcpSettings | None = None,
) -> dict[str, np.ndarray]:
    """Point-to-plane RMSE (mm) of each part of each prediction after local ICP.

    Args:
        pred: (B, N, 3) predicted vertices.
        ref: (N, 3) or (R, N, 3) reference vertices (same topology).
        triangles: (F, 3) the references' triangles (for their normals).
        regions: ``{part: (M,) vertex ids}``, the same ids on predictions and references.
        ref_index: (B,) reference of each prediction (see ``are.match_references``).
        settings: ICP settings; default ``PART_SETTINGS``.

    Returns:
        ``{part: (B,) float64 RMSE}`` in the order of ``regions``.
    """
    settings = settings or PART_SETTINGS
    pred, ref, ref_index = match_references(pred, ref, ref_index)
    on_surface = np.unique(triangles)  # vertices on a triangle
    parts = {}  # {part: (M,) sorted ids on the surface}
    for name, ids in regions.items():
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.size == 0 or ids.min() < 0 or ids.max() >= pred.shape[1]:
            raise ValueError(
                f"region {name!r} must be a non-empty (M,) array of vertex ids in "
                f"[0, {pred.shape[1]})"
            )
        parts[name] = np.intersect1d(ids, on_surface)
        if parts[name].size == 0:
            raise ValueError(f"region {name!r} has no vertex on a triangle")
    out = {name: np.empty(len(pred)) for name in regions}

    def measure(r: int, sel: np.ndarray) -> None:
        vertices = ref[r].astype(np.float64)  # (N, 3)
        normals = vertex_normals(vertices, triangles)  # (N, 3), once for all parts
        for name, ids in parts.items():
            surface = Surface.build(vertices, normals, ids)
            out[name][sel] = register_and_measure(pred[sel], vertices, surface, ids, settings)

    for_each_reference(ref_index, measure)
    return out


def part_rmse(
    model: MorphableModel, pred, ref, *, ref_index=None, settings: IcpSettings | None = None
) -> dict[str, np.ndarray]:
    """Per-part point-to-plane RMSE (mm) after local ICP (Table 4) on meshes of ``model``.

    Args:
        model: a dense model with ``regions`` for every name in ``REGION_NAMES``.
        pred, ref, ref_index, settings: as in ``registered_part_rmse``.

    Returns:
        ``{part: (B,) float64 RMSE}`` for ``REGION_NAMES``.
    """
    model.require_dense("Per-part point-to-plane RMSE after ICP")
    missing = [name for name in REGION_NAMES if name not in model.regions]
    if missing:
        raise ValueError(f"model {model.name!r} has no regions {missing}; Table 4 needs them")
    regions = {name: model.regions[name] for name in REGION_NAMES}
    return registered_part_rmse(
        pred, ref, model.triangles, regions, ref_index=ref_index, settings=settings
    )
