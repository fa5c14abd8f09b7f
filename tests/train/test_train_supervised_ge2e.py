"""Supervised training on GE2E embeddings on a tiny world of fake embeddings.

Each fake speaker's embeddings are a fixed linear image of its reference shape plus noise,
unit-normalised as GE2E's are, so the voice predicts the face and the heads have something to
learn. The store also holds a test-split speaker, whose embeddings must never be read.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from split_reads import record_reads

from stages import train_supervised_ge2e as stage
from voice2mesh.config import FaceModelParams, IntersectParams, Params, SupervisedGe2eParams
from voice2mesh.encoders.store import EmbeddingStore, write_embeddings
from voice2mesh.train.loop import Schedule, Trained
from voice2mesh.train.supervised_ge2e import train_supervised_ge2e

N_TRAIN, N_VAL, PER_SPEAKER, N_SHAPE = 12, 4, 4, 5
FACE = FaceModelParams(n_shape=N_SHAPE, n_expression=2)
TINY = SupervisedGe2eParams(iterations=300, batch_size=16, lr=1e-2, dropout=0.1, eval_every=100)
SPLITS = ["train"] * N_TRAIN + ["val"] * N_VAL + ["test"]


class World:
    """An ``embed_ge2e`` folder, the voices table and the references."""

    def __init__(self, root: Path) -> None:
        rng = np.random.default_rng(0)
        mixing = rng.normal(size=(256, N_SHAPE))  # coefficients -> embedding direction
        self.shape = 3.0 * rng.normal(size=(len(SPLITS), N_SHAPE + 1))  # (I, Ks + 1)
        ids = [f"id{s:05d}" for s in range(len(SPLITS))]
        rows, vectors = [], []
        for s, identity in enumerate(ids):
            for k in range(PER_SPEAKER):
                v = mixing @ self.shape[s, :N_SHAPE] / 3 + 0.5 * rng.normal(size=256) + 4.0
                vectors.append(v / np.linalg.norm(v))
                rows.append({"identity": identity, "path": f"{identity}/{k}.wav", "speech_s": 3.0})
        write_embeddings(
            root / "ge2e",
            pd.DataFrame(rows),
            np.array(vectors, np.float32),
            pd.DataFrame(columns=["identity", "path", "reason_code", "reason"]),
            "test-random/frontend",
        )
        self.store = EmbeddingStore(root / "ge2e")
        self.voices = pd.DataFrame(
            [{"identity": i, "split": split} for i, split in zip(ids, SPLITS, strict=True)]
        )
        self.references = pd.DataFrame({"identity": ids})
        self.test_id = ids[-1]

    def train(self, cfg: SupervisedGe2eParams = TINY, seed: int = 1, **schedule) -> Trained:
        data = (self.store, self.voices, self.references, self.shape)
        plan = Schedule(cfg.iterations, cfg.eval_every, seed, **schedule)
        return train_supervised_ge2e(cfg, FACE, data, plan)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("supervised_ge2e"))


def test_it_learns_the_val_faces_and_counts_the_pairs(world: World) -> None:
    with record_reads() as reads:
        trained = world.train()
    metrics, history = trained.metrics, trained.history
    assert [h["step"] for h in history] == [100, 200, 300]
    assert history[-1]["loss"] < history[0]["loss"]
    # held-out people: far better than predicting the training mean
    assert metrics["val_mse"] < 0.5 * metrics["val_mse_mean_baseline"]
    train = world.shape[:N_TRAIN, :N_SHAPE]
    val = (world.shape[N_TRAIN : N_TRAIN + N_VAL, :N_SHAPE] - train.mean(0)) / train.std(0)
    assert metrics["val_mse_mean_baseline"] == pytest.approx(np.mean(val**2), rel=1e-4)
    assert metrics["n_train_utterances"] == N_TRAIN * PER_SPEAKER
    assert (metrics["n_val_utterances"], metrics["n_val_identities"]) == (
        N_VAL * PER_SPEAKER,
        N_VAL,
    )
    assert trained.meta["identities"] == [f"id{s:05d}" for s in range(N_TRAIN)]
    assert world.test_id not in reads.identities and len(reads.identities) == N_TRAIN + N_VAL
    model = trained.model
    assert not model.training and (model.n_shape, model.n_expression) == (N_SHAPE, 2)
    np.testing.assert_allclose(model.target_mean[:N_SHAPE].numpy(), train.mean(0), rtol=1e-5)
    _, expression = model.predict_raw(torch.from_numpy(world.store.take(np.arange(3))))
    assert expression.abs().max() < 0.5  # the expression heads learn the neutral target


def test_a_resumed_run_reproduces_the_uninterrupted_one(world: World, tmp_path: Path) -> None:
    cfg = replace(TINY, iterations=40, eval_every=20)
    whole = world.train(cfg)
    state = tmp_path / "state.pt"
    world.train(replace(cfg, iterations=20), state_path=state)
    resumed = world.train(replace(cfg, resume=True), state_path=state)
    assert resumed.history == whole.history
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    other_seed = world.train(cfg, seed=2)
    assert not torch.equal(other_seed.model.shape_head.weight, whole.model.shape_head.weight)


def test_too_few_training_speakers_is_a_clear_error(world: World) -> None:
    voices = world.voices.assign(split=["val"] * (len(SPLITS) - 2) + ["train", "test"])
    data = (world.store, voices, world.references, world.shape)
    with pytest.raises(ValueError, match="1 training identities with a reference face"):
        train_supervised_ge2e(TINY, FACE, data, Schedule(2, 0, 0))


def test_the_stage_skips_release_voices_and_leaves_no_model(tmp_path: Path) -> None:
    """``intersect.source: release`` (no waveforms, nothing embedded): no model (an older run's
    is removed), a header-only plot, metrics saying why; nothing else is read."""
    release = str(tmp_path / "release")
    section = SupervisedGe2eParams(
        out=str(tmp_path / "models"), resume_state=str(tmp_path / "resume")
    )
    params = replace(
        Params(),
        intersect=IntersectParams(source="release", voxceleb_root=release, vggface_root=release),
        fit3dmm=replace(Params().fit3dmm, out=str(tmp_path / "no_fits")),
        supervised_ge2e=section,
    )
    stale = section.model_path(params.seed)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older run's")
    metrics, plot = tmp_path / "metrics.json", tmp_path / "plot.csv"
    out = stage.run(params, metrics, plot, quiet=True)
    assert "intersect.source is release" in out["skipped"]
    assert json.loads(metrics.read_text()) == out
    assert Path(section.out).is_dir() and not any(Path(section.out).iterdir())
    assert Path(section.resume_state).is_dir()
    assert plot.read_text().strip() == "seed,step,loss,val_mse"
