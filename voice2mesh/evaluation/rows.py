"""The evaluation rows: every model the paper's tables compare, in table order, in one place.

``evaluate`` predicts with each row, ``report`` labels and orders the tables by it, and
``voice2mesh predict --row`` finds a row's model through it. A row is

    name      the key in metrics/evaluate.json ("supervised", "kd_ablation@rkd", ...)
    label     how the report shows it
    stage     the DVC stage that produces its model (None: ``evaluate`` computes the row)
    files     the model files it reads, from the params
    load      (files, models) -> a log-mel (1, 64, T) -> raw (shape, expression) predictor

A new model is one ``Row`` here (and its stage in dvc.yaml). The ``unsupervised`` row is the
model of ``kd_ablation@<kd.method>``: the same file, trained once; rows that read the same files
are predicted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from voice2mesh.checkpoint import ModelCache
from voice2mesh.config import KD_METHODS, Params
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE
from voice2mesh.models.cascade import VoiceToParams
from voice2mesh.models.registry import PREDICTING_KINDS

Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

BASELINE = "baseline"  # the paper's: the pretrained GAN's faces through the teacher
KD_LABELS = {
    "kd": "KD", "attention": "Attention", "sp": "SP", "correlation": "Correlation",
    "rkd": "RKD", "crd": "CRD", "vid": "VID", "pkt": "PKT",
}  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One row of the tables (module docstring)."""

    name: str
    label: str
    stage: Callable[[Params], str] | None = None
    files: Callable[[Params], tuple[Path, ...]] = lambda _: ()
    load: Callable[[tuple[Path, ...], ModelCache], Predictor] | None = None


def _predictor(files: tuple[Path, ...], models: ModelCache) -> Predictor:
    return models.get(files[0], PREDICTING_KINDS, "an evaluation row").predict_raw


def _baseline(files: tuple[Path, ...], models: ModelCache) -> Predictor:
    """The paper's baseline: the pretrained GAN's faces fed to the pretrained teacher."""
    gan = models.get(files[0], ("gan",), "the baseline row")
    teacher = models.get(files[1], ("teacher",), "the baseline row")
    return VoiceToParams(gan, teacher, teacher.param_mean, teacher.param_std).eval()


def _kd_row(method: str) -> Row:
    return Row(
        f"kd_ablation@{method}",
        KD_LABELS[method],
        lambda _: f"kd_ablation@{method}",
        lambda p: (p.kd.model_path(method),),
        _predictor,
    )


ROWS: tuple[Row, ...] = (
    Row(MEAN_FACE, "Mean face"),
    Row(GENDER_MEAN_FACE, "Gender mean face"),
    Row(
        BASELINE,
        "Baseline",
        lambda _: "train_gan",
        lambda p: (Path(p.gan.out), Path(p.teacher.out)),
        _baseline,
    ),
    Row(
        "supervised",
        "Supervised",
        lambda _: "train_supervised",
        lambda p: (Path(p.supervised.out),),
        _predictor,
    ),
    Row(
        "unsupervised",
        "Unsupervised",
        lambda p: f"kd_ablation@{p.kd.method}",
        lambda p: (p.kd.model_path(p.kd.method),),
        _predictor,
    ),
    *(_kd_row(method) for method in KD_METHODS),
)
ROW_NAMES = tuple(row.name for row in ROWS)
ROW_LABELS = {row.name: row.label for row in ROWS}
MAIN_ROWS = ROW_NAMES[:5]  # Tables 1-4
KD_ROWS = tuple(f"kd_ablation@{m}" for m in KD_METHODS)  # Table 5, the paper's order


def row(name: str) -> Row:
    """The row called ``name``; a ValueError lists the known ones."""
    for candidate in ROWS:
        if candidate.name == name:
            return candidate
    raise ValueError(f"no evaluation row {name!r}; known: {', '.join(ROW_NAMES)}")


def predicting_rows(params: Params) -> list[tuple[Row, tuple[Path, ...]]]:
    """The rows ``evaluate`` predicts with a model, each with the files it reads."""
    return [(r, r.files(params)) for r in ROWS if r.load is not None]
