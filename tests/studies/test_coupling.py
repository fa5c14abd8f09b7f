"""The coupling study's summary and report, on scores the tests make (no world is generated)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voice2mesh.config import Params, params_from_dict
from voice2mesh.evaluation.protocol import GENDER_MEAN_FACE
from voice2mesh.studies.coupling import point_params
from voice2mesh.studies.coupling_report import coupling_markdown, coupling_png, first
from voice2mesh.studies.coupling_summary import (
    coupling_key,
    differences,
    protocol_power,
    summarise_study,
)
from voice2mesh.studies.names import COMPARATOR, METRICS, SUPERVISED


def make_scores(effects: dict[float, float], n_ids: int = 60, seeds=(0, 1), worlds=(0, 1)):
    """Scores where supervised − comparator has mean ``effects[c]`` and sd 0.01 per identity."""
    rng = np.random.default_rng(0)
    frames = []
    for coupling, effect in effects.items():
        for world in worlds:
            ids = [f"w{world}_{k}" for k in range(n_ids)]
            base = rng.normal(0.05, 0.01, n_ids)
            for seed in seeds:  # world w trains seeds w + 0, w + 1, ... (point_params)
                for reference in ("truth", "reference"):
                    row = {"identity": ids, "train_seed": world + seed, "reference": reference}
                    for metric in METRICS:
                        row[f"{metric}_{COMPARATOR}"] = base
                        row[f"{metric}_{SUPERVISED}"] = base + effect + rng.normal(0, 0.01, n_ids)
                    frames.append(pd.DataFrame(row).assign(coupling=coupling, world_seed=world))
    return pd.concat(frames, ignore_index=True)


def test_the_comparator_is_the_evaluation_row():
    assert COMPARATOR == GENDER_MEAN_FACE


def test_coupling_keys_are_written_as_in_params():
    assert [coupling_key(c) for c in (0, 0.5, 1.0, 3, 8.0)] == ["0", "0.5", "1", "3", "8"]


def test_point_params_keep_every_output_under_the_work_folder(tmp_path):
    p = point_params(Params(), 3.0, 1, 2, tmp_path)
    assert (p.seed, p.n_seeds, p.synth.voice_coupling) == (1, 2, 3.0)
    for path in (
        p.synth.root,
        p.intersect.out,
        p.features.out,
        p.landmarks.out,
        p.fit3dmm.out,
        p.pretrain_voice.out,
        p.supervised.out,
        p.evaluate.truth,
    ):
        assert str(path).startswith(str(tmp_path))


def test_point_params_read_the_synthetic_world_when_params_read_a_release(tmp_path):
    release = {"source": "release", "voxceleb_root": "vc3d", "vggface_root": "vc3d"}
    p = point_params(params_from_dict({"intersect": release}), 3.0, 1, 2, tmp_path)
    assert p.intersect.source == "voxceleb"
    assert p.intersect.voxceleb_root == str(tmp_path / "world" / "voxceleb1")


def test_differences_are_per_world_seed_by_identity():
    scores = make_scores({0.0: -0.01}, n_ids=5)
    diffs = differences(scores[scores.coupling == 0.0], "ARE", "truth")
    assert sorted(diffs) == [0, 1] and diffs[0].shape == (2, 5)
    assert np.mean(diffs[0]) < 0


def test_power_is_low_without_an_effect_and_high_with_one():
    rng = np.random.default_rng(1)
    null = {0: rng.normal(0, 0.01, (2, 80)), 1: rng.normal(0, 0.01, (2, 80))}
    strong = {w: d - 0.01 for w, d in null.items()}
    assert protocol_power(null, 76, 400, np.random.default_rng(2)) < 0.3
    assert protocol_power(strong, 76, 400, np.random.default_rng(2)) > 0.95
    zeros = {0: np.zeros((2, 80))}
    assert protocol_power(zeros, 76, 50, np.random.default_rng(2)) == 0.0


@pytest.fixture(scope="module")
def result() -> dict:
    scores = make_scores({0.0: 0.0, 1.0: -0.0002, 8.0: -0.02})
    links = {"0": {"vtl_cm": 0.01}, "1": {"vtl_cm": 0.3}, "8": {"vtl_cm": 0.99}}
    return summarise_study(scores, links, n_resamples=300, n_draws=200)


def test_the_summary_has_the_issue_layout(result):
    assert list(result) == ["0", "1", "8"]
    for entry in result.values():
        for metric in METRICS:
            for block in (entry[metric], entry["vs_reference"][metric]):
                assert set(block) >= {"mean", "ci_low", "ci_high", "p", "power"}
                assert block["ci_low"] <= block["mean"] <= block["ci_high"]
        # 2 seeds per world, 3 distinct seeds in all (0, 1 and 1, 2): the count is per world
        assert entry["counts"] == {"world_seeds": 2, "train_seeds": 2, "test_identities": 120}
    assert result["0"]["ARE"]["ci_low"] < 0 < result["0"]["ARE"]["ci_high"]
    assert result["8"]["ARE"]["ci_high"] < 0 and result["8"]["ARE"]["power"] > 0.9
    assert result["1"]["voice_face_r"] == {"vtl_cm": 0.3}


def test_the_report_reads_its_conclusions_off_the_numbers(result, tmp_path):
    assert first(result, lambda e: e["ci_high"] < 0) == "8"
    text = coupling_markdown(result, "figures/coupling.png")
    assert "| 8 |" in text and "first has a CI below 0 at coupling 8" in text
    assert "Null (coupling 0)" in text and "coupling 1" in text
    png = coupling_png(result, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert coupling_png(result, tmp_path / "d.png").read_bytes() == png.read_bytes()
