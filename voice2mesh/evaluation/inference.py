"""Batched whole-utterance inference, and the mean-face rows built on it.

``evaluate`` runs every network row once per training seed, and the gender-from-voice mean face
embeds every training utterance: one forward pass per utterance (``voices.apply_to_utterances``)
made that the slowest part of the stage. Here utterances of equal length after the 1,000-frame
repetition are stacked into one batch instead (every utterance of the synthetic world is
shorter than 1,000 frames, so all of them are); the results equal the per-utterance ones up
to float rounding (batched kernels add in another order), and they are deterministic.

``mean_face_rows`` takes the embedding step as a function, so that callers embed with
``predict_batched`` (the ``evaluate`` stage, the coupling study). ``teacher_on_photos`` is the
row the teacher gives from the test speakers' own photos. Rows on GE2E embeddings instead of
log-mel features: ``evaluation.embedded``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from voice2mesh.audio.features import FeatureStore
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE, TestSet
from voice2mesh.evaluation.voices import GenderClassifier
from voice2mesh.models.cascade import N_POSE
from voice2mesh.train.voice_data import MIN_FRAMES

BATCH = 32  # utterances per forward pass (32 x 64 x 1000 floats in)
WINDOW = 256  # utterances read at once, in the given (store) order: shards load sequentially


@torch.inference_mode()
def predict_batched(
    net: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
    store: FeatureStore,
    rows: Iterable[int],
    device: str = "cpu",
    progress: Callable[[Iterable], Iterable] = iter,
    batch_size: int = BATCH,
) -> tuple[np.ndarray, ...]:
    """``net`` on each whole utterance (1000-frame repetition), equal lengths batched.

    Args:
        net: log-mel (b, 64, T) → a tensor (b, width) or a tuple of them.
        store: the features.
        rows: store rows of the utterances.
        device: where ``net`` runs.
        progress: wraps the loop over windows of ``WINDOW`` utterances.
        batch_size: utterances per forward pass.

    Returns:
        one (N, width) float32 array per output of ``net``, rows as ``rows``.
    """
    rows = np.asarray(list(rows), np.int64)
    if not len(rows):
        raise ValueError("predict_batched: no utterance rows given")
    if isinstance(net, nn.Module):
        net.eval()
    out: list[np.ndarray] | None = None
    for start in progress(range(0, len(rows), WINDOW)):
        frames = [repeat_to(store[int(r)], MIN_FRAMES) for r in rows[start : start + WINDOW]]
        lengths = np.array([len(f) for f in frames])
        for length in np.unique(lengths):
            same = np.flatnonzero(lengths == length)
            for k in range(0, len(same), batch_size):
                pick = same[k : k + batch_size]
                x = torch.from_numpy(np.stack([frames[i].T for i in pick])).to(device)
                y = net(x)  # (b, 64, T) -> (b, width) or a tuple of them
                parts = [p.float().cpu().numpy() for p in (y if isinstance(y, tuple) else (y,))]
                if out is None:
                    out = [np.empty((len(rows), p.shape[1]), np.float32) for p in parts]
                for target, part in zip(out, parts, strict=True):
                    target[start + pick] = part
    return tuple(out)


def mean_face_rows(
    test: TestSet,
    embed: Callable[[np.ndarray], np.ndarray],
    store: FeatureStore,
    speaker_gender: dict[str, str],
    l2: float = 1.0,
) -> tuple[dict[str, tuple[np.ndarray, None]], dict]:
    """The mean face and the gender-from-voice mean face for every test utterance.

    The gender classifier is fitted on the embeddings of every stored utterance of the training
    identities (``test.train_ids``: split ``train`` only, no validation or test identity) and
    applied to the test utterances; both mean faces average ``test.train_shape``.

    Args:
        test: the test set.
        embed: store rows (N,) → (N, E) voice embeddings (the first training seed's encoder).
        store: the features (its index names each row's speaker).
        speaker_gender: identity → gender (the manifest's identities table).
        l2: the gender classifier's ridge penalty.

    Returns:
        ``({name: (shape (U, Ks), None)}, gender-classifier metrics)``: raw coefficients,
        neutral expression.
    """
    n = len(test.utterances)
    speakers = store.index.identity.astype(str)
    train_rows = np.flatnonzero(speakers.isin(set(test.train_ids)))
    train_voice_gender = np.array([speaker_gender[s] for s in speakers.iloc[train_rows]])
    classifier = GenderClassifier(l2).fit(embed(train_rows), train_voice_gender)
    predicted = classifier.predict(embed(test.utterances.row.to_numpy()))  # (U,)
    by_gender = {
        g: test.train_shape[test.train_gender == g].mean(axis=0) for g in classifier.classes
    }
    rows = {
        MEAN_FACE: (np.tile(test.train_shape.mean(axis=0), (n, 1)), None),
        GENDER_MEAN_FACE: (np.stack([by_gender[g] for g in predicted]), None),
    }
    truth = test.utterances.gender.to_numpy().astype(str)
    metrics = {
        "accuracy": float(np.mean(predicted == truth)),
        "n_test_utterances": n,
        "n_train_utterances": len(train_rows),
        "majority_baseline": float(pd.Series(truth).value_counts(normalize=True).iloc[0]),
    }
    return rows, metrics


def teacher_on_photos(
    teacher: nn.Module, crops: np.ndarray, identities: np.ndarray, test: TestSet
) -> tuple[np.ndarray, None]:
    """The cascade's ceiling: the teacher on each test speaker's own photos, averaged.

    voice -> image -> teacher can at best draw the speaker's face; this row gives the teacher the
    speaker's real photos instead, so it bounds what the baseline and the unsupervised rows can
    reach through that teacher.

    Args:
        teacher: a ``models.teacher.Teacher``.
        crops: (N, 120, 120, 3) BGR crops of the test identities' photos (``photo_crops``).
        identities: (N,) the identity of each crop.
        test: the test set.

    Returns:
        ``(shape (U, Ks), None)``: per test utterance the mean predicted raw shape of its
        speaker's photos, neutral expression.

    Raises:
        ValueError: a test identity without a photo crop.
    """
    ks = test.reference_shape.shape[1]
    shapes = teacher.predict_params(crops)[:, N_POSE : N_POSE + ks].astype(np.float64)
    means = pd.DataFrame(shapes).groupby(np.asarray(identities, str)).mean()
    missing = sorted(str(i) for i in set(test.identities) - set(means.index))
    if missing:
        raise ValueError(
            f"teacher_on_photos: no photo crop of test identities {missing[:5]} "
            f"({len(missing)} in all); check the landmarks stage's rejects"
        )
    return means.loc[test.identities].to_numpy()[test.ref_index], None
