"""Stage ``evaluate``: the paper's metrics for every row and training seed on the test identities.

Reads:  params ``evaluate``, ``seed``, ``n_seeds``, ``device``, ``face_model``,
        ``intersect.out``, ``intersect.source``, ``features.out``, ``fit3dmm.out``,
        ``landmarks.out``, ``pretrain_voice.out``, ``supervised.out``, ``supervised_ge2e.out``,
        ``ge2e.out``, ``teacher.out``, ``gan.out``, ``kd.out``, ``kd.method``; the manifest,
        features, GE2E embeddings, reference fits, every seed's models and (synthetic world,
        ``evaluate.truth``) the true shapes; the train- and test-split face crops for the
        teacher's held-out accuracy. The only stage that reads the test (A–E) identities.
Rows:   ``evaluation.rows.ROWS``: mean_face, gender_mean_face (gender from the voice, the first
        seed's encoder; both fitted on split ``train`` only), teacher_on_photos (the teacher on
        the test speakers' own photos, averaged: the cascade's ceiling), baseline (GAN -> teacher),
        supervised, supervised_ge2e (the supervised heads on GE2E embeddings; an utterance
        embed_ge2e rejected gets the mean face, listed under counts), unsupervised
        (= kd_ablation@<kd.method>), kd_ablation@<method> for every KD method; every network
        row once per seed of ``Params.train_seeds``. A row whose stage trains no model under
        the params (``rows.left_out_rows``: supervised_ge2e with ``intersect.source: release``,
        voices without waveforms) is left out and listed with why under counts; any other
        missing model is an error.
Writes: ``metrics/evaluate.json``: blocks ``vs_reference``, ``vs_truth`` (as predicted),
        ``shape_only``, ``shape_only_vs_truth`` (expression set to zero): row → ``n_seeds`` and
        metric → mean, CI, paired p and Holm-adjusted p against the mean faces and the baseline
        (two-level bootstrap over identities and seeds; the ``kd_ablation@`` rows of Table 5
        without the ICP metrics, RMSE and parts, which Table 5 does not report and which are
        nine tenths of the scoring's cost); ``families`` (the Holm families); the
        gender classifier's accuracy; the teacher's shape RMSE vs fits and truth; counts
        (``rows_left_out``: row -> why).
        ``${evaluate.out}/``: ``per_utterance.csv`` (every metric of every row, seed, scoring
        and reference kind per utterance), ``paired.csv`` (paired differences with CIs, p and
        Holm p) and ``predictions.npz`` (the first seed's coefficients per row, for the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import ModelCache
from voice2mesh.config import Params, load_params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.blocks import summarise_blocks
from voice2mesh.evaluation.embedded import EmbeddingLookup, predict_embedded
from voice2mesh.evaluation.families import too_few_resamples
from voice2mesh.evaluation.inference import mean_face_rows, predict_batched, teacher_on_photos
from voice2mesh.evaluation.memo import EncoderMemo
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE, MEAN_FACE, TEACHER_ON_PHOTOS
from voice2mesh.evaluation.rows import (
    BASELINE,
    KD_ROWS,
    VS_KD_METHOD,
    left_out_rows,
    predicting_rows,
)
from voice2mesh.evaluation.scoring import METRIC_COLUMNS
from voice2mesh.evaluation.scorings import score_all
from voice2mesh.evaluation.store import write_predictions
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.fitting.store import read_references
from voice2mesh.io import atomic_dir, atomic_path, write_json
from voice2mesh.models.cascade import N_POSE
from voice2mesh.synth.truth import read_truth
from voice2mesh.train.determinism import training_device
from voice2mesh.train.teacher_data import build_teacher_dataset, photo_crops

METRICS = Path("metrics/evaluate.json")
COMPARATORS = (MEAN_FACE, GENDER_MEAN_FACE, BASELINE)
NO_TRAINING = -1  # the seed of the mean-face rows

log = logging.getLogger("stages.evaluate")


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g")


def teacher_rows(params: Params, models: ModelCache, truth, name_of) -> dict:
    """The teacher's held-out (test-split crops) shape RMSE vs the fits and, if known, truth."""
    data = build_teacher_dataset(params.fit3dmm.out, params.landmarks.out, splits=("train", "test"))
    test = data.splits == "test"
    teacher = models.get(params.teacher.out, ("teacher",), "evaluate")
    ks = params.face_model.n_shape
    predicted = teacher.predict_params(data.crops[test])[:, N_POSE : N_POSE + ks]
    targets = {"fits": data.labels[test, N_POSE : N_POSE + ks]}
    if truth is not None:
        targets["truth"] = truth.shapes_of(name_of.loc[data.identities[test]], ks)
    mean = data.labels[~test, N_POSE : N_POSE + ks].mean(axis=0)  # the train split's
    return protocol.teacher_accuracy(predicted, targets, mean)


