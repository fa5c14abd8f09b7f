"""The report's figures, drawn from the ``evaluate`` stage's ``predictions.npz``.

meshes.png     a few test speakers (evenly spaced over the sorted identities): the reference
               face, then what each model predicted from the speaker's first utterance, frontal
               and at 3/4 view (one camera per view, so sizes stay comparable).
coherence.png  one test speaker: the predictions from each of its utterances beside the
               reference; shows whether predictions from different utterances agree.
ear_ratio.png  predicted vs reference ear-width / OICD ratio (the ratio behind ER) per test
               utterance, one colour per model, with the identity line.

Predictions are drawn as they were scored: predicted shape and expression; references neutral.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from voice2mesh.evaluation.rows import ROW_LABELS
from voice2mesh.evaluation.store import StoredPredictions
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.io import atomic_path
from voice2mesh.render import fit_pose, image_grid, render

MESH_ROWS = ("baseline", "supervised", "unsupervised")
FALLBACK_ROWS = ("gender_mean_face", "mean_face")  # shown when no network row is present
RATIO_ROWS = ("gender_mean_face", "baseline", "supervised", "unsupervised")
VIEWS: tuple[tuple[str, float], ...] = (("front", 0.0), ("3/4", 45.0))
CHUNK = 256  # faces reconstructed at once


def shown_rows(
    available: Sequence[str],
    wanted: Sequence[str] = MESH_ROWS,
    fallback: Sequence[str] = FALLBACK_ROWS,
) -> list[str]:
    """The ``wanted`` rows present in ``available``, else the present ``fallback`` rows."""
    rows = [r for r in wanted if r in available]
    return rows or [r for r in fallback if r in available]


def pick_speakers(identities: Sequence[str], n: int) -> list[str]:
    """``n`` identities evenly spaced over the sorted ``identities`` (deterministic)."""
    ordered = sorted(str(i) for i in identities)
    if not ordered or n <= 0:
        return []
    picks = np.unique(np.linspace(0, len(ordered) - 1, min(n, len(ordered))).round().astype(int))
    return [ordered[i] for i in picks]


def utterances_of(pred: StoredPredictions, identity: str) -> np.ndarray:
    """Indices of ``identity``'s test utterances, ordered by path."""
    idx = np.flatnonzero(pred.utterance_identity.astype(str) == identity)
    return idx[np.argsort(pred.utterance_path[idx].astype(str), kind="stable")]


def predicted_faces(
    model: MorphableModel, pred: StoredPredictions, row: str, idx: np.ndarray
) -> np.ndarray:
    """(k, N, 3) faces ``row`` predicted for utterances ``idx`` (shape + expression)."""
    shape, expression = pred.rows[row]
    exp = expression[idx] if expression.shape[1] else None
    return np.asarray(model.reconstruct(shape[idx], exp))


def reference_face(
    model: MorphableModel, pred: StoredPredictions, identity: str, kind: str = "reference"
) -> np.ndarray:
    """(N, 3) the ``kind`` face of ``identity`` (neutral expression)."""
    s = int(np.flatnonzero(pred.identities.astype(str) == identity)[0])
    return np.asarray(model.reconstruct(pred.references[kind][s : s + 1]))[0]


def _render_rows(
    model: MorphableModel, faces: Sequence[np.ndarray], size: int, label: str
) -> tuple[list[list[np.ndarray]], list[str]]:
    """One tile row per view of ``faces`` (N, 3) each; row labels ``"<label> <view>"``."""
    mean = model.mean_vertices()
    tiles, labels = [], []
    for view, yaw in VIEWS:
        pose = fit_pose(mean, (size, size), yaw=yaw, margin=0.16)
        tiles.append([render(f, model.triangles, pose, (size, size)).image for f in faces])
        labels.append(f"{label} {view}")
    return tiles, labels


