"""The evaluate stage's prediction step: every row and seed, shared files predicted once, a
row left out only when its stage trains no model under the params."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import stages.evaluate as stage
from voice2mesh.checkpoint import CheckpointError, ModelCache
from voice2mesh.config import IntersectParams, Params
from voice2mesh.evaluation import rows
from voice2mesh.evaluation.rows import SUPERVISED_GE2E, Row


class Store:
    def __init__(self, n: int) -> None:
        self.frames = [np.full((50, 64), float(k), np.float32) for k in range(n)]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.frames[i]


def _rows(loads: list) -> list:
    """Two model rows over two seeds; ``twin`` reads ``net``'s files (as unsupervised does)."""

    def load(files, models):
        loads.append(files)
        scale = float(len(loads))
        return lambda x: (x.mean(dim=2)[:, :3] * scale, torch.ones(len(x), 2) * scale)

    net, twin, other = (Row(name, name, load=load) for name in ("net", "twin", "other"))
    out = []
    for seed in (5, 6):
        out += [
            (net, seed, (Path(f"net/seed_{seed}.pt"),)),
            (twin, seed, (Path(f"net/seed_{seed}.pt"),)),
            (other, seed, (Path(f"other/seed_{seed}.pt"),)),
        ]
    return out


def test_every_row_and_seed_is_predicted_and_shared_files_once(monkeypatch) -> None:
    loads: list = []
    monkeypatch.setattr(stage, "predicting_rows", lambda params: _rows(loads))
    means = {"mean_face": (np.zeros((3, 3)), None)}
    monkeypatch.setattr(stage, "mean_face_rows", lambda *a: (means, {"accuracy": 1.0}))
    models = SimpleNamespace(get=lambda *a: SimpleNamespace(encoder=None))
    test = SimpleNamespace(utterances=pd.DataFrame({"row": [2, 0, 1]}))
    params = replace(Params(), seed=5, n_seeds=2)
    predictions, gender, keys = stage.predict(
        params, models, Store(3), test, {}, "cpu", lambda it, _: it
    )
    assert list(predictions) == [
        ("mean_face", -1),
        ("net", 5),
        ("twin", 5),
        ("other", 5),
        ("net", 6),
        ("twin", 6),
        ("other", 6),
    ]
    assert len(loads) == 4  # net and other, each seed; twin reuses net's predictions
    assert predictions["twin", 6] is predictions["net", 6]
    shape, expression = predictions["other", 6]  # the 4th model loaded: scale 4
    np.testing.assert_allclose(shape[:, 0], [2 * 4, 0, 1 * 4])  # utterance rows 2, 0, 1
    np.testing.assert_allclose(expression, 4.0)
    assert keys == {"net": "net", "twin": "net", "other": "other"}
    assert gender == {"accuracy": 1.0}


def test_a_missing_model_is_an_error_unless_its_row_is_left_out(monkeypatch, tmp_path) -> None:
    """No GE2E model: with waveforms (voxceleb) the load fails as before; with the release's
    fbank features the row is left out (``rows.left_out_rows``) and never loaded."""
    real = rows.predicting_rows
    kept = ("supervised", SUPERVISED_GE2E)
    monkeypatch.setattr(
        stage, "predicting_rows", lambda p: [t for t in real(p) if t[0].name in kept]
    )
    means = {"mean_face": (np.zeros((3, 3)), None)}
    monkeypatch.setattr(stage, "mean_face_rows", lambda *a: (means, {}))
    absent, checkpoints = tmp_path / "supervised_ge2e", ModelCache("cpu")
    net = SimpleNamespace(encoder=None, predict_raw=lambda x: (x.mean(dim=2)[:, :3], x[:, 0, :2]))

    def get(path, kinds=None, purpose=""):
        return checkpoints.get(path, kinds, purpose) if absent in Path(path).parents else net

    models = SimpleNamespace(get=get)
    test = SimpleNamespace(utterances=pd.DataFrame({"row": [2, 0, 1], "path": ["a", "b", "c"]}))
    voxceleb = replace(Params(), supervised_ge2e=replace(Params().supervised_ge2e, out=str(absent)))
    args = (models, Store(3), test, {}, "cpu", lambda it, _: it)
    with pytest.raises(CheckpointError, match=r"supervised_ge2e/seed_\d+\.pt: no such"):
        stage.predict(voxceleb, *args)
    folder = str(tmp_path / "release")
    intersect = IntersectParams(source="release", voxceleb_root=folder, vggface_root=folder)
    predictions, _, keys = stage.predict(replace(voxceleb, intersect=intersect), *args)
    assert list(dict.fromkeys(name for name, _ in predictions)) == ["mean_face", "supervised"]
    assert keys == {"supervised": "supervised"}
