"""The ``fit3dmm`` stage's output folder, written shard by shard inside ``io.atomic_dir``.

shard_NNNNN.npz  every FitResult field, ``usable`` (n,) bool and ``paths`` (n,) the image paths
                 of the index.csv rows of that shard (``io.write_npz``: deflated, fixed
                 timestamps), so that a folder mixing two runs is refused; the fits of shard k
                 are those of the landmarks' shard k
index.csv        the landmarks index (identity, name, split, path, height, width, shard) + usable
rejects.csv      path, reason for every fit left out
references.npz   ids (I,) identities as references.csv, shape (I, Ks) reference coefficients
references.csv   identity, name, gender, split, n_fits, chosen path (the evaluation's refs)

``write_fit_shards`` takes the fits a shard at a time and keeps only the per-identity reference
state (``fitting.reference.ReferenceAccumulator``) and a few numbers per fit for the summary, so
memory does not grow with the photos' landmarks and fits. ``read_references`` reads the
references alone, for the readers that need nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.fitting.reference import ReferenceAccumulator, References
from voice2mesh.io import (
    MixedOutputError,
    atomic_dir,
    check_same_rows,
    shard_files,
    shard_name,
    write_npz,
)

SHARD_SIZE = 4096  # fits per shard when the fits are written whole (``write_fits``)
FILES = ("shard_*.npz", "index.csv", "rejects.csv", "references.npz", "references.csv")
FIX = "re-run `dvc repro fit3dmm`"
SUMMARY_FIELDS = ("converged", "residual_px", "residual_norm")


@dataclass(frozen=True)
class StoredFits:
    index: pd.DataFrame
    result: FitResult
    usable: np.ndarray
    references: pd.DataFrame  # one row per identity with a reference
    reference_shape: np.ndarray  # (I, Ks) rows as ``references``

    def summary(self) -> dict:
        """Counts, convergence and median residuals of the usable fits (for metrics)."""
        numbers = {name: getattr(self.result, name) for name in SUMMARY_FIELDS}
        return summarize(self.usable, numbers, self.references)


def summarize(usable: np.ndarray, numbers: dict[str, np.ndarray], refs: pd.DataFrame) -> dict:
    """``StoredFits.summary`` from (M,) usable and the (M,) ``SUMMARY_FIELDS`` of the fits."""
    return {
        "images": len(usable),
        "usable": int(usable.sum()),
        "rejected": int((~usable).sum()),
        "converged_fraction": round(float(numbers["converged"].mean()), 4),
        "residual_px_median": _median(numbers["residual_px"][usable], 4),
        "residual_norm_median": _median(numbers["residual_norm"][usable], 5),
        "references": refs.split.value_counts().sort_index().to_dict(),
    }


def _median(values: np.ndarray, digits: int) -> float | None:
    """The median of the finite values, rounded; None without any (the release's fits)."""
    finite = values[np.isfinite(values)]
    return round(float(np.median(finite)), digits) if len(finite) else None


def write_fit_shards(
    folder: Path,
    shards: Iterable[tuple[pd.DataFrame, FitResult, list[str | None]]],
    identities: pd.DataFrame,
    rule: str,
    *,
    max_reject_fraction: float = 1.0,
) -> dict:
    """Write the fits of ``shards`` as they come, then rejects and references; return the summary.

    Args:
        folder: the output folder (module docstring), replaced whole on success.
        shards: per shard, ``(rows, fits, reasons)``: the landmarks index rows, their n fits and
            n ``diverged_reasons`` (None: usable).
        identities: the manifest identities table.
        rule: the reference rule (``fitting.reference.RULES``).
        max_reject_fraction: fail (writing nothing) when more of the fits are unusable.
    """
    accumulator = ReferenceAccumulator(rule)
    tables, rejects = [], []
    numbers: dict[str, list] = {name: [] for name in SUMMARY_FIELDS}
    with atomic_dir(folder, owns=FILES) as tmp:
        for k, (rows, result, reasons) in enumerate(shards):
            usable = np.array([r is None for r in reasons], bool).reshape(len(rows))
            _write_shard(tmp, k, rows.path, usable, result)
            accumulator.add(rows.identity.to_numpy(), result, usable)
            tables.append(rows.assign(shard=k, usable=usable))
            for name, values in numbers.items():  # a few numbers per fit, for the summary
                values.append(getattr(result, name))
            rejects += [(p, r) for p, r in zip(rows.path, reasons, strict=True) if r]
        index = pd.concat(tables, ignore_index=True)
        if len(index) and len(rejects) / len(index) > max_reject_fraction:
            raise RuntimeError(
                f"{len(rejects)} of {len(index)} fits rejected (> fit3dmm.max_reject_fraction); "
                f"first reason: {rejects[0][1]}"
            )
        refs, _ = _write_tables(tmp, index, rejects, accumulator.references(), identities)
    columns = {name: np.concatenate(values) for name, values in numbers.items()}
    return summarize(index.usable.to_numpy(bool), columns, refs)


def write_fits(
    folder: Path,
    index: pd.DataFrame,
    result: FitResult,
    reasons: list[str | None],
    references: References,
    identities: pd.DataFrame,
    shard_size: int = SHARD_SIZE,
) -> StoredFits:
    """Write fits held whole, in shards of ``shard_size``, with their rejects and references.

    Args:
        index: the M rows of the fits (identity, name, split, path, ...).
        reasons: (M,) ``diverged_reasons`` (None: usable).
        references: the identities' references; ``chosen`` indexes the M fits.
        identities: the manifest identities table.
    """
    usable = np.array([r is None for r in reasons], bool).reshape(len(index))
    table = index.reset_index(drop=True)
    table = table.assign(shard=np.arange(len(table)) // shard_size, usable=usable)
    rejects = [(p, r) for p, r in zip(table.path, reasons, strict=True) if r]
    with atomic_dir(folder, owns=FILES) as tmp:
        for k in range(max(1, -(-len(table) // shard_size))):
            rows = slice(k * shard_size, (k + 1) * shard_size)
            part = FitResult(**{name: v[rows] for name, v in result.arrays().items()})
            _write_shard(tmp, k, table.path[rows], usable[rows], part)
        refs, shape = _write_tables(tmp, table, rejects, references, identities)
    return StoredFits(table, result, usable, refs, shape)


def _write_shard(
    folder: Path, k: int, paths: pd.Series, usable: np.ndarray, result: FitResult
) -> None:
    arrays = {"paths": paths.to_numpy(str), "usable": usable} | result.arrays()
    write_npz(folder / shard_name(k), arrays, compress=True)


def _write_tables(
    folder: Path,
    index: pd.DataFrame,
    rejects: list[tuple[str, str]],
    references: References,
    identities: pd.DataFrame,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Write index, rejects and the references (of identities with one); return the latter."""
    has = references.chosen >= 0
    has |= np.isfinite(references.shape).all(axis=1)
    refs = identities.set_index("identity").loc[np.asarray(references.ids)[has]].reset_index()
    refs = refs[["identity", "name", "gender", "split"]].assign(
        n_fits=references.n_fits[has],
        chosen=[index.path.iloc[c] if c >= 0 else "" for c in references.chosen[has]],
    )
    shape = references.shape[has]
    index.to_csv(folder / "index.csv", index=False)
    pd.DataFrame(rejects, columns=["path", "reason"]).to_csv(folder / "rejects.csv", index=False)
    write_npz(
        folder / "references.npz", {"ids": np.asarray(refs.identity, str), "shape": shape}, True
    )
    refs.to_csv(folder / "references.csv", index=False)
    return refs, shape


def _load(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; refuses one without the row ``keys``."""
    with np.load(path) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise MixedOutputError(f"{path} has no {missing} (an older layout); {FIX}")
        return {k: data[k] for k in data.files}


def read_references(folder: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """``(references table, reference_shape (I, Ks))`` alone, as ``read_fits`` gives them.

    Raises:
        FileNotFoundError: no references.
        MixedOutputError: references.npz and references.csv name other identities.
    """
    folder = Path(folder)
    missing = [n for n in ("references.npz", "references.csv") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(missing)}; run `dvc repro fit3dmm`")
    saved = _load(folder / "references.npz", ("ids", "shape"))
    references = pd.read_csv(folder / "references.csv", keep_default_na=False)
    check_same_rows(
        folder,
        "references.npz ids and references.csv",
        saved["ids"],
        references.identity,
        "fit3dmm",
    )
    return references, saved["shape"]


def read_fits(folder: Path) -> StoredFits:
    """Load what ``write_fits`` / ``write_fit_shards`` wrote, checking that its files agree.

    Raises:
        FileNotFoundError: no index.csv or references.
        MixedOutputError: a shard's image paths or usable flags disagree with index.csv, the
            rejects with the unusable fits, or the references with each other or the fits.
    """
    folder = Path(folder)
    if not (folder / "index.csv").is_file():
        raise FileNotFoundError(f"{folder}: no index.csv; run `dvc repro fit3dmm`")
    references, reference_shape = read_references(folder)
    index = pd.read_csv(folder / "index.csv", keep_default_na=False)
    if "shard" not in index.columns:
        raise MixedOutputError(
            f"{folder / 'index.csv'} has no shard column (an older layout); {FIX}"
        )
    rejects = pd.read_csv(folder / "rejects.csv", keep_default_na=False)
    usable = index.usable.to_numpy(bool)
    check_same_rows(
        folder, "rejects.csv and the unusable fits", rejects.path, index.path[~usable], "fit3dmm"
    )
    unknown = sorted(set(references.chosen) - set(index.path) - {""})
    if unknown:
        raise MixedOutputError(
            f"{folder}: references.csv chose {unknown[0]}, which the fits do not hold; the "
            f"folder mixes files of different runs or is damaged, {FIX}"
        )
    parts = []
    for k, path in enumerate(shard_files(folder, index.shard, "fit3dmm")):
        rows = index[index.shard.to_numpy() == k]
        arrays = _load(path, ("paths", "usable"))
        check_same_rows(
            path, "shard paths and index.csv", arrays.pop("paths"), rows.path, "fit3dmm"
        )
        check_same_rows(
            path, "shard usable and index.csv", arrays.pop("usable"), rows.usable, "fit3dmm"
        )
        parts.append(arrays)
    result = FitResult(**{name: np.concatenate([p[name] for p in parts]) for name in parts[0]})
    return StoredFits(index, result, usable, references, reference_shape)
