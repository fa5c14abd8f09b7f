"""Every metric of the paper for a batch of predicted 3DMM coefficients against references.

One row per prediction (utterance), one column per figure of Tables 1-4:

    ER, FR, MR, CR, ARE   anthropometric ratio errors and their mean (Table 1, ``metrics.are``)
    NME                   68-landmark normalised mean error (Table 2, ``metrics.nme``)
    RMSE                  whole-mesh point-to-plane RMSE after ICP, mm (Table 3)
    left_eye ... right_cheek   per-part RMSE after local ICP, mm (Table 4)

Predictions are meshes ``model.reconstruct(shape, expression)``; references are neutral meshes
of reference shape coefficients (the paper's pseudo ground truth: a hand-picked neutral frontal
fit per identity; or, in the synthetic world, the true shape). No pose is applied to either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voice2mesh.facemodel.model import REGION_NAMES, MorphableModel
from voice2mesh.metrics import are, icp_rmse, nme, part_rmse

ARE_COLUMNS = ("ER", "FR", "MR", "CR", "ARE")
REGISTRATION_COLUMNS = ("RMSE", *REGION_NAMES)  # after ICP: Tables 3 and 4
METRIC_COLUMNS = (*ARE_COLUMNS, "NME", *REGISTRATION_COLUMNS)
CHUNK = 256  # predictions reconstructed at once (256 x 53K vertices x 3 x 8 B = 0.3 GB)


def score(
    model: MorphableModel,
    shape: np.ndarray,
    expression: np.ndarray | None,
    ref_shape: np.ndarray,
    ref_index: np.ndarray,
) -> pd.DataFrame:
    """All metrics of each prediction against its reference.

    Args:
        model: a dense model with the ARE pairs and the six regions.
        shape: (B, Ks') predicted raw shape coefficients.
        expression: (B, Ke') predicted raw expression coefficients, or None (neutral).
        ref_shape: (R, Ks'') raw shape coefficients of the references (neutral expression).
        ref_index: (B,) row of ``ref_shape`` each prediction is compared with.

    Returns:
        (B, len(METRIC_COLUMNS)) float64 frame, columns ``METRIC_COLUMNS``.
    """
    shape, ref_shape = np.asarray(shape, np.float64), np.asarray(ref_shape, np.float64)
    ref_index = np.asarray(ref_index, np.int64)
    if shape.ndim != 2 or ref_index.shape != (len(shape),):
        raise ValueError(
            f"shape must be (B, Ks) and ref_index (B,); got {shape.shape} and {ref_index.shape}"
        )
    if not np.isfinite(shape).all() or not np.isfinite(ref_shape).all():
        raise ValueError("predicted or reference coefficients are not finite; check the model")
    used, local = np.unique(ref_index, return_inverse=True)  # only the references needed
    refs = model.reconstruct(ref_shape[used])  # (R', N, 3)
    parts = []
    for start in range(0, len(shape), CHUNK):
        sl = slice(start, start + CHUNK)
        exp = None if expression is None else np.asarray(expression[sl], np.float64)
        pred = model.reconstruct(shape[sl], exp)  # (b, N, 3)
        idx = local[sl]
        errors = are(model, pred, refs, ref_index=idx)
        columns = {key: errors[key] for key in ARE_COLUMNS[:-1]} | {"ARE": errors["mean"]}
        columns["NME"] = nme(model, pred, refs, ref_index=idx)
        columns["RMSE"] = icp_rmse(model, pred, refs, ref_index=idx)
        columns |= part_rmse(model, pred, refs, ref_index=idx)
        parts.append(pd.DataFrame({k: columns[k] for k in METRIC_COLUMNS}))
    if not parts:
        return pd.DataFrame(columns=list(METRIC_COLUMNS), dtype=np.float64)
    return pd.concat(parts, ignore_index=True)
