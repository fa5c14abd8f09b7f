"""End to end on a tiny world: every stage's ``run`` in DVC order, outputs read back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from split_reads import Reads, record_reads

from stages import (
    embed_ge2e,
    evaluate,
    features,
    fit3dmm,
    fit3dmm_truth,
    intersect,
    kd_ablation,
    landmarks,
    pretrain_teacher,
    pretrain_voice,
    report,
    synthesize,
    teacher_corpus,
    train_gan,
    train_supervised,
    train_supervised_ge2e,
)
from voice2mesh.audio import FeatureStore
from voice2mesh.config import (
    CorpusParams,
    EvaluateParams,
    FeaturesParams,
    FitParams,
    GanParams,
    Ge2eParams,
    IntersectParams,
    KdParams,
    LandmarksParams,
    Params,
    PretrainVoiceParams,
    ReportParams,
    SupervisedGe2eParams,
    SupervisedParams,
    TeacherParams,
)
from voice2mesh.data.corpus import read_corpus
from voice2mesh.data.manifest import read_manifests
from voice2mesh.distill import REGISTRY
from voice2mesh.encoders import GE2EEncoder
from voice2mesh.fitting.store import read_fits
from voice2mesh.synth.spec import SynthParams


def tiny_params(root: Path) -> Params:
    world = root / "world"
    return Params(
        n_seeds=2,  # every network row trained twice: the seed machinery end to end
        synth=SynthParams(
            root=str(world),
            n_identities=24,
            voice_only=2,
            face_only=2,
            images_per_identity=(2, 3),
            utterances_per_identity=(2, 3),
            duration_s=(3.0, 3.5),
            image_size=96,
            workers=2,
            preview_identities=2,
        ),
        teacher_corpus=CorpusParams(
            root=str(root / "teacher_corpus"),
            n_identities=6,
            images_per_identity=(2, 2),
            image_size=96,
            workers=1,
        ),
        intersect=IntersectParams(
            voxceleb_root=str(world / "voxceleb1"),
            vggface_root=str(world / "vggface"),
            out=str(root / "manifest"),
        ),
        landmarks=LandmarksParams(out=str(root / "landmarks")),
        features=FeaturesParams(out=str(root / "features"), shard_size=16),
        fit3dmm=FitParams(out=str(root / "fits")),
        ge2e=Ge2eParams(cache=str(root / "cache" / "ge2e.npz"), out=str(root / "ge2e")),
        pretrain_voice=PretrainVoiceParams(
            iterations=4,
            batch_size=4,
            crop_frames=(50, 100),
            eval_every=2,
            channels=(16, 16),
            out=str(root / "models" / "voice_encoder.pt"),
            resume_state=str(root / "models" / "resume" / "pretrain_voice.pt"),
        ),
        supervised=SupervisedParams(
            iterations=4,
            batch_size=4,
            crop_frames=(50, 100),
            eval_every=2,
            out=str(root / "models" / "supervised.pt"),
            resume_state=str(root / "models" / "resume" / "train_supervised.pt"),
        ),
        supervised_ge2e=SupervisedGe2eParams(
            iterations=4,
            batch_size=4,
            eval_every=2,
            out=str(root / "models" / "supervised_ge2e"),
            resume_state=str(root / "models" / "resume" / "train_supervised_ge2e"),
        ),
        teacher=TeacherParams(
            arch="convnet",
            widths=(4, 8, 8),
            input_size=48,
            iterations=4,
            cycle_steps=4,
            batch_size=4,
            eval_every=2,
            out=str(root / "teacher.pt"),
            resume_state=str(root / "models" / "resume" / "pretrain_teacher.pt"),
        ),
        gan=GanParams(
            iterations=2,
            batch_size=4,
            generator_channels=(16, 8, 8, 8, 4),
            face_channels=(4, 8, 8, 8, 16),
            voice_crops=2,  # kd's triplets need two bank rows per speaker
            probe_steps=20,  # the gender probe: enough to run, not to learn
            eval_every=2,
            out=str(root / "models" / "gan.pt"),
            resume_state=str(root / "models" / "resume" / "train_gan.pt"),
            samples=str(root / "figures" / "gan_samples.png"),
            banks=str(root / "data" / "voice_banks"),
        ),
        kd=KdParams(
            iterations=2,
            batch_size=4,
            student_width=0.25,
            eval_every=2,
            out=str(root / "models" / "kd_ablation"),
            resume_state=str(root / "models" / "resume" / "kd_ablation"),
        ),
        evaluate=EvaluateParams(
            n_utterances=2, n_resamples=200, truth=str(world / "truth"), out=str(root / "eval")
        ),
        report=ReportParams(
            tables=str(root / "tables.md"), figures=str(root / "figures"), n_speakers=2, size=48
        ),
    )


def ge2e_stand_in() -> GE2EEncoder:
    """A seeded random GE2E network: the pipeline runs without the resemblyzer wheel (the
    pretrained weights are tested in tests/encoders)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = GE2EEncoder().eval()
    encoder.key = "test-random-0"
    return encoder


