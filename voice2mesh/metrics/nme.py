"""Normalised mean error (NME) of the 68 landmarks.

Wu et al., "Cross-Modal Perceptionist", CVPR 2022, Sec. 5 and the reference code's
``cal_size_kpts.py``: the prediction is scaled about the origin by ``OICD_ref / OICD_pred``
(as for ARE), then

    NME = ||pred_s[landmarks] - ref[landmarks]||_F / sqrt(h * w),

one Frobenius norm over all 68 x 3 landmark coordinates (not a mean of per-landmark
distances), with h and w the y and x extents of the *whole* reference mesh. Nothing is
translated or rotated: predictions and references are both in the model's canonical frame, so
a translated prediction is penalised; the OICD scaling makes the value invariant to a scaling
of the prediction about the origin.

Only the landmark rows and the OICD pair of the predictions are read, but the reference's extents
come from all its vertices, so inputs are whole meshes of ``model``. For a landmark-only model
(``bfm68``) its "mesh" is the 68 landmarks, whose extents are smaller than the dense face's:
such NMEs are larger and not comparable with dense ones. Landmarks a model does not map
(``model.landmarks == -1``, e.g. the SFM's jaw contour) are left out of the norm.
"""

from __future__ import annotations

import numpy as np

from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.metrics.are import check_vertex_count, match_references, oicd_scale


def nme(model: MorphableModel, pred, ref, *, ref_index=None) -> np.ndarray:
    """Landmark NME of each prediction.

    Args:
        model: gives ``landmarks`` (68,) and the ``"oicd"`` pair.
        pred: (B, N, 3) predicted vertices, N = ``model.n_vertices``.
        ref: (N, 3) or (R, N, 3) reference vertices.
        ref_index: (B,) reference of each prediction (see ``are.match_references``).

    Returns:
        (B,) float64 NME (a fraction of the reference face's size).
    """
    pred, ref, ref_index = match_references(pred, ref, ref_index)
    check_vertex_count(model, pred)
    ids = model.landmarks[model.landmark_valid]  # (L,)
    scale = oicd_scale(model, pred, ref, ref_index)  # (B,)
    # Per coordinate: reducing (R, N) slices is far faster than ref[..., :2].max(axis=1).
    w, h = (np.ptp(ref[:, :, k], axis=1).astype(np.float64) for k in (0, 1))  # (R,) each
    size = np.sqrt(h * w)  # (R,)
    pred_lm = np.take(pred, ids, axis=1).astype(np.float64) * scale[:, None, None]  # (B, L, 3)
    ref_lm = np.take(ref, ids, axis=1).astype(np.float64)[ref_index]  # (B, L, 3)
    return np.linalg.norm((pred_lm - ref_lm).reshape(len(pred), -1), axis=1) / size[ref_index]
