"""The ``fit3dmm`` stage's output folder.

fits.npz         every FitResult field (rows = index.csv) and ``usable`` (M,) bool
index.csv        the landmarks index (identity, name, split, path, height, width) + usable
rejects.csv      path, reason for every fit left out
references.npz   ids (I,), shape (I, Ks) reference coefficients, chosen (I,), n_fits (I,)
references.csv   identity, name, gender, split, n_fits, chosen path (the evaluation's refs)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voice2mesh.fitting.landmark_fit import FitResult
from voice2mesh.fitting.reference import References
from voice2mesh.io import atomic_path


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
            "residual_px_median": round(float(np.nanmedian(self.result.residual_px[ok])), 4),
            "residual_norm_median": round(float(np.nanmedian(self.result.residual_norm[ok])), 5),
            "references": self.references.split.value_counts().sort_index().to_dict(),
        }


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_fits(
    folder: Path,
    index: pd.DataFrame,
    result: FitResult,
    reasons: list[str | None],
    references: References,
    identities: pd.DataFrame,
) -> StoredFits:
    """Write fits, rejects and references; identities: the manifest identities table."""
    folder = Path(folder)
    usable = np.array([r is None for r in reasons], bool)
    with atomic_path(folder / "fits.npz") as tmp:
        np.savez_compressed(tmp, usable=usable, **result.arrays())
    _csv(index.assign(usable=usable), folder / "index.csv")
    _csv(
        pd.DataFrame({"path": index.path[~usable], "reason": [r for r in reasons if r]}),
        folder / "rejects.csv",
    )
    has = references.chosen >= 0
    has |= np.isfinite(references.shape).all(axis=1)
    refs = identities.set_index("identity").loc[np.asarray(references.ids)[has]].reset_index()
    refs = refs[["identity", "name", "gender", "split"]].assign(
        n_fits=references.n_fits[has],
        chosen=[index.path.iloc[c] if c >= 0 else "" for c in references.chosen[has]],
    )
    shape = references.shape[has]
    with atomic_path(folder / "references.npz") as tmp:
        np.savez_compressed(tmp, ids=np.asarray(refs.identity, str), shape=shape)
    _csv(refs, folder / "references.csv")
    return StoredFits(index.assign(usable=usable), result, usable, refs, shape)


def read_fits(folder: Path) -> StoredFits:
    """Load what ``write_fits`` wrote."""
    folder = Path(folder)
    if not (folder / "fits.npz").is_file():
        raise FileNotFoundError(f"{folder}: no fits.npz; run `dvc repro fit3dmm`")
    with np.load(folder / "fits.npz") as data:
        arrays = {k: data[k] for k in data.files}
    usable = arrays.pop("usable")
    with np.load(folder / "references.npz") as data:
        shape = data["shape"]
    return StoredFits(
        pd.read_csv(folder / "index.csv", keep_default_na=False),
        FitResult(**arrays),
        usable,
        pd.read_csv(folder / "references.csv", keep_default_na=False),
        shape,
    )