def mesh_sheet(
    model: MorphableModel,
    pred: StoredPredictions,
    n_speakers: int = 4,
    size: int = 160,
    kind: str = "reference",
) -> np.ndarray:
    """(H, W, 3) uint8: per speaker, the reference then each model's prediction, two views."""
    rows = shown_rows(list(pred.rows))
    speakers = pick_speakers(pred.identities.astype(str), n_speakers)
    if not rows or not speakers:
        raise ValueError("meshes.png needs at least one predicted row and one test identity")
    tiles, labels = [], []
    for identity in speakers:
        first = utterances_of(pred, identity)[:1]
        faces = [reference_face(model, pred, identity, kind)]
        faces += [predicted_faces(model, pred, r, first)[0] for r in rows]
        more_tiles, more_labels = _render_rows(model, faces, size, identity)
        tiles += more_tiles
        labels += more_labels
    columns = [kind] + [ROW_LABELS.get(r, r) for r in rows]
    return image_grid(tiles, row_labels=labels, col_labels=columns)


def coherence_speaker(pred: StoredPredictions) -> str:
    """The first (sorted) test identity among those with the most utterances."""
    ids, counts = np.unique(pred.utterance_identity.astype(str), return_counts=True)
    if not len(ids):
        raise ValueError("coherence.png needs at least one test utterance")
    return str(ids[int(np.argmax(counts))])


def coherence_sheet(
    model: MorphableModel, pred: StoredPredictions, size: int = 160, kind: str = "reference"
) -> np.ndarray:
    """(H, W, 3) uint8: one speaker's reference beside the predictions from each utterance."""
    identity = coherence_speaker(pred)
    idx = utterances_of(pred, identity)
    reference = reference_face(model, pred, identity, kind)
    tiles, labels = [], []
    for row in shown_rows(list(pred.rows), ("supervised", "unsupervised")):
        faces = [reference, *predicted_faces(model, pred, row, idx)]
        more_tiles, more_labels = _render_rows(model, faces, size, ROW_LABELS.get(row, row))
        tiles += more_tiles
        labels += more_labels
    if not tiles:
        raise ValueError("coherence.png needs at least one predicted row")
    columns = [f"{kind} {identity}"] + [f"utterance {i + 1}" for i in range(len(idx))]
    return image_grid(tiles, row_labels=labels, col_labels=columns)


def ear_ratio(
    model: MorphableModel, shape: np.ndarray, expression: np.ndarray | None = None
) -> np.ndarray:
    """(B,) ear width / OICD of the faces with raw coefficients ``shape`` (B, Ks) [+ expression]."""
    out = []
    for start in range(0, len(shape), CHUNK):
        sl = slice(start, start + CHUNK)
        exp = None if expression is None or not expression.shape[1] else expression[sl]
        dist = model.pair_distances(np.asarray(model.reconstruct(shape[sl], exp)))
        out.append(dist["ear"] / dist["oicd"])
    return np.concatenate(out) if out else np.zeros(0)


def ear_ratio_png(
    model: MorphableModel, pred: StoredPredictions, path: Path | str, kind: str = "reference"
) -> Path:
    """Write the predicted-vs-reference ear-ratio scatter as a deterministic PNG."""
    reference = ear_ratio(model, pred.references[kind])  # (S,)
    order = {str(i): k for k, i in enumerate(pred.identities.astype(str))}
    x = reference[[order[str(i)] for i in pred.utterance_identity]]  # (U,)
    fig = Figure(figsize=(5.0, 5.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = [x]
    for row in (r for r in RATIO_ROWS if r in pred.rows):
        y = ear_ratio(model, *pred.rows[row])
        values.append(y)
        ax.scatter(x, y, s=12, alpha=0.7, label=ROW_LABELS.get(row, row))
    low, high = float(np.min(np.concatenate(values))), float(np.max(np.concatenate(values)))
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="identity")
    ax.set_xlabel(f"{kind} ear width / OICD")
    ax.set_ylabel("predicted ear width / OICD")
    ax.set_title("Ear ratio (ER) per test utterance")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version/time stamps
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path