def run_data_stages(params: Params, root: Path, m: Path) -> None:
    synthesize.run(params, root / "world.png", m / "synthesize.json", quiet=True)
    teacher_corpus.run(params, m / "teacher_corpus.json", quiet=True)
    intersect.run(params.intersect, m / "intersect.json")
    landmarks.run(params, m / "landmarks.json", quiet=True)
    features.run(params, m / "features.json", quiet=True)
    embed_ge2e.run(params, m / "embed_ge2e.json", quiet=True, encoder=ge2e_stand_in())
    fit3dmm.run(params, m / "fit3dmm.json")
    fit3dmm_truth.run(params, m / "fit3dmm_truth.json")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Params, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    params = tiny_params(root)
    run_data_stages(params, root, root / "metrics")
    return params, root / "metrics"


def run_model_stages(params: Params, m: Path) -> Reads:
    """Every training stage, evaluate and report, with tiny networks and a few steps each.

    Returns what the training stages read (``split_reads``)."""
    plots = m / "plots"
    with record_reads() as reads:
        run_training_stages(params, m, plots)
    evaluate.run(params, m / "evaluate.json", quiet=True)
    report.run(params, m / "evaluate.json")
    return reads


def run_training_stages(params: Params, m: Path, plots: Path) -> None:
    pretrain_voice.run(params, m / "pretrain_voice.json", plots / "voice.csv", quiet=True)
    train_supervised.run(params, m / "train_supervised.json", plots / "sup.csv", quiet=True)
    train_supervised_ge2e.run(
        params, m / "train_supervised_ge2e.json", plots / "sup_ge2e.csv", quiet=True
    )
    pretrain_teacher.run(params, m / "pretrain_teacher.json", plots / "teacher.csv", quiet=True)
    train_gan.run(params, m / "train_gan.json", plots / "gan.csv", quiet=True)
    for method in REGISTRY:
        kd_ablation.run(params, method, True, m / "kd_ablation", plots / "kd_ablation")


TRAINING_READS: list[Reads] = []  # what the training stages of ``trained`` read


@pytest.fixture(scope="module")
def trained(pipeline) -> tuple[Params, Path]:
    params, m = pipeline
    TRAINING_READS.append(run_model_stages(params, m))
    return params, m


def _resolved(paths: Iterable[str], root: Path = Path()) -> set[str]:
    """Resolved paths (``root / p``), as the recorder keeps them."""
    return {str((root / p).resolve()) for p in paths}


def test_no_training_stage_reads_a_test_identity(trained):
    """Test (A–E) utterances and images are read by ``evaluate`` alone (the recorder sees every
    row-level read: it catches evaluate reading them, below). The training stages' photos are
    the world's train and val photos and the teacher corpus's (a population of its own)."""
    params, _ = trained
    manifests = read_manifests(Path(params.intersect.out))
    test_ids = set(manifests.identities.identity[manifests.identities.split == "test"])
    faces = manifests.faces
    test_images = _resolved(faces.path[faces.split == "test"])
    corpus_root = Path(params.teacher_corpus.root)
    corpus_images = _resolved(read_corpus(corpus_root).path, corpus_root)
    reads = TRAINING_READS[0]
    assert reads.identities and reads.images  # the recorder saw the training reads
    assert not reads.identities & test_ids
    assert not reads.images & test_images
    assert reads.images & corpus_images  # the teacher learns on its corpus
    assert not corpus_images & test_images
    assert reads.images <= corpus_images | _resolved(faces.path[faces.split != "test"])
    val_ids = set(manifests.identities.identity[manifests.identities.split == "val"])
    assert reads.identities & val_ids  # validation is read (for held-out scores), test is not
    with record_reads() as evaluation:
        evaluate.run(params, Path(params.evaluate.out).parent / "again.json", quiet=True)
    assert evaluation.identities & test_ids


