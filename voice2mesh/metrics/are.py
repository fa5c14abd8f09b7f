"""Anthropometric ratio error (ARE) and the per-speaker aggregation of every metric.

Wu et al., "Cross-Modal Perceptionist", CVPR 2022, Sec. 5 and the reference code's
``cal_size_ARE.py``: four face widths (ear, forehead, mid-face, cheek) are divided by the outer
interocular distance (OICD); the error of a width is ``|ratio_pred - ratio_ref|`` (a plain
fraction, not a percentage). Before measuring, the prediction is scaled about the origin by
``OICD_ref / OICD_pred``. Ratios are scale invariant, so this scaling changes no ARE value; it is
kept because the same scaled prediction feeds the NME (``nme.py``), where it matters.

Inputs are vertices of the model's mesh (``model.n_vertices`` rows); only the pair vertices
(``model.pairs``) are read, so ARE works for any model that has all five pairs. Landmark-only
models (``bfm68``) only have the OICD pair and raise ``DenseBasisUnavailable``.

Every metric in this package returns one value per utterance; the paper averages them per
speaker first and then over speakers (``aggregate_by_speaker``).
"""

from __future__ import annotations

import numpy as np

from voice2mesh.facemodel.model import DenseBasisUnavailable, MorphableModel

# Width pair -> the paper's column name; "mean" is their average.
ARE_KEYS: dict[str, str] = {"ear": "ER", "forehead": "FR", "mid": "MR", "cheek": "CR"}


def match_references(pred, ref, ref_index=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check and pair up predictions with their references (the input convention of every metric).

    Args:
        pred: (B, N, 3) predicted vertices (numpy array or CPU tensor).
        ref: (N, 3) one reference for all predictions, or (R, N, 3) references.
        ref_index: (B,) int, the reference of each prediction; default: all 0 for a single
            reference, ``arange(B)`` when R == B.

    Returns:
        pred (B, N, 3), ref (R, N, 3) (both in their own dtype, not copied) and ref_index (B,).
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"predictions must be (B, N, 3) vertices, got shape {pred.shape}")
    if ref.ndim == 2:
        ref = ref[None]
    if ref.ndim != 3 or ref.shape[1:] != pred.shape[1:]:
        raise ValueError(
            f"references must be (N, 3) or (R, N, 3) with the predictions' N = {pred.shape[1]}, "
            f"got shape {ref.shape}: predictions and references must share one mesh topology"
        )
    if ref_index is None:
        if len(ref) not in (1, len(pred)):
            raise ValueError(
                f"{len(ref)} references for {len(pred)} predictions: pass ref_index (B,) to say "
                "which reference each prediction is compared with"
            )
        ref_index = np.zeros(len(pred), np.int64) if len(ref) == 1 else np.arange(len(pred))
    ref_index = np.asarray(ref_index, np.int64)
    if ref_index.shape != (len(pred),) or (
        len(pred) and not 0 <= ref_index.min() <= ref_index.max() < len(ref)
    ):
        raise ValueError(
            f"ref_index must be ({len(pred)},) ints in [0, {len(ref)}), got shape {ref_index.shape}"
        )
    return pred, ref, ref_index


def require_pairs(model: MorphableModel, names: tuple[str, ...], what: str) -> None:
    """Fail clearly when ``model`` lacks a measurement pair ``what`` needs."""
    missing = [name for name in names if name not in model.pairs]
    if not missing:
        return
    if not model.dense:
        raise DenseBasisUnavailable(
            f"{what} needs the pairs {missing}, which landmark-only model {model.name!r} does "
            "not have (it only knows the 68 landmarks); load the dense model instead"
        )
    raise ValueError(f"{what} needs the pairs {missing}; model {model.name!r} has no such pairs")


