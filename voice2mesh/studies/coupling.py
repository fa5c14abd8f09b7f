"""The coupling dose–response study, one point: a world, the method trained on it, scored.

A point is a synthetic world generated at voice coupling ``c`` (``synth.voice_coupling``) from
world seed ``w``, run through the main pipeline's own stages with the main ``params.yaml``
(features, landmarks, fits, voice pretraining and the supervised regressor, each trained with
the point's training seeds), and scored on the world's test (A–E) identities exactly as the
``evaluate`` stage scores the ``supervised`` and ``gender_mean_face`` rows, against the
references and the true faces. Only the per-identity scores are kept: the world itself (hours of
audio) is deleted when the point is done.

The gender-from-voice mean face of a training seed uses that seed's voice encoder, so the paired
difference supervised − gender mean face isolates what the regressor adds to the gender a
voice tells.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from voice2mesh.audio.features import FeatureStore
from voice2mesh.checkpoint import ModelCache
from voice2mesh.config import Params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.evaluation import protocol
from voice2mesh.evaluation.inference import mean_face_rows, predict_batched
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.fitting.store import read_references
from voice2mesh.models.registry import PREDICTING_KINDS
from voice2mesh.studies.names import COMPARATOR, METRICS, SUPERVISED
from voice2mesh.synth.truth import read_truth
from voice2mesh.train.determinism import training_device

log = logging.getLogger("voice2mesh.studies.coupling")


def point_params(
    params: Params,
    coupling: float,
    world_seed: int,
    n_seeds: int,
    work: Path,
    overrides: dict | None = None,
) -> Params:
    """The main params with the point's world, seeds and every output folder under ``work``.

    ``overrides``: ``{section: {field: value}}`` the study changes to fit its CPU budget (e.g. a
    smaller world, shorter pretraining); they are listed in ``studies/coupling/params.yaml``.
    """
    world = work / "world"
    for section, fields in (overrides or {}).items():
        value = getattr(params, section)
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        params = replace(params, **{section: replace(value, **fields)})
    return replace(
        params,
        seed=world_seed,
        n_seeds=n_seeds,
        synth=replace(params.synth, root=str(world), voice_coupling=coupling),
        intersect=replace(
            params.intersect,
            source="voxceleb",  # every point is a synthetic world, whatever params.yaml reads
            voxceleb_root=str(world / "voxceleb1"),
            vggface_root=str(world / "vggface"),
            meta_file=None,
            out=str(work / "manifest"),
        ),
        landmarks=replace(params.landmarks, out=str(work / "landmarks")),
        features=replace(params.features, out=str(work / "features")),
        fit3dmm=replace(params.fit3dmm, out=str(work / "fits")),
        pretrain_voice=replace(
            params.pretrain_voice,
            resume=False,
            out=str(work / "models" / "voice_encoder"),
            resume_state=str(work / "resume" / "pretrain_voice"),
        ),
        supervised=replace(
            params.supervised,
            resume=False,
            out=str(work / "models" / "supervised"),
            resume_state=str(work / "resume" / "train_supervised"),
        ),
        evaluate=replace(params.evaluate, truth=str(world / "truth"), out=str(work / "eval")),
    )


def score_point(params: Params) -> pd.DataFrame:
    """Per-identity ARE, NME and RMSE of the supervised row and the gender mean face.

    Returns:
        One row per (train_seed, reference ∈ {truth, reference}, identity) with the columns
        ``<metric>_supervised`` and ``<metric>_gender_mean_face`` for every metric of
        ``METRICS`` (utterances averaged per identity, as the paper does).
    """
    p = params.evaluate
    device = training_device(params.device)
    models = ModelCache(device)
    face_model = load_from_params(params.face_model)
    store = FeatureStore(params.features.out)
    identities = read_manifests(Path(params.intersect.out)).identities
    references, reference_shape = read_references(Path(params.fit3dmm.out))
    test = protocol.build_test_set(
        store.index, identities, references, reference_shape, p.n_utterances
    )
    gender = dict(zip(identities.identity.astype(str), identities.gender.astype(str), strict=True))
    name_of = identities.set_index(identities.identity.astype(str)).name
    references = {
        "reference": test.reference_shape,
        "truth": read_truth(Path(p.truth)).shapes_of(name_of.loc[test.identities]),
    }
    frames = []
    for seed in params.train_seeds:
        encoder = models.get(params.pretrain_voice.model_path(seed), ("voice_encoder",), "study")
        embed = lambda r: predict_batched(encoder.encoder, store, r, device)[0]  # noqa: B023, E731
        rows, _ = mean_face_rows(test, embed, store, gender, p.gender_l2)
        net = models.get(params.supervised.model_path(seed), PREDICTING_KINDS, "study")
        rows = {
            SUPERVISED: predict_batched(net.predict_raw, store, test.utterances.row, device),
            COMPARATOR: rows[COMPARATOR],
        }
        for kind, ref_shape in references.items():
            scored = protocol.score_rows(face_model, rows, test, ref_shape)
            means = scored.groupby(["model", "identity"])[list(METRICS)].mean()
            wide = means.unstack("model")
            wide.columns = [f"{metric}_{row}" for metric, row in wide.columns]
            frames.append(wide.reset_index().assign(train_seed=seed, reference=kind))
    return pd.concat(frames, ignore_index=True)
