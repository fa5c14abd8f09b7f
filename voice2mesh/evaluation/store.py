"""The ``evaluate`` stage's prediction file, read back by the report.

predictions.npz   utterance_identity (U,), utterance_path (U,); identities (S,) and
                  ``<kind>_shape`` (S, Ks) reference shapes per kind (``reference``, ``truth``);
                  ``rows`` (M,) row names, ``row_seeds`` (M,) the training seed each row's
                  predictions come from (the first of ``train_seeds``; −1: no training) and,
                  per row, ``<row>.shape`` (U, Ks) and ``<row>.expression`` (U, Ke) raw
                  coefficients (Ke = 0 for neutral rows). Every seed's metrics are in
                  ``per_utterance.csv``; the figures show one model per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice2mesh.evaluation.protocol import TestSet
from voice2mesh.io import MixedOutputError, atomic_path


@dataclass(frozen=True)
class StoredPredictions:
    utterance_identity: np.ndarray  # (U,)
    utterance_path: np.ndarray  # (U,)
    identities: np.ndarray  # (S,)
    references: dict[str, np.ndarray]  # kind -> (S, Ks)
    rows: dict[str, tuple[np.ndarray, np.ndarray]]  # row -> ((U, Ks), (U, Ke))
    seeds: dict[str, int]  # row -> the training seed of its predictions (-1: no training)


def write_predictions(
    path: Path,
    test: TestSet,
    rows: dict[str, tuple[np.ndarray, np.ndarray | None]],
    references: dict[str, np.ndarray],
    seeds: dict[str, int],
) -> None:
    """Write every row's predicted coefficients and the reference shapes (module docstring).

    ``seeds`` gives each row's training seed (−1 for a row without training)."""
    arrays = {
        "utterance_identity": test.utterances.identity.to_numpy(str),
        "utterance_path": test.utterances.path.to_numpy(str),
        "identities": test.identities.astype(str),
        "rows": np.array(list(rows), dtype=str),
        "row_seeds": np.array([seeds[name] for name in rows], np.int64),
    }
    arrays |= {f"{kind}_shape": shape for kind, shape in references.items()}
    for name, (shape, expression) in rows.items():
        arrays[f"{name}.shape"] = np.asarray(shape, np.float32)
        empty = np.zeros((len(shape), 0), np.float32)
        arrays[f"{name}.expression"] = empty if expression is None else expression
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def _check_rows(path: Path, pred: StoredPredictions) -> None:
    """Raise ``MixedOutputError`` unless every array has one row per utterance / identity."""
    n_utt, n_ids = len(pred.utterance_identity), len(pred.identities)
    sizes = {"utterance_path": (len(pred.utterance_path), n_utt)}
    sizes |= {f"{k}_shape": (len(v), n_ids) for k, v in pred.references.items()}
    for row, (shape, expression) in pred.rows.items():
        sizes |= {
            f"{row}.shape": (len(shape), n_utt),
            f"{row}.expression": (len(expression), n_utt),
        }
    wrong = [f"{k} has {n} rows, not {want}" for k, (n, want) in sizes.items() if n != want]
    unknown = set(pred.utterance_identity.tolist()) - set(pred.identities.tolist())
    if unknown:
        wrong.append(f"utterance identity {sorted(unknown)[0]} is not in identities")
    if wrong:
        raise MixedOutputError(
            f"{path}: {wrong[0]}; the file is damaged, re-run `dvc repro evaluate`"
        )


def read_predictions(path: Path | str) -> StoredPredictions:
    """Load ``predictions.npz`` written by ``write_predictions``, checking its row counts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `dvc repro evaluate` first")
    with np.load(path) as data:
        names = [str(r) for r in data["rows"].tolist()]
        rows = {r: (data[f"{r}.shape"], data[f"{r}.expression"]) for r in names}
        seeds = data["row_seeds"].tolist() if "row_seeds" in data.files else [-1] * len(names)
        kinds = [k[: -len("_shape")] for k in data.files if k.endswith("_shape")]
        pred = StoredPredictions(
            utterance_identity=data["utterance_identity"],
            utterance_path=data["utterance_path"],
            identities=data["identities"],
            references={kind: data[f"{kind}_shape"] for kind in kinds},
            rows=rows,
            seeds=dict(zip(names, map(int, seeds), strict=True)),
        )
    _check_rows(path, pred)
    return pred