def metrics(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def test_counts_flow_through_the_stages(pipeline):
    params, m = pipeline
    both = metrics(m, "synthesize")["with_both"]
    split = metrics(m, "intersect")["identities"]
    assert split["train"] + split["val"] + split["test"] == both
    assert split["val"] > 0
    images = sum(metrics(m, "intersect")["images"].values())
    assert metrics(m, "landmarks")["landmarks"] == images
    utterances = sum(metrics(m, "intersect")["utterances"].values())
    assert metrics(m, "features")["extracted"] == utterances
    assert len(FeatureStore(Path(params.features.out))) == utterances
    ge2e = metrics(m, "embed_ge2e")
    assert ge2e["utterances"] == utterances == ge2e["embedded"] + sum(ge2e["rejected"].values())


def test_fits_and_references(pipeline):
    params, m = pipeline
    fits = read_fits(Path(params.fit3dmm.out))
    summary = metrics(m, "fit3dmm")
    assert summary["usable"] == fits.usable.sum() and summary["converged_fraction"] > 0.95
    assert summary["residual_px_median"] < 4 * params.synth.landmark_noise_px
    assert len(fits.references) == metrics(m, "synthesize")["with_both"]
    assert fits.reference_shape.shape == (len(fits.references), 40)


def test_fit_quality_beats_the_mean_face(pipeline):
    _, m = pipeline
    quality = metrics(m, "fit3dmm_truth")["images"]
    fit = quality["fit"]["aligned_rmse_mm"]["mean"]
    assert fit < quality["mean_face"]["aligned_rmse_mm"]["mean"]
    assert fit < 3.0


def test_the_teacher_corpus_is_a_population_of_its_own(pipeline):
    params, m = pipeline
    cfg = params.teacher_corpus
    summary = metrics(m, "teacher_corpus")
    assert (summary["identities"], summary["photos"]) == (cfg.n_identities, 2 * cfg.n_identities)
    assert 0 < summary["val_identities"] < cfg.n_identities
    world = set(read_manifests(Path(params.intersect.out)).identities.identity)
    assert not world & set(read_corpus(cfg.root).identity)


def test_the_teacher_learns_on_the_corpus_and_is_checked_on_the_val_fits(trained):
    params, m = trained
    teacher, corpus = metrics(m, "pretrain_teacher"), metrics(m, "teacher_corpus")
    assert (teacher["n_images"], teacher["n_holdout"]) == (corpus["photos"], corpus["val_photos"])
    assert (teacher["arch"], teacher["input_size"]) == ("convnet", params.teacher.input_size)
    ratio = teacher["shape_rmse"] / teacher["shape_rmse_mean_baseline"]
    assert teacher["shape_rmse_ratio"] == pytest.approx(ratio)
    fits = read_fits(Path(params.fit3dmm.out))
    val_fits = int(np.sum(fits.usable & (fits.index.split == "val").to_numpy()))
    assert teacher["vs_fits"]["n_images"] == val_fits > 0


def test_train_gan_reports_the_gender_probe_per_seed_and_over_speakers(trained):
    params, m = trained
    gan = metrics(m, "train_gan")
    for seed in params.train_seeds:
        out = gan["seeds"][str(seed)]
        assert 0.0 <= out["gender_agreement"] <= 1.0 and 0.0 <= out["probe_accuracy"] <= 1.0
        assert 0.0 <= out["probe_accuracy_at_gan_resolution"] <= 1.0
        assert out["n_probe_voices"] > 0
    pooled = gan["gender_agreement_by_speaker"]  # over the seeds, speaker by speaker
    assert pooled["ci_low"] <= pooled["mean"] <= pooled["ci_high"]
    assert 0.0 < pooled["p_vs_chance"] <= 1.0 and pooled["n_speakers"] > 0


def test_truth_mode_on_real_data_says_so(tmp_path):
    params = replace(tiny_params(tmp_path), synth=SynthParams(root=str(tmp_path / "none")))
    summary = fit3dmm_truth.run(params, tmp_path / "q.json")
    assert "not available" in summary["ground_truth"]


def test_every_row_is_evaluated_against_references_and_truth(trained):
    _, m = trained
    result = metrics(m, "evaluate")
    rows = {"mean_face", "gender_mean_face", "teacher_on_photos", "baseline", "supervised"}
    rows |= {"supervised_ge2e", "unsupervised"}
    rows |= {f"kd_ablation@{k}" for k in REGISTRY}
    for kind in ("vs_reference", "vs_truth"):
        assert set(result[kind]) == rows
        are = result[kind]["supervised"]["ARE"]
        assert are["ci_low"] <= are["mean"] <= are["ci_high"]
        assert 0.0 <= are["p_vs_baseline"] <= 1.0
    assert 0.0 <= result["gender_from_voice"]["accuracy"] <= 1.0
    assert result["counts"]["rows"] == len(rows)
    assert result["counts"]["ge2e_rejected_test_utterances"] == []
    for method in REGISTRY:
        kd = metrics(m / "kd_ablation", method)
        assert kd["n_seeds"] == 2 and kd["seeds"]["0"]["kd_method"] == method


def test_report_fills_all_five_tables(trained):
    params, _ = trained
    text = Path(params.report.tables).read_text()
    for table in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5"):
        assert table in text
    assert "Teacher on photos" in text
    assert "not in metrics/evaluate.json" not in text  # every row present
    for figure in ("meshes.png", "coherence.png", "ear_ratio.png", "gan_samples.png"):
        assert (Path(params.report.figures) / figure).is_file()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_the_whole_pipeline_is_byte_identical_when_rerun(trained):
    """What keeps dvc.lock identical across two runs: every output's bytes are reproduced."""
    params, m = trained
    root = m.parent
    before = _digests(root)
    run_data_stages(params, root, m)
    run_model_stages(params, m)
    after = _digests(root)
    assert after.keys() == before.keys()
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, changed
