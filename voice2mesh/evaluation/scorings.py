"""Every (row, seed) prediction scored two ways against every reference kind, each distinct
prediction once.

Scorings:

    as_predicted   the predicted shape and expression (as the paper scores its networks)
    shape_only     the predicted shape with the expression set to zero: references are neutral,
                   so this leaves out what a network loses by predicting an expression

Blocks of ``metrics/evaluate.json`` (``block_name``): ``vs_reference``, ``vs_truth`` (as
predicted), ``shape_only``, ``shape_only_vs_truth``.

Cost: the metrics of a prediction depend only on its coefficients and its reference, so every
distinct (shape, expression, identity) is reconstructed and registered once (the mean faces
repeat one face per identity, their shape-only scoring is their as-predicted one, and
``unsupervised`` is a ``kd_ablation@`` model) and scored against every reference kind from the
same mesh. Identities are scored on ``icp.THREADS`` threads, each with all its predictions in
one batch, so each reference surface is built once per batch. The values equal
``scoring.score``'s.

Registration metrics (``REGISTRATION_COLUMNS``: ICP RMSE and the six parts, nine tenths of the
cost) are computed for the rows ``registered`` names and left NaN for the others: ``evaluate``
registers the rows of Tables 1-4 and not Table 5's ``kd_ablation@`` rows, whose table reports
the ratio errors (the paper's Table 5 too); their NME is still computed, being cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from voice2mesh.evaluation.protocol import TestSet
from voice2mesh.evaluation.scoring import (
    ARE_COLUMNS,
    CHUNK,
    METRIC_COLUMNS,
    REGISTRATION_COLUMNS,
)
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.metrics import are, icp_rmse, nme, part_rmse
from voice2mesh.metrics.icp import THREADS

AS_PREDICTED, SHAPE_ONLY = "as_predicted", "shape_only"
SCORINGS = (AS_PREDICTED, SHAPE_ONLY)
Prediction = tuple[np.ndarray, np.ndarray | None]  # shape (U, Ks), expression (U, Ke) or None


def block_name(reference: str, scoring: str) -> str:
    """The ``metrics/evaluate.json`` key of ``scoring`` against the ``reference`` kind."""
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; known: {', '.join(SCORINGS)}")
    vs = f"vs_{reference}"
    if scoring == AS_PREDICTED:
        return vs
    return SHAPE_ONLY if reference == "reference" else f"{SHAPE_ONLY}_{vs}"


def metric_columns(
    model: MorphableModel,
    pred: np.ndarray,
    refs: np.ndarray,
    ref_index: np.ndarray,
    register: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``{column: (B,)}`` for ``METRIC_COLUMNS`` of meshes (B, N, 3) against refs (R, N, 3);
    ``register`` (B,) bool: the meshes that get ``REGISTRATION_COLUMNS`` (default: all; NaN
    for the others)."""
    errors = are(model, pred, refs, ref_index=ref_index)
    columns = {key: errors[key] for key in ARE_COLUMNS[:-1]} | {"ARE": errors["mean"]}
    columns["NME"] = nme(model, pred, refs, ref_index=ref_index)
    register = np.ones(len(pred), bool) if register is None else np.asarray(register, bool)
    for key in REGISTRATION_COLUMNS:
        columns[key] = np.full(len(pred), np.nan)
    if register.any():
        chosen, index = pred[register], ref_index[register]
        columns["RMSE"][register] = icp_rmse(model, chosen, refs, ref_index=index)
        for key, values in part_rmse(model, chosen, refs, ref_index=index).items():
            columns[key][register] = values
    return columns


def _coefficients(
    predictions: Mapping[tuple[str, int], Prediction], scorings: tuple[str, ...]
) -> tuple[list[tuple[str, str, int]], np.ndarray, int]:
    """Tasks (scoring, row, seed) and their (T, U, Ks + Ke) coefficients; expression zero-padded
    to the widest (zero for shape-only and neutral rows)."""
    ks = max(np.shape(s)[1] for s, _ in predictions.values())
    ke = max((np.shape(e)[1] for _, e in predictions.values() if e is not None), default=0)
    tasks, blocks = [], []
    for scoring in scorings:
        for (name, seed), (shape, expression) in predictions.items():
            shape = np.asarray(shape, np.float64)
            block = np.zeros((len(shape), ks + ke))
            block[:, : shape.shape[1]] = shape
            if expression is not None and scoring == AS_PREDICTED:
                block[:, ks : ks + np.shape(expression)[1]] = expression
            tasks.append((scoring, name, seed))
            blocks.append(block)
    return tasks, np.stack(blocks), ks


