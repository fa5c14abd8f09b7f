"""Stage ``evaluate``: the paper's metrics for every row on the test identities.

Reads:  params ``evaluate``, ``seed``, ``device``, ``face_model``, ``intersect.out``,
        ``features.out``, ``fit3dmm.out``, ``landmarks.out``, ``pretrain_voice.out``,
        ``supervised.out``, ``teacher.out``, ``gan.out``, ``kd.out``, ``kd.method``; the
        manifest, features, reference fits, every model and (synthetic world,
        ``evaluate.truth``) the true shapes; the test-split face crops for the teacher's
        held-out accuracy.
Rows:   ``evaluation.rows.ROWS``: mean_face, gender_mean_face (gender from the voice), baseline
        (GAN -> teacher), supervised, unsupervised (= kd_ablation@<kd.method>),
        kd_ablation@<method> for every KD method.
Writes: ``metrics/evaluate.json`` (``vs_reference`` and ``vs_truth``: row → metric → mean,
        95 % CI, paired p-values against the mean faces and the baseline; the gender
        classifier's accuracy; the teacher's shape RMSE vs fits and truth; counts) and
        ``${evaluate.out}/``: ``per_utterance.csv`` (every metric of every row and utterance,
        both references), ``paired.csv`` (paired differences with CIs) and
        ``predictions.npz`` (the coefficients each row predicted, for the report).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import ModelCache
from voice2mesh.config import Params, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE
from voice2mesh.evaluation.rows import BASELINE, predicting_rows
from voice2mesh.evaluation.scoring import METRIC_COLUMNS
from voice2mesh.evaluation.store import write_predictions
from voice2mesh.evaluation.summary import summarise
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.fitting.store import read_fits
from voice2mesh.io import atomic_dir, atomic_path, write_json
from voice2mesh.models.cascade import N_POSE
from voice2mesh.synth.truth import read_truth
from voice2mesh.train.determinism import training_device
from voice2mesh.train.teacher_data import build_teacher_dataset

METRICS = Path("metrics/evaluate.json")
COMPARATORS = (MEAN_FACE, GENDER_MEAN_FACE, BASELINE)

log = logging.getLogger("stages.evaluate")


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g")


def teacher_rows(params: Params, models: ModelCache, truth, name_of) -> dict:
    """The teacher's held-out (test-split crops) shape RMSE vs the fits and, if known, truth."""
    data = build_teacher_dataset(params.fit3dmm.out, params.landmarks.out)
    test = data.splits == "test"
    teacher = models.get(params.teacher.out, ("teacher",), "evaluate")
    ks = params.face_model.n_shape
    predicted = teacher.predict_params(data.crops[test])[:, N_POSE : N_POSE + ks]
    targets = {"fits": data.labels[test, N_POSE : N_POSE + ks]}
    if truth is not None:
        targets["truth"] = truth.shapes_of(name_of.loc[data.identities[test]], ks)
    mean = data.labels[~test, N_POSE : N_POSE + ks].mean(axis=0)
    return protocol.teacher_accuracy(predicted, targets, mean)


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Predict with every row, score against references (and truth), summarise, write."""
    p = params.evaluate
    device = training_device(params.device)
    models = ModelCache(device)
    bar = lambda it, what: tqdm(it, desc=f"evaluate: {what}", disable=quiet)  # noqa: E731
    model = load_from_params(params.face_model)
    store = FeatureStore(params.features.out)
    identities = read_manifests(Path(params.intersect.out)).identities
    fits = read_fits(Path(params.fit3dmm.out))
    test = protocol.build_test_set(
        store.index, identities, fits.references, fits.reference_shape, p.n_utterances
    )

    encoder = models.get(params.pretrain_voice.out, ("voice_encoder",), "evaluate").encoder
    rows, gender_metrics = protocol.baseline_rows(
        test,
        encoder,
        store,
        dict(zip(identities.identity.astype(str), identities.gender.astype(str), strict=True)),
        p.gender_l2,
        device,
        bar,
    )
    predicted: dict[tuple[Path, ...], tuple] = {}  # rows reading the same files: one pass
    for row, files in predicting_rows(params):
        if files not in predicted:
            net = row.load(files, models)
            predicted[files] = protocol.network_rows(
                net,
                store,
                test,
                device,
                lambda it: bar(it, row.name),  # noqa: B023
            )
        rows[row.name] = predicted[files]

    references = {"reference": test.reference_shape}
    name_of = identities.set_index(identities.identity.astype(str)).name
    truth = read_truth(Path(p.truth)) if p.truth is not None else None
    if truth is not None:
        references["truth"] = truth.shapes_of(name_of.loc[test.identities])
    teacher = teacher_rows(params, models, truth, name_of)
    out = {"gender_from_voice": gender_metrics, "teacher": teacher}
    per_utt, paired = [], []
    for kind, ref_shape in references.items():
        log.info(
            "scoring %d rows x %d utterances against the %s faces",
            len(rows),
            len(test.utterances),
            kind,
        )
        scored = protocol.score_rows(model, rows, test, ref_shape).assign(reference=kind)
        summary, pairs = summarise(
            scored, METRIC_COLUMNS, COMPARATORS, p.n_resamples, p.confidence, params.seed
        )
        out[f"vs_{kind}"] = summary
        per_utt.append(scored)
        paired.append(pairs.assign(reference=kind))
    out["counts"] = {
        "test_identities": len(test.identities),
        "test_utterances": len(test.utterances),
        "rows": len(rows),
    }
    with atomic_dir(Path(p.out)) as folder:
        _csv(pd.concat(per_utt, ignore_index=True), folder / "per_utterance.csv")
        _csv(pd.concat(paired, ignore_index=True), folder / "paired.csv")
        write_predictions(folder / "predictions.npz", test, rows, references)
    write_json(metrics, out)
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
