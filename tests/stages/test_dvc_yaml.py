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
        # python -m stages.<name> ... or python -m voice2mesh.train.launch ... stages.<name> ...
        module = next(t for t in spec["cmd"].split() if t.startswith("stages."))
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


def test_resume_states_and_the_ge2e_cache_are_local_scratch_not_outputs() -> None:
    """DVC deletes a stage's declared outputs before running it and a clone expects them; the
    resume states and the GE2E cache must survive `dvc repro` and must not be expected after
    `dvc pull` (no output depends on them), so no stage declares them (a header comment says
    why) while the stages that use them still list their paths as params."""
    text = (ROOT / "dvc.yaml").read_text()
    stages = _pipeline()["stages"]
    every_out = [
        next(iter(out)) if isinstance(out, dict) else out
        for stage in stages.values()
        for out in stage.get("do", stage).get("outs", [])
    ]
    assert not [o for o in every_out if "resume_state" in o or "ge2e.cache" in o]
    assert "persist" not in text and text.startswith("# Not outputs, on purpose")
    for name, section in [
        ("pretrain_voice", "pretrain_voice"),
        ("train_supervised", "supervised"),
        ("train_supervised_ge2e", "supervised_ge2e"),
        ("pretrain_teacher", "teacher"),
        ("train_gan", "gan"),
    ]:
        assert section in stages[name]["params"], name  # resume, resume_state among them
    assert "kd.resume_state" in stages["kd_ablation"]["do"]["params"]


def test_the_ge2e_row_is_chained_by_path() -> None:
    """features -> embed_ge2e -> train_supervised_ge2e -> evaluate, each folder a dep of the
    next."""
    stages = _pipeline()["stages"]
    embed, train = stages["embed_ge2e"], stages["train_supervised_ge2e"]
    assert "${features.out}" in embed["deps"] and {"features.out", "ge2e"} <= set(embed["params"])
    assert "ge2e" in embed["params"]  # ge2e.cache among them; not an output (see above)
    assert "${ge2e.out}" in embed["outs"]
    assert "${ge2e.out}" in train["deps"] and "ge2e" in train["params"]
    assert {"${ge2e.out}", "${supervised_ge2e.out}"} <= set(stages["evaluate"]["deps"])
    assert {"ge2e.out", "supervised_ge2e.out"} <= set(stages["evaluate"]["params"])


DISTRIBUTED = (
    "pretrain_voice",
    "train_supervised",
    "train_supervised_ge2e",
    "pretrain_teacher",
    "train_gan",
    "kd_ablation",
)


def test_the_distributed_stages_launch_nproc_processes_and_the_others_one() -> None:
    """``distributed.nproc`` reaches the launcher of every training stage (and retrains
    them); the other stages keep the plain one-process command."""
    stages = _pipeline()["stages"]
    for name, stage in stages.items():
        spec = stage.get("do", stage)
        launched = "-m voice2mesh.train.launch --nproc ${distributed.nproc} stages." in spec["cmd"]
        assert launched == (name in DISTRIBUTED), name
        assert ("distributed.nproc" in spec.get("params", [])) == (name in DISTRIBUTED), name
