"""The evaluation protocol: test utterances, reference faces, the baseline rows, scoring.

Rows ("models") are named predictions of raw 3DMM coefficients, one per test utterance:

    mean_face          the mean of the training identities' reference shapes, for every voice
    gender_mean_face   the mean reference shape of the training identities of the gender the
                       voice sounds like (``voices.GenderClassifier`` on the pretrained embedding)
    supervised, ...    the trained networks

Each is scored against the identity's reference face (the fitted one, as the paper does) and,
in the synthetic world, against the true face as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from voice2mesh.evaluation.scoring import score
from voice2mesh.evaluation.voices import (
    select_test_utterances,
)
from voice2mesh.facemodel.model import MorphableModel

MEAN_FACE = "mean_face"
GENDER_MEAN_FACE = "gender_mean_face"
TEACHER_ON_PHOTOS = "teacher_on_photos"  # the cascade's ceiling: the teacher on the own photos


@dataclass(frozen=True)
class TestSet:
    """What every row is evaluated on.

    Attributes:
        utterances: ``row`` (feature-store row), ``identity``, ``path``, ``gender`` (true) per
            test utterance.
        identities: (S,) the test identities, sorted; ``ref_index`` indexes them.
        ref_index: (U,) identity of each utterance, as a row of ``identities``.
        reference_shape: (S, Ks) raw reference shape coefficients of ``identities``.
        train_shape: (I, Ks) reference shapes of the training identities.
        train_ids: (I,) the training identities with a reference face.
        train_gender: (I,) their genders.
    """

    utterances: pd.DataFrame
    identities: np.ndarray
    ref_index: np.ndarray
    reference_shape: np.ndarray
    train_shape: np.ndarray
    train_ids: np.ndarray
    train_gender: np.ndarray


def build_test_set(
    feature_index: pd.DataFrame,
    identities: pd.DataFrame,
    references: pd.DataFrame,
    reference_shape: np.ndarray,
    n_utterances: int,
) -> TestSet:
    """Choose the test utterances and collect the references (module docstring).

    Args:
        feature_index: ``FeatureStore.index``.
        identities: the manifest's identities table (``identity``, ``gender``, ``split``).
        references: ``read_fits(...).references``; rows with non-finite shapes are skipped.
        reference_shape: (I, Ks) rows as ``references``.
        n_utterances: utterances per test identity (the paper: 3).
    """
    finite = np.isfinite(reference_shape).all(axis=1)
    ref_row = {str(i): k for k, i in enumerate(references.identity.astype(str)) if finite[k]}
    meta = identities.assign(identity=identities.identity.astype(str)).set_index("identity")
    test_ids = [i for i in meta.index[meta.split == "test"] if i in ref_row]
    utts = select_test_utterances(feature_index, test_ids, n_utterances)
    if utts.empty:
        raise ValueError(
            "no test utterance to evaluate: no test-split identity has both a reference face "
            "(fit3dmm) and stored features (features stage)"
        )
    utts["gender"] = meta.gender.loc[utts.identity.astype(str)].to_numpy()
    ids = np.array(sorted(utts.identity.astype(str).unique()))
    train_ids = [i for i in meta.index[meta.split == "train"] if i in ref_row]
    if not train_ids:
        raise ValueError("no training identity has a reference face: the mean faces need some")
    return TestSet(
        utterances=utts,
        identities=ids,
        ref_index=np.searchsorted(ids, utts.identity.astype(str).to_numpy()),
        reference_shape=reference_shape[[ref_row[i] for i in ids]],
        train_shape=reference_shape[[ref_row[i] for i in train_ids]],
        train_ids=np.array(train_ids, dtype=str),
        train_gender=meta.gender.loc[train_ids].to_numpy().astype(str),
    )


def score_rows(
    model: MorphableModel,
    predictions: dict[str, tuple[np.ndarray, np.ndarray | None]],
    test: TestSet,
    reference_shape: np.ndarray,
) -> pd.DataFrame:
    """Per-utterance metrics of every row against its identity's reference.

    Args:
        model: the face model (dense).
        predictions: ``{name: (shape (U, Ks), expression (U, Ke) or None)}`` raw coefficients,
            rows as ``test.utterances``.
        test: the test set.
        reference_shape: (S, Ks) raw reference shapes, rows as ``test.identities``.

    Returns:
        ``model``, ``identity``, ``path`` and the ``scoring.METRIC_COLUMNS`` per utterance.
    """
    frames = []
    keys = pd.DataFrame(
        {
            "identity": test.utterances.identity.astype(str).to_numpy(),
            "path": test.utterances.path.to_numpy(),
        }
    )
    for name, (shape, expression) in predictions.items():
        metrics = score(model, shape, expression, reference_shape, test.ref_index)
        frames.append(pd.concat([keys.assign(model=name), metrics], axis=1))
    columns = ["model", "identity", "path"]
    return pd.concat(frames, ignore_index=True).pipe(
        lambda f: f[columns + [c for c in f.columns if c not in columns]]
    )


def teacher_accuracy(
    predicted: np.ndarray, targets: dict[str, np.ndarray], mean_shape: np.ndarray
) -> dict[str, float]:
    """RMSE of the teacher's shape coefficients on held-out crops against several targets.

    Args:
        predicted: (N, Ks) the teacher's raw shape coefficients of N held-out face crops.
        targets: ``{name: (N, Ks)}`` e.g. the crops' fits and (synthetic world) true shapes.
        mean_shape: (Ks,) the training mean, the predict-nothing baseline.

    Returns:
        ``{"shape_rmse_vs_<name>", "mean_shape_rmse_vs_<name>"}`` for every target.
    """
    out = {}
    for name, target in targets.items():
        out[f"shape_rmse_vs_{name}"] = float(np.sqrt(np.mean((predicted - target) ** 2)))
        out[f"mean_shape_rmse_vs_{name}"] = float(np.sqrt(np.mean((mean_shape - target) ** 2)))
    return out | {"n_crops": len(predicted)}
