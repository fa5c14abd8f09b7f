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