def score_all(
    model: MorphableModel,
    predictions: Mapping[tuple[str, int], Prediction],
    test: TestSet,
    references: Mapping[str, np.ndarray],
    scorings: tuple[str, ...] = SCORINGS,
    progress: Callable[[Iterable], Iterable] = iter,
    registered: Callable[[str], bool] = lambda row: True,
) -> pd.DataFrame:
    """Per-utterance metrics of every prediction, scoring and reference kind.

    Args:
        model: the face model (dense).
        predictions: ``{(row, seed): (shape (U, Ks), expression (U, Ke) or None)}`` raw
            coefficients, rows as ``test.utterances``.
        test: the test set (``ref_index`` names each utterance's identity).
        references: ``{kind: (S, Ks) raw reference shapes}``, rows as ``test.identities``.
        scorings: which of ``SCORINGS``.
        progress: wraps the loop over batches of distinct predictions.
        registered: whether a row gets ``REGISTRATION_COLUMNS`` (NaN otherwise, even where
            another row made the same prediction).

    Returns:
        ``reference``, ``scoring``, ``model``, ``seed``, ``identity``, ``path`` and the
        ``METRIC_COLUMNS``, one row per (kind, scoring, row, seed, utterance).
    """
    tasks, coeffs, ks = _coefficients(predictions, scorings)  # (T, U, K)
    n_tasks, n_utt, k = coeffs.shape
    ref_index = np.asarray(test.ref_index, np.int64)
    keyed = np.concatenate(
        [coeffs, np.broadcast_to(ref_index[None, :, None], (n_tasks, n_utt, 1))], 2
    )
    keyed = np.ascontiguousarray(keyed.reshape(n_tasks * n_utt, k + 1))
    if not np.isfinite(keyed).all():
        raise ValueError("predicted coefficients are not finite; check the model")
    rows_as_bytes = keyed.view(np.dtype((np.void, keyed.itemsize * (k + 1)))).ravel()
    _, first, inverse = np.unique(rows_as_bytes, return_index=True, return_inverse=True)
    unique, owner = keyed[first, :k], ref_index[first % n_utt]  # (P, K), (P,) identity
    wanted = np.array([registered(name) for _, name, _ in tasks], bool)  # (T,)
    register = np.zeros(len(unique), bool)  # a prediction some registered task made
    register[inverse.reshape(n_tasks, n_utt)[wanted].ravel()] = True
    meshes = {
        kind: np.asarray(model.reconstruct(np.asarray(s, np.float64)))
        for kind, s in references.items()
    }
    results = {kind: np.empty((len(unique), len(METRIC_COLUMNS))) for kind in references}

    def measure(ids: np.ndarray) -> None:
        """Score predictions ``ids`` (b,), all of one identity, against each kind's face."""
        exp = unique[ids, ks:] if k > ks else None
        pred = np.asarray(model.reconstruct(unique[ids, :ks], exp))  # (b, N, 3)
        r, zero = int(owner[ids[0]]), np.zeros(len(ids), np.int64)
        for kind, refs in meshes.items():
            columns = metric_columns(model, pred, refs[r : r + 1], zero, register[ids])
            results[kind][ids] = np.stack([columns[c] for c in METRIC_COLUMNS], axis=1)

    batches = [
        ids[start : start + CHUNK]
        for r in np.unique(owner)
        for ids in [np.flatnonzero(owner == r)]
        for start in range(0, len(ids), CHUNK)
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        for done in progress([pool.submit(measure, ids) for ids in batches]):
            done.result()  # re-raises a failure
    frame = _long_frame(tasks, inverse.reshape(n_tasks, n_utt), results, test)
    unregistered = ~frame.model.map(registered).to_numpy(bool)
    frame.loc[unregistered, list(REGISTRATION_COLUMNS)] = np.nan
    return frame


def _long_frame(
    tasks: list[tuple[str, str, int]],
    inverse: np.ndarray,
    results: Mapping[str, np.ndarray],
    test: TestSet,
) -> pd.DataFrame:
    """The per-utterance frame: task t's utterance u has the metrics of ``inverse[t, u]``."""
    n_tasks, n_utt = inverse.shape
    labels = pd.DataFrame(
        {
            "scoring": np.repeat([t[0] for t in tasks], n_utt),
            "model": np.repeat([t[1] for t in tasks], n_utt),
            "seed": np.repeat(np.array([t[2] for t in tasks], np.int64), n_utt),
            "identity": np.tile(test.utterances.identity.astype(str).to_numpy(), n_tasks),
            "path": np.tile(test.utterances.path.to_numpy(), n_tasks),
        }
    )
    frames = [
        pd.concat(
            [
                labels.assign(reference=kind),
                pd.DataFrame(values[inverse.ravel()], columns=list(METRIC_COLUMNS)),
            ],
            axis=1,
        )
        for kind, values in results.items()
    ]
    columns = ["reference", "scoring", "model", "seed", "identity", "path"]
    frame = pd.concat(frames, ignore_index=True)
    return frame[columns + list(METRIC_COLUMNS)]
