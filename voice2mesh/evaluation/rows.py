"""The evaluation rows: every model the paper's tables compare, in table order, in one place.

``evaluate`` predicts with each row, ``report`` labels and orders the tables by it, and
``voice2mesh predict --row`` finds a row's model through it. A row is

    name      the key in metrics/evaluate.json ("supervised", "kd_ablation@rkd", ...)
    label     how the report shows it
    stage     the DVC stage that produces its model (None: ``evaluate`` computes the row)
    files     (params, seed) -> the model files it reads for one training seed
    load      (files, models) -> a voice -> raw (shape, expression) predictor
    voice     what the predictor reads (``models.registry.ModelKind.voice``): "logmel", the
              (B, 64, T) features of the ``features`` stage; "ge2e", the (B, 256) embeddings of
              the ``embed_ge2e`` stage (an utterance it rejected gets the mean face, counted)
    skipped   params -> why its stage trains no model under them (None: it trains one); such a
              row is left out explicitly (``left_out_rows``): not predicted, listed with the
              reason under ``evaluate``'s counts, its column dropped from the report

Every network is trained once per seed of ``Params.train_seeds``, so a row with a model is
predicted once per seed (``predicting_rows``): its files for seed ``k`` are seed ``k``'s models
(the baseline's: the GAN of seed ``k`` and the one teacher, a pretrained expert).

A new model is one ``Row`` here (and its stage in dvc.yaml). The ``unsupervised`` row is the
model of ``kd_ablation@<kd.method>``: the same files, trained once; rows that read the same files
are predicted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from voice2mesh.checkpoint import ModelCache
from voice2mesh.config import KD_METHODS, Params
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE, TEACHER_ON_PHOTOS
from voice2mesh.models.cascade import VoiceToParams
from voice2mesh.models.registry import PREDICTING_KINDS

Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

BASELINE = "baseline"  # the paper's: the pretrained GAN's faces through the teacher
UNSUPERVISED = "unsupervised"  # the model of kd_ablation@<kd.method>
SUPERVISED_GE2E = "supervised_ge2e"  # the supervised heads on resemblyzer's GE2E embeddings
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
    files: Callable[[Params, int], tuple[Path, ...]] = lambda _, __: ()
    load: Callable[[tuple[Path, ...], ModelCache], Predictor] | None = None
    voice: Literal["logmel", "ge2e"] = "logmel"
    skipped: Callable[[Params], str | None] = lambda _: None


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
        lambda p, seed: (p.kd.model_path(method, seed),),
        _predictor,
    )


ROWS: tuple[Row, ...] = (
    Row(MEAN_FACE, "Mean face"),
    Row(GENDER_MEAN_FACE, "Gender mean face"),
    Row(TEACHER_ON_PHOTOS, "Teacher on photos"),
    Row(
        BASELINE,
        "Baseline",
        lambda _: "train_gan",
        lambda p, seed: (p.gan.model_path(seed), Path(p.teacher.out)),
        _baseline,
    ),
    Row(
        "supervised",
        "Supervised",
        lambda _: "train_supervised",
        lambda p, seed: (p.supervised.model_path(seed),),
        _predictor,
    ),
    Row(
        SUPERVISED_GE2E,
        "Supervised (GE2E)",
        lambda _: "train_supervised_ge2e",
        lambda p, seed: (p.supervised_ge2e.model_path(seed),),
        _predictor,
        voice="ge2e",
        skipped=lambda p: p.intersect.no_waveforms,  # as embed_ge2e and its training skip
    ),
    Row(
        UNSUPERVISED,
        "Unsupervised",
        lambda p: f"kd_ablation@{p.kd.method}",
        lambda p, seed: (p.kd.model_path(p.kd.method, seed),),
        _predictor,
    ),
    *(_kd_row(method) for method in KD_METHODS),
)
ROW_NAMES = tuple(row.name for row in ROWS)
ROW_LABELS = {row.name: row.label for row in ROWS}
KD_ROWS = tuple(f"kd_ablation@{m}" for m in KD_METHODS)  # Table 5, the paper's order
MAIN_ROWS = tuple(name for name in ROW_NAMES if name not in KD_ROWS)  # Tables 1-4
VS_KD_METHOD = dict.fromkeys(KD_ROWS, (UNSUPERVISED,))  # Table 5: each method vs kd.method's


def row(name: str) -> Row:
    """The row called ``name``; a ValueError lists the known ones."""
    for candidate in ROWS:
        if candidate.name == name:
            return candidate
    raise ValueError(f"no evaluation row {name!r}; known: {', '.join(ROW_NAMES)}")


def left_out_rows(params: Params) -> dict[str, str]:
    """``{row name: why}`` for every row whose stage trains no model under ``params``."""
    reasons = {r.name: r.skipped(params) for r in ROWS}
    return {name: why for name, why in reasons.items() if why is not None}


def predicting_rows(params: Params) -> list[tuple[Row, int, tuple[Path, ...]]]:
    """``(row, seed, files)`` for every row with a model and every seed of
    ``params.train_seeds``, row after row in table order, seeds in order within a row; rows
    ``left_out_rows`` names are not among them."""
    left_out = left_out_rows(params)
    return [
        (r, seed, r.files(params, seed))
        for r in ROWS
        if r.load is not None and r.name not in left_out
        for seed in params.train_seeds
    ]


def model_file(params: Params, name: str, seed: int | None = None) -> Path:
    """The one model file row ``name`` reads for training seed ``seed`` (None: the first of
    ``params.train_seeds``), e.g. for ``voice2mesh predict --row``.

    Raises:
        ValueError: a seed ``params`` does not train, a row left out (``left_out_rows``), a row
            without exactly one model file, or a model file not there (the message lists the
            seeds trained beside it).
    """
    seeds = ", ".join(map(str, params.train_seeds))
    if seed is not None and seed not in params.train_seeds:
        raise ValueError(f"seed {seed} is not trained; the seeds are {seeds} (seed, n_seeds)")
    seed = params.train_seeds[0] if seed is None else seed
    left_out = left_out_rows(params)
    if name in left_out:
        raise ValueError(f"row {name!r} has no model under these params: {left_out[name]}")
    files = {r.name: f for r, k, f in predicting_rows(params) if k == seed}
    if name not in files or len(files[name]) != 1:
        usable = ", ".join(n for n, f in files.items() if len(f) == 1)
        raise ValueError(f"not a row with one model file; choose one of {usable}")
    path = files[name][0]
    if not path.is_file():
        stems = [f.stem.removeprefix("seed_") for f in path.parent.glob("seed_*.pt")]
        there = ", ".join(map(str, sorted(int(k) for k in stems if k.isdigit()))) or "none"
        raise ValueError(
            f"{path}: no model for seed {seed} (seeds trained there: {there}; the params train "
            f"{seeds}); choose another seed or run `dvc repro {row(name).stage(params)}`"
        )
    return path
