"""The reproduce workflow's checks: metrics within tolerances, data outputs unchanged."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / ".ci"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, CI / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


compare_metrics = _load("compare_metrics")
compare_outs = _load("compare_outs")


def change(old, new) -> dict:
    return {"old": old, "new": new, "diff": None if None in (old, new) else new - old}


@pytest.mark.parametrize(
    "file, key, old, new, ok",
    [
        ("metrics/synthesize.json", "audio_hours", 2.4, 2.4001, False),  # data: exact
        ("metrics/pretrain_voice.json", "val_accuracy", 0.219, 0.237, True),  # the issue's
        ("metrics/pretrain_voice.json", "val_accuracy", 0.219, 0.30, False),
        ("metrics/pretrain_voice.json", "n_speakers", 224, 223, False),
        ("metrics/pretrain_voice.json", "chance_accuracy", 0.01, 0.011, False),
        ("metrics/evaluate.json", "vs_reference.baseline.ARE.mean", 0.0259, 0.0280, True),
        ("metrics/evaluate.json", "vs_reference.baseline.ARE.mean", 0.0259, 0.0437, False),
        ("metrics/evaluate.json", "vs_reference.unsupervised.NME.p_vs_baseline", 0.01, 0.08, True),
        ("metrics/evaluate.json", "teacher.mean_shape_rmse_vs_fits", 40.0, 44.0, True),
        ("metrics/evaluate.json", "teacher.n_crops", 481, 482, False),
        ("metrics/train_gan.json", "g_loss", 2.0, 2.5, True),
        ("metrics/fit3dmm.json", "usable", 1812, 1811, True),
        ("metrics/fit3dmm.json", "residual_px_median", 1.94, 1.99, False),
    ],
)
def test_tolerances(file, key, old, new, ok):
    failures = compare_metrics.out_of_tolerance({file: {key: change(old, new)}})
    assert (not failures) is ok, failures


def test_every_default_metric_has_a_rule_and_counts_are_exact():
    assert compare_metrics.tolerance_for("metrics/x.json", "anything").rel > 0
    for key in ("n_speakers", "images.n_test", "counts.rows", "iterations"):
        assert compare_metrics.tolerance_for("metrics/x.json", key).rel == 0, key
    # "n_" inside a word is not a count: mean_shape_rmse is an error
    assert compare_metrics.tolerance_for("metrics/x.json", "mean_shape_rmse").rel > 0


def test_appearing_or_vanishing_metric_fails_and_report_lists_it(tmp_path, capsys):
    diff = {
        "metrics/train_gan.json": {"g_loss": change(None, 1.0)},
        "metrics/evaluate.json": {"counts.rows": change(13, 13)},
    }
    assert len(compare_metrics.out_of_tolerance(diff)) == 1
    path = tmp_path / "diff.json"
    path.write_text(json.dumps(diff))
    assert compare_metrics.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "g_loss" in out and "2 changed metrics, 1 outside the tolerances" in out


def test_metrics_script_reads_stdin_and_passes_an_empty_diff():
    done = subprocess.run(
        [sys.executable, str(CI / "compare_metrics.py")], input="{}", text=True, check=False
    )
    assert done.returncode == 0


def _lock(**md5: str) -> dict:
    paths = {"synthesize": "data/synthetic", "intersect": "data/manifest"}
    paths["landmarks"] = "data/landmarks"
    return {
        "stages": {
            stage: {
                "outs": [
                    {"path": paths[stage], "md5": md5.get(stage, "a.dir")},
                    {"path": f"metrics/{stage}.json", "md5": "changes freely"},
                ]
            }
            for stage in paths
        }
    }


def test_outs_compare_only_the_data_outputs(tmp_path):
    committed = _lock()
    regenerated = _lock()
    regenerated["stages"]["synthesize"]["outs"][1]["md5"] = "other"
    assert compare_outs.differences(committed, regenerated) == []
    changed = _lock(synthesize="b.dir")
    assert compare_outs.differences(committed, changed) == [
        "synthesize: data/synthetic: a.dir -> b.dir"
    ]
    for name, lock in (("old", committed), ("new", changed)):
        (tmp_path / f"{name}.lock").write_text(yaml.safe_dump(lock))
    assert compare_outs.main([str(tmp_path / "old.lock"), str(tmp_path / "new.lock")]) == 1
    assert compare_outs.main([str(tmp_path / "old.lock"), str(tmp_path / "old.lock")]) == 0


def test_outs_check_refuses_a_lock_without_the_stage():
    assert compare_outs.differences({"stages": {}}, _lock()) != []
