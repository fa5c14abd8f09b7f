"""The evaluation rows registry: one table for evaluate, report and predict."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from voice2mesh.config import KD_METHODS, IntersectParams, Params
from voice2mesh.evaluation.rows import (
    KD_ROWS,
    MAIN_ROWS,
    ROW_LABELS,
    ROWS,
    SUPERVISED_GE2E,
    left_out_rows,
    model_file,
    predicting_rows,
    row,
)


def release_params(root: Path) -> Params:
    """``intersect.source: release``: voices as fbank features, no waveforms."""
    folder = str(root / "release")
    return Params(
        intersect=IntersectParams(source="release", voxceleb_root=folder, vggface_root=folder)
    )


def test_rows_are_unique_and_in_table_order():
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names))
    assert MAIN_ROWS == (
        "mean_face",
        "gender_mean_face",
        "teacher_on_photos",
        "baseline",
        "supervised",
        "supervised_ge2e",
        "unsupervised",
    )
    assert tuple(f"kd_ablation@{m}" for m in KD_METHODS) == KD_ROWS
    assert set(ROW_LABELS) == set(names)


def test_the_unsupervised_row_is_the_kd_method_model_trained_once():
    params = Params()
    for method in KD_METHODS:
        chosen = replace(params, kd=replace(params.kd, method=method))
        files = {(r.name, seed): f for r, seed, f in predicting_rows(chosen)}
        for seed in params.train_seeds:
            assert files["unsupervised", seed] == files[f"kd_ablation@{method}", seed]
        assert row("unsupervised").stage(chosen) == f"kd_ablation@{method}"
    files = [f for _, seed, f in predicting_rows(params) if seed == params.seed]
    assert len(set(files)) == len(files) - 1  # one model file shared by two rows


def test_every_predicting_row_comes_once_per_training_seed_with_that_seeds_files():
    params = Params(seed=7, n_seeds=2)
    triples = predicting_rows(params)
    names = [r.name for r in ROWS if r.load is not None]
    assert [(r.name, seed) for r, seed, _ in triples] == [(n, s) for n in names for s in (7, 8)]
    files = {(r.name, seed): f for r, seed, f in triples}
    assert files["supervised", 8] == (Path("models/supervised/seed_8.pt"),)
    assert files["supervised_ge2e", 7] == (Path("models/supervised_ge2e/seed_7.pt"),)
    assert files["baseline", 7] == (
        Path("models/gan_baseline/seed_7.pt"),
        Path("models/teacher.pt"),
    )
    assert files["baseline", 8][1] == files["baseline", 7][1]  # the one teacher
    assert files["kd_ablation@rkd", 8] == (Path("models/kd_ablation/rkd/seed_8.pt"),)
    first, second = ({f for (_, s), f in files.items() if s == seed} for seed in (7, 8))
    assert not first & second  # no row reads the same files for two seeds


def test_model_rows_name_their_stage_and_files():
    params = Params()
    for r, seed, files in predicting_rows(params):
        assert r.stage is not None and r.stage(params)
        assert seed in params.train_seeds
        assert files and all(isinstance(f, Path) for f in files)
    assert row("baseline").files(params, 1) == (
        Path("models/gan_baseline/seed_1.pt"),
        Path("models/teacher.pt"),
    )
    assert row("mean_face").load is None
    assert row("mean_face").files(params, 0) == ()


def test_model_file_picks_a_seed_and_lists_the_trained_ones(tmp_path: Path):
    kd = replace(Params().kd, out=str(tmp_path / "kd"), method="rkd")
    params = Params(seed=3, n_seeds=3, kd=kd)
    (tmp_path / "kd" / "rkd").mkdir(parents=True)
    for seed in (3, 5):
        (tmp_path / "kd" / "rkd" / f"seed_{seed}.pt").write_bytes(b"")
    assert model_file(params, "unsupervised") == tmp_path / "kd" / "rkd" / "seed_3.pt"
    assert model_file(params, "kd_ablation@rkd", 5) == tmp_path / "kd" / "rkd" / "seed_5.pt"
    with pytest.raises(
        ValueError, match=r"no model for seed 4 \(seeds trained there: 3, 5;.*kd_ablation@rkd"
    ):
        model_file(params, "unsupervised", 4)
    with pytest.raises(ValueError, match=r"seed 9 is not trained; the seeds are 3, 4, 5"):
        model_file(params, "unsupervised", 9)
    with pytest.raises(ValueError, match="choose one of supervised, supervised_ge2e, unsupervised"):
        model_file(params, "baseline")


def test_only_the_ge2e_row_reads_embeddings_and_its_model_reads_them_too():
    """evaluate feeds a row what its model's kind reads: log-mel or GE2E embeddings."""
    from voice2mesh.models.registry import KINDS

    assert {r.name for r in ROWS if r.voice == "ge2e"} == {"supervised_ge2e"}
    kinds = {"supervised": "supervised", "supervised_ge2e": "supervised_ge2e"}
    for name, kind in kinds.items():
        assert row(name).voice == KINDS[kind].voice
    assert row("supervised_ge2e").stage(Params()) == "train_supervised_ge2e"


def test_unknown_rows_are_named():
    with pytest.raises(ValueError, match="no evaluation row 'supervized'"):
        row("supervized")


def test_every_row_stage_is_a_dvc_stage():
    import yaml

    root = Path(__file__).resolve().parents[2]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    names = {
        f"{name}@{item}" if "foreach" in spec else name
        for name, spec in stages.items()
        for item in spec.get("foreach", [None])
    }
    params = Params()
    for r, _, _ in predicting_rows(params):
        assert r.stage(params) in names, r.name


def test_the_release_leaves_the_ge2e_row_out_and_says_why(tmp_path: Path):
    """No waveforms: the GE2E row is left out by name, with the reason; nothing else is."""
    assert left_out_rows(Params()) == {}
    assert SUPERVISED_GE2E in {r.name for r, _, _ in predicting_rows(Params())}
    params = release_params(tmp_path)
    left_out = left_out_rows(params)
    assert list(left_out) == [SUPERVISED_GE2E]
    assert "intersect.source is release" in left_out[SUPERVISED_GE2E]
    names = {r.name for r, _, _ in predicting_rows(params)}
    assert names == {r.name for r, _, _ in predicting_rows(Params())} - {SUPERVISED_GE2E}
    with pytest.raises(ValueError, match=r"'supervised_ge2e' has no model .*waveforms"):
        model_file(params, SUPERVISED_GE2E)