def predict(
    params: Params,
    models: ModelCache,
    store: FeatureStore,
    test: protocol.TestSet,
    genders: dict[str, str],
    device: str,
    bar: Callable[[Iterable, str], Iterable],
    ge2e: EmbeddingLookup | None = None,
) -> tuple[dict[tuple[str, int], tuple], dict, dict[str, str]]:
    """``({(row, seed): (shape, expression)}, gender metrics, draw keys)``: the mean faces
    (seed -1) and every network row and seed. Rows reading the same files are predicted once
    and share their bootstrap seed draws (``draw_keys``: row -> the first row reading them).
    Rows on GE2E embeddings read them from ``ge2e`` (default: ``ge2e.out``); an utterance
    ``embed_ge2e`` rejected gets the mean face. Networks sharing a frozen voice encoder embed
    each batch once (``EncoderMemo``)."""
    memo = EncoderMemo()
    encoder = params.pretrain_voice.model_path(params.train_seeds[0])
    embed = models.get(encoder, ("voice_encoder",), "evaluate").encoder
    memo.attach(embed)
    means, gender_metrics = mean_face_rows(
        test,
        lambda rows: predict_batched(embed, store, rows, device, lambda it: bar(it, "voices"))[0],
        store,
        genders,
        params.evaluate.gender_l2,
    )
    predictions = {(name, NO_TRAINING): rows for name, rows in means.items()}
    utterances = test.utterances.row.to_numpy()
    done: dict[tuple, tuple] = {}  # files -> predictions
    files_of: dict[str, tuple] = {}  # row -> the files of each of its seeds
    for row, seed, files in predicting_rows(params):
        if files not in done and row.voice == "ge2e":
            ge2e = ge2e or EmbeddingLookup(params.ge2e.out, test.utterances.path.tolist())
            mean_face = means[MEAN_FACE][0][0]  # (Ks,) the same for every utterance
            done[files] = predict_embedded(
                row.load(files, models), ge2e.inputs(), mean_face, device
            )
        elif files not in done:
            net, what = row.load(files, models), f"{row.name} seed {seed}"
            memo.attach(net)
            progress = lambda it: bar(it, what)  # noqa: B023, E731  (used at once)
            done[files] = predict_batched(net, store, utterances, device, progress)
        predictions[row.name, seed] = done[files]
        files_of[row.name] = (*files_of.get(row.name, ()), files)
    log.info("voice encoder batches answered from the memo: %d", memo.hits)
    first_reader: dict[tuple, str] = {}
    for name, files in files_of.items():
        first_reader.setdefault(files, name)
    draw_keys = {name: first_reader[files] for name, files in files_of.items()}
    return predictions, gender_metrics, draw_keys


def run(params: Params, metrics: Path = METRICS, quiet: bool = False) -> dict:
    """Predict with every row and seed, score two ways against references (and truth),
    summarise with seed variance and Holm-adjusted p-values, write."""
    p = params.evaluate
    device = training_device(params.device)
    models = ModelCache(device)
    bar = lambda it, what: tqdm(it, desc=f"evaluate: {what}", disable=quiet)  # noqa: E731
    model = load_from_params(params.face_model)
    store = FeatureStore(params.features.out)
    identities = read_manifests(Path(params.intersect.out)).identities
    references, reference_shape = read_references(Path(params.fit3dmm.out))
    test = protocol.build_test_set(
        store.index, identities, references, reference_shape, p.n_utterances
    )
    genders = dict(zip(identities.identity.astype(str), identities.gender.astype(str), strict=True))
    ge2e = EmbeddingLookup(params.ge2e.out, test.utterances.path.tolist())
    predictions, gender_metrics, draw_keys = predict(
        params, models, store, test, genders, device, bar, ge2e
    )
    left_out = left_out_rows(params)
    for name, why in left_out.items():
        log.warning("row %s left out: %s", name, why)
    for path in ge2e.missing():
        log.warning("%s: no GE2E embedding (see embed_ge2e's rejects); the mean face", path)
    crops, owners, unreadable = photo_crops(params.landmarks.out, ("test",))
    teacher = models.get(params.teacher.out, ("teacher",), "evaluate")
    predictions[TEACHER_ON_PHOTOS, NO_TRAINING] = teacher_on_photos(teacher, crops, owners, test)

    references = {"reference": test.reference_shape}
    name_of = identities.set_index(identities.identity.astype(str)).name
    truth = read_truth(Path(p.truth)) if p.truth is not None else None
    if truth is not None:
        references["truth"] = truth.shapes_of(name_of.loc[test.identities])
    teacher = teacher_rows(params, models, truth, name_of)
    log.info(
        "scoring %d predictions x %d utterances, as predicted and shape only, against %s",
        len(predictions),
        len(test.utterances),
        " and ".join(references),
    )
    scored = score_all(
        model,
        predictions,
        test,
        references,
        progress=lambda it: bar(it, "scoring"),
        registered=lambda row: row not in KD_ROWS,  # Table 5 reports the ratio errors
    )
    blocks, paired = summarise_blocks(
        scored,
        METRIC_COLUMNS,
        COMPARATORS,
        p.n_resamples,
        p.confidence,
        params.seed,
        draw_keys,
        VS_KD_METHOD,
    )
    for warning in too_few_resamples(blocks["families"], p.n_resamples, 1.0 - p.confidence):
        log.warning(warning)
    names = list(dict.fromkeys(name for name, _ in predictions))
    out = {"gender_from_voice": gender_metrics, "teacher": teacher} | blocks
    out["counts"] = {
        "test_identities": len(test.identities),
        "test_utterances": len(test.utterances),
        "rows": len(names),
        "rows_left_out": left_out,
        "seeds": params.n_seeds,
        "resamples": p.n_resamples,
        "test_photos": len(crops),
        "unreadable_test_photos": [path for path, _ in unreadable],
        "ge2e_rejected_test_utterances": ge2e.missing(),  # the mean face in the GE2E row
    }
    first = {n: min(s for m, s in predictions if m == n) for n in names}  # -1 or train_seeds[0]
    with atomic_dir(Path(p.out)) as folder:
        _csv(scored, folder / "per_utterance.csv")
        _csv(paired, folder / "paired.csv")
        rows = {n: predictions[n, first[n]] for n in names}
        write_predictions(folder / "predictions.npz", test, rows, references, first)
    write_json(metrics, out)
    return out


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
