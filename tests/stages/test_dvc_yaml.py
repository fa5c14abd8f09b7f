"""dvc.yaml agrees with the library: ablation keys, stage modules, params sections."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from voice2mesh.config import load_params
from voice2mesh.distill import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def _pipeline() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_kd_ablation_keys_equal_the_registry() -> None:
    stage = _pipeline()["stages"]["kd_ablation"]
    assert stage["foreach"] == list(REGISTRY)
    assert "--method ${item}" in stage["do"]["cmd"]


def test_every_stage_runs_an_importable_stage_module_with_main() -> None:
    for name, stage in _pipeline()["stages"].items():
        spec = stage.get("do", stage)
        module = spec["cmd"].split()[2]  # python -m stages.<name> ...
        assert module.startswith("stages."), name
        assert callable(importlib.import_module(module).main), name


def test_every_kd_method_has_a_weight_in_params() -> None:
    params = load_params(ROOT / "params.yaml")
    assert set(params.kd.weights) == set(REGISTRY)
    assert params.kd.method in REGISTRY


def test_kd_ablation_reads_every_kd_key_but_the_main_rows_choice() -> None:
    """Changing kd.method retrains nothing; changing any other kd knob retrains the ablation."""
    from dataclasses import fields

    from voice2mesh.config import KdParams

    params = set(_pipeline()["stages"]["kd_ablation"]["do"]["params"])
    wanted = {f"kd.{f.name}" for f in fields(KdParams)} - {"kd.method", "kd.weights"}
    assert wanted | {"kd.weights.${item}", "gan"} <= params
    assert "kd" not in params and "kd.method" not in params
    assert "kd.method" in _pipeline()["stages"]["evaluate"]["params"]


def test_every_training_stage_keeps_its_resume_state_across_dvc_repro() -> None:
    stages = _pipeline()["stages"]
    for name, section in [
        ("pretrain_voice", "pretrain_voice"),
        ("train_supervised", "supervised"),
        ("train_supervised_ge2e", "supervised_ge2e"),
        ("pretrain_teacher", "teacher"),
        ("train_gan", "gan"),
    ]:
        outs = [o for o in stages[name]["outs"] if isinstance(o, dict)]
        state = next(o for o in outs if f"${{{section}.resume_state}}" in o)
        assert state[f"${{{section}.resume_state}}"] == {"persist": True, "cache": False}, name
    kd_outs = [o for o in stages["kd_ablation"]["do"]["outs"] if isinstance(o, dict)]
    assert {"${kd.resume_state}/${item}": {"persist": True, "cache": False}} in kd_outs


SEEDED = {  # stage -> its model folder out (seed_<k>.pt for every seed k of Params.train_seeds)
    "pretrain_voice": "${pretrain_voice.out}",
    "train_supervised": "${supervised.out}",
    "train_supervised_ge2e": "${supervised_ge2e.out}",
    "train_gan": "${gan.out}",
    "kd_ablation": "${kd.out}/${item}",
}


def test_every_seeded_stage_reads_n_seeds_and_writes_its_model_folder() -> None:
    """Changing n_seeds retrains every network and re-evaluates; each model out is the folder
    the stage rebuilds whole (so no stale seed file is tracked)."""
    stages = _pipeline()["stages"]
    for name, folder in SEEDED.items():
        spec = stages[name].get("do", stages[name])
        assert {"seed", "n_seeds"} <= set(spec["params"]), name
        assert folder in spec["outs"], name
    for name in ("evaluate", "report"):
        assert "n_seeds" in stages[name]["params"], name
    assert "n_seeds" not in stages["pretrain_teacher"]["params"]  # one expert for every seed


def test_the_teacher_learns_on_the_teacher_corpus_stages_output() -> None:
    """DVC links the stages by path: the corpus root is teacher_corpus's out and a dep (and a
    param) of pretrain_teacher, so a new corpus retrains the teacher."""
    stages = _pipeline()["stages"]
    assert "${teacher_corpus.root}" in stages["teacher_corpus"]["outs"]
    assert {"seed", "teacher_corpus"} <= set(stages["teacher_corpus"]["params"])
    assert "${teacher_corpus.root}" in stages["pretrain_teacher"]["deps"]
    assert "teacher_corpus.root" in stages["pretrain_teacher"]["params"]


def test_the_ge2e_row_is_chained_by_path_and_keeps_its_cache() -> None:
    """features -> embed_ge2e -> train_supervised_ge2e -> evaluate, each folder a dep of the
    next; the embedding cache survives `dvc repro` (only new or changed files are embedded)."""
    stages = _pipeline()["stages"]
    embed, train = stages["embed_ge2e"], stages["train_supervised_ge2e"]
    assert "${features.out}" in embed["deps"] and {"features.out", "ge2e"} <= set(embed["params"])
    assert {"${ge2e.cache}": {"persist": True, "cache": False}} in embed["outs"]
    assert "${ge2e.out}" in embed["outs"]
    assert "${ge2e.out}" in train["deps"] and "ge2e" in train["params"]
    assert {"${ge2e.out}", "${supervised_ge2e.out}"} <= set(stages["evaluate"]["deps"])
    assert {"ge2e.out", "supervised_ge2e.out"} <= set(stages["evaluate"]["params"])
