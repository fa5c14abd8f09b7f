"""The ``fit3dmm`` stage's output folder, written whole (``voice2mesh.io.atomic_dir``).

fits.npz         every FitResult field (rows = index.csv), ``usable`` (M,) bool and ``paths``
                 (M,) the image paths of index.csv, so that a folder mixing two runs is refused
index.csv        the landmarks index (identity, name, split, path, height, width) + usable
rejects.csv      path, reason for every fit left out
references.npz   ids (I,) identities as references.csv, shape (I, Ks) reference coefficients
references.csv   identity, name, gender, split, n_fits, chosen path (the evaluation's refs)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.fitting.reference import References
from voice2mesh.io import MixedOutputError, atomic_dir, check_same_rows

FILES = ("fits.npz", "index.csv", "rejects.csv", "references.npz", "references.csv")


@dataclass(frozen=True)
class StoredFits:
    index: pd.DataFrame
    result: FitResult
    usable: np.ndarray
    references: pd.DataFrame  # one row per identity with a reference
    reference_shape: np.ndarray  # (I, Ks) rows as ``references``

    def summary(self) -> dict:
        """Counts, convergence and median residuals of the usable fits (for metrics)."""
        ok = self.usable
        return {
            "images": len(ok),
            "usable": int(ok.sum()),
            "rejected": int((~ok).sum()),
            "converged_fraction": round(float(self.result.converged.mean()), 4),
            "residual_px_median": _median(self.result.residual_px[ok], 4),
            "residual_norm_median": _median(self.result.residual_norm[ok], 5),
            "references": self.references.split.value_counts().sort_index().to_dict(),
        }


def _median(values: np.ndarray, digits: int) -> float | None:
    """The median of the finite values, rounded; None without any (the release's fits)."""
    finite = values[np.isfinite(values)]
    return round(float(np.median(finite)), digits) if len(finite) else None


def write_fits(
    folder: Path,
    index: pd.DataFrame,
    result: FitResult,
    reasons: list[str | None],
    references: References,
    identities: pd.DataFrame,
) -> StoredFits:
    """Write fits, rejects and references; identities: the manifest identities table."""
    usable = np.array([r is None for r in reasons], bool)
    has = references.chosen >= 0
    has |= np.isfinite(references.shape).all(axis=1)
    refs = identities.set_index("identity").loc[np.asarray(references.ids)[has]].reset_index()
    refs = refs[["identity", "name", "gender", "split"]].assign(
        n_fits=references.n_fits[has],
        chosen=[index.path.iloc[c] if c >= 0 else "" for c in references.chosen[has]],
    )
    shape = references.shape[has]
    rejects = pd.DataFrame({"path": index.path[~usable], "reason": [r for r in reasons if r]})
    with atomic_dir(folder, owns=FILES) as tmp:
        np.savez_compressed(
            tmp / "fits.npz", paths=index.path.to_numpy(str), usable=usable, **result.arrays()
        )
        index.assign(usable=usable).to_csv(tmp / "index.csv", index=False)
        rejects.to_csv(tmp / "rejects.csv", index=False)
        np.savez_compressed(tmp / "references.npz", ids=np.asarray(refs.identity, str), shape=shape)
        refs.to_csv(tmp / "references.csv", index=False)
    return StoredFits(index.assign(usable=usable), result, usable, refs, shape)


def _load(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; refuses one without the row ``keys``."""
    with np.load(path) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise MixedOutputError(
                f"{path} has no {missing} (an older layout); re-run `dvc repro fit3dmm`"
            )
        return {k: data[k] for k in data.files}


def read_fits(folder: Path) -> StoredFits:
    """Load what ``write_fits`` wrote, checking that its files describe the same rows.

    Raises:
        FileNotFoundError: no ``fits.npz``.
        MixedOutputError: the arrays' image paths or identities disagree with the tables.
    """
    folder = Path(folder)
    if not (folder / "fits.npz").is_file():
        raise FileNotFoundError(f"{folder}: no fits.npz; run `dvc repro fit3dmm`")
    arrays = _load(folder / "fits.npz", ("paths", "usable"))
    paths, usable = arrays.pop("paths"), arrays.pop("usable")
    saved = _load(folder / "references.npz", ("ids", "shape"))
    index = pd.read_csv(folder / "index.csv", keep_default_na=False)
    references = pd.read_csv(folder / "references.csv", keep_default_na=False)
    rejects = pd.read_csv(folder / "rejects.csv", keep_default_na=False)
    check_same_rows(folder, "fits.npz paths and index.csv", paths, index.path, "fit3dmm")
    check_same_rows(folder, "fits.npz usable and index.csv", usable, index.usable, "fit3dmm")
    check_same_rows(
        folder, "rejects.csv and the unusable fits", rejects.path, paths[~usable], "fit3dmm"
    )
    check_same_rows(
        folder,
        "references.npz ids and references.csv",
        saved["ids"],
        references.identity,
        "fit3dmm",
    )
    unknown = sorted(set(references.chosen) - set(paths) - {""})
    if unknown:
        raise MixedOutputError(
            f"{folder}: references.csv chose {unknown[0]}, which fits.npz does not hold; the "
            "folder mixes files of different runs or is damaged, re-run `dvc repro fit3dmm`"
        )
    return StoredFits(index, FitResult(**arrays), usable, references, saved["shape"])