def oicd_scale(model: MorphableModel, pred, ref, ref_index=None) -> np.ndarray:
    """(B,) factors ``OICD_ref / OICD_pred`` that bring each prediction to its reference's size.

    Args:
        model: gives the ``"oicd"`` pair.
        pred, ref, ref_index: as in ``match_references``.
    """
    require_pairs(model, ("oicd",), "OICD scaling")
    pred, ref, ref_index = match_references(pred, ref, ref_index)
    a, b = model.pairs["oicd"]
    oicd_pred = _distance(pred[:, a], pred[:, b])  # (B,)
    oicd_ref = _distance(ref[:, a], ref[:, b])[ref_index]  # (B,)
    if not (oicd_pred > 0).all() or not (oicd_ref > 0).all():
        bad = np.flatnonzero(~((oicd_pred > 0) & (oicd_ref > 0)))
        raise ValueError(f"zero or undefined OICD (vertices {a}, {b}) for predictions {bad[:10]}")
    return oicd_ref / oicd_pred


def are(model: MorphableModel, pred, ref, *, ref_index=None) -> dict[str, np.ndarray]:
    """Anthropometric ratio errors of each prediction.

    Args:
        model: gives the pairs ``oicd``, ``ear``, ``forehead``, ``mid``, ``cheek``.
        pred: (B, N, 3) predicted vertices, N = ``model.n_vertices``.
        ref: (N, 3) or (R, N, 3) reference vertices.
        ref_index: (B,) reference of each prediction (see ``match_references``).

    Returns:
        ``{"ER", "FR", "MR", "CR", "mean": (B,) float64}``: ``|width/OICD|`` errors of the ear,
        forehead, mid-face and cheek widths, and their average.
    """
    require_pairs(model, ("oicd", *ARE_KEYS), "ARE")
    pred, ref, ref_index = match_references(pred, ref, ref_index)
    check_vertex_count(model, pred)
    names = ("oicd", *ARE_KEYS)
    ids = np.asarray([model.pairs[name] for name in names]).reshape(-1)  # (10,)
    scale = oicd_scale(model, pred, ref, ref_index)  # (B,)
    pred_pts = np.take(pred, ids, axis=1).astype(np.float64) * scale[:, None, None]  # (B, 10, 3)
    ref_pts = np.take(ref, ids, axis=1).astype(np.float64)  # (R, 10, 3)
    pred_d = _distance(pred_pts[:, 0::2], pred_pts[:, 1::2])  # (B, 5) widths, oicd first
    ref_d = _distance(ref_pts[:, 0::2], ref_pts[:, 1::2])[ref_index]  # (B, 5)
    errors = np.abs(pred_d[:, 1:] / pred_d[:, :1] - ref_d[:, 1:] / ref_d[:, :1])  # (B, 4)
    out = {key: errors[:, k] for k, key in enumerate(ARE_KEYS.values())}
    out["mean"] = errors.mean(axis=1)
    return out


def aggregate_by_speaker(values, speakers) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-utterance values per speaker (the paper then averages over speakers).

    Args:
        values: (U,) one metric value per utterance.
        speakers: (U,) speaker id of each utterance (any sortable type).

    Returns:
        per-speaker means (S,) float64 and the speaker ids (S,), sorted; the paper's figure is
        ``per_speaker.mean()``, which weights speakers equally whatever their utterance counts.
    """
    values, speakers = np.asarray(values, np.float64), np.asarray(speakers)
    if values.ndim != 1 or speakers.shape != values.shape:
        raise ValueError(
            f"values and speakers must both be (U,), got {values.shape} and {speakers.shape}"
        )
    ids, inverse, counts = np.unique(speakers, return_inverse=True, return_counts=True)
    return np.bincount(inverse, weights=values, minlength=len(ids)) / counts, ids


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (...,) between (..., 3) points, in float64."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def check_vertex_count(model: MorphableModel, pred: np.ndarray) -> None:
    if pred.shape[1] != model.n_vertices:
        raise ValueError(
            f"predictions have {pred.shape[1]} vertices but model {model.name!r} has "
            f"{model.n_vertices}: pass whole meshes of this model (pair and landmark vertex ids "
            "index them)"
        )
