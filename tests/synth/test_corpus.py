"""The teacher corpus: written, read back, deterministic, apart from the world, and cut as the
teacher's crops are."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voice2mesh.config import FaceModelParams
from voice2mesh.data.corpus import INDEX, LABELS, Corpus, read_corpus
from voice2mesh.data.crops import (
    box_from_landmarks,
    crop_to_image,
    project_params,
    roi_box_from_bbox,
)
from voice2mesh.data.pts import read_pts
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.render.camera import project, to_pixels
from voice2mesh.synth.corpus import generate_corpus, plan_corpus
from voice2mesh.synth.spec import CorpusParams, SynthParams
from voice2mesh.synth.world import plan_identities
from voice2mesh.train.teacher_data import build_corpus_dataset

SIZE = 64
TINY = CorpusParams(n_identities=4, images_per_identity=(2, 2), image_size=SIZE, workers=1)
SEED = 3


@pytest.fixture(scope="module")
def model():
    return load_from_params(FaceModelParams())  # the paper's 40 shape and 10 expression


@pytest.fixture(scope="module")
def written(model, tmp_path_factory) -> tuple[Path, Corpus]:
    root = tmp_path_factory.mktemp("corpus")
    return root, generate_corpus(model, TINY, root, SEED)


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_same(a: Corpus, b: Corpus) -> None:
    for field in Corpus._fields:
        got, want = getattr(a, field), getattr(b, field)
        assert got.dtype == want.dtype, field
        np.testing.assert_array_equal(got, want, err_msg=field)


def test_the_labels_read_back_as_written(written, model) -> None:
    root, corpus = written
    assert_same(read_corpus(root), corpus)
    n = 4 * 2
    assert corpus.pose.shape == (n, 3, 4) and corpus.landmarks.shape == (n, 68, 2)
    assert corpus.shape.shape == (n, model.n_shape) and corpus.expression.shape == (n, 10)
    assert sorted(set(corpus.identity)) == [f"c{i:06d}" for i in range(1, 5)]
    for k, path in enumerate(corpus.path):
        assert (root / path).is_file() and path.startswith(f"images/{corpus.identity[k]}/")
        pts = read_pts((root / path).with_suffix(".pts"))
        np.testing.assert_allclose(pts, corpus.landmarks[k], atol=1e-3)
    index = pd.read_csv(root / INDEX, dtype=str)
    assert list(index.columns) == ["path", "identity", "gender", "split"]
    np.testing.assert_array_equal(index.path.to_numpy(str), corpus.path)
    np.testing.assert_array_equal(index.split.to_numpy(str), corpus.split)


def test_the_split_is_per_identity_with_a_held_out_one(written) -> None:
    corpus = written[1]
    split_of = pd.DataFrame({"identity": corpus.identity, "split": corpus.split})
    per_identity = split_of.groupby("identity").split.nunique()
    assert (per_identity == 1).all()  # an identity's photos never straddle the split
    assert set(corpus.split) == {"train", "val"}
    assert set(corpus.gender) <= {"male", "female"}
    for identity in set(corpus.identity):  # one shape per identity, as the plan draws it
        rows = corpus.shape[corpus.identity == identity]
        np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))


@pytest.mark.parametrize("n,val_fraction", [(2, 0.1), (2, 0.9), (10, 0.1), (10, 0.5), (20, 0.9)])
def test_the_plan_holds_out_at_least_one_and_keeps_one_for_training(model, n, val_fraction) -> None:
    plan = plan_corpus(model, replace(TINY, n_identities=n, val_fraction=val_fraction), SEED)
    n_val = int((plan.split == "val").sum())
    assert 1 <= n_val <= n - 1 and n_val == min(n - 1, max(1, round(val_fraction * n)))


def test_the_held_out_identities_are_drawn(model) -> None:
    cfg = replace(TINY, n_identities=10, val_fraction=0.2)
    held_out = {
        tuple(plan.identity[plan.split == "val"])
        for plan in (plan_corpus(model, cfg, seed) for seed in range(8))
    }
    assert len(held_out) > 1  # not always the same (e.g. the first) identities


def test_the_same_seed_rewrites_the_same_files_whatever_the_workers(
    written, model, tmp_path
) -> None:
    root, corpus = written
    again = generate_corpus(model, replace(TINY, workers=2), tmp_path / "again", SEED)
    assert_same(again, corpus)
    assert digest(tmp_path / "again") == digest(root)
    other = generate_corpus(model, TINY, tmp_path / "other", SEED + 1)
    assert not np.array_equal(other.shape, corpus.shape)
    assert digest(tmp_path / "other") != digest(root)


def test_the_corpus_people_are_not_the_worlds(written, model) -> None:
    corpus = written[1]
    world = SynthParams(n_identities=6, voice_only=1, face_only=1, workers=1)
    shapes = np.stack([person.shape for person in plan_identities(model, world, SEED)])
    distances = np.abs(corpus.shape[:, None, :] - shapes[None, :, :]).max(axis=-1)  # (N, 6)
    assert distances.min() > 0.1  # no corpus shape is a world identity's
    # on their own stream: 64 gender draws would coincide with the world's on a shared one
    n = 64
    many = SynthParams(n_identities=n, voice_only=1, face_only=1, workers=1)
    genders = [person.gender for person in plan_identities(model, many, SEED)]
    assert list(plan_corpus(model, replace(TINY, n_identities=n), SEED).gender) != genders
    # the same prior: both populations come from one face model, drawn on their own streams
    planned = np.stack(plan_corpus(model, TINY, SEED)["shape"])
    np.testing.assert_array_equal(np.unique(corpus.shape, axis=0), np.unique(planned, axis=0))


def test_the_dataset_crops_and_labels_the_photos(written, model) -> None:
    root, corpus = written
    data = build_corpus_dataset(root)
    n = len(corpus.path)
    assert data.crops.shape == (n, 120, 120, 3) and data.crops.dtype == np.uint8
    assert data.labels.shape == (n, 62) and data.labels.dtype == np.float32
    assert data.crops.std() > 0 and data.skipped == ()
    np.testing.assert_array_equal(data.labels[:, 12:52], corpus.shape)
    np.testing.assert_array_equal(data.labels[:, 52:62], corpus.expression)
    np.testing.assert_array_equal(data.identities, corpus.identity)
    np.testing.assert_array_equal(data.splits, corpus.split)
    np.testing.assert_array_equal(data.paths, corpus.path)
    # the crop-frame pose maps the labelled face onto where the photo shows it
    boxes = np.round(roi_box_from_bbox(box_from_landmarks(corpus.landmarks)))
    decoded = crop_to_image(project_params(data.labels, model), boxes)
    drawn = model.reconstruct(corpus.shape, corpus.expression, landmarks_only=True)
    np.testing.assert_allclose(decoded, to_pixels(project(drawn, corpus.pose), SIZE), atol=1e-3)


def test_fewer_coefficients_are_zero_padded_to_the_teachers_layout(tmp_path) -> None:
    small = load_from_params(FaceModelParams(n_shape=12, n_expression=4))
    corpus = generate_corpus(
        small, replace(TINY, n_identities=2, images_per_identity=(1, 1)), tmp_path, SEED
    )
    labels = build_corpus_dataset(tmp_path).labels
    np.testing.assert_array_equal(labels[:, 12:24], corpus.shape)
    np.testing.assert_array_equal(labels[:, 52:56], corpus.expression)
    assert not labels[:, 24:52].any() and not labels[:, 56:62].any()
    assert corpus.shape[:, -1].any() and corpus.expression.any()


def test_an_unreadable_photo_is_skipped_and_listed(written, tmp_path) -> None:
    root = tmp_path / "copy"
    for path in written[0].rglob("*"):
        if path.is_file():
            (root / path.relative_to(written[0])).parent.mkdir(parents=True, exist_ok=True)
            (root / path.relative_to(written[0])).write_bytes(path.read_bytes())
    broken = written[1].path[1]
    (root / broken).write_bytes(b"not a jpeg")
    data = build_corpus_dataset(root)
    assert len(data.crops) == len(written[1].path) - 1 and broken not in data.paths
    assert [path for path, _ in data.skipped] == [broken]
    np.testing.assert_array_equal(data.labels[1:, 12:52], written[1].shape[2:])


def test_no_corpus_says_which_stage_makes_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dvc repro teacher_corpus"):
        read_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"dvc repro teacher_corpus"):
        build_corpus_dataset(tmp_path)


def test_a_labels_file_missing_an_array_is_refused(written, tmp_path) -> None:
    corpus = written[1]
    np.savez(tmp_path / LABELS, **{k: v for k, v in corpus._asdict().items() if k != "pose"})
    with pytest.raises(ValueError, match=r"missing \['pose'\]"):
        read_corpus(tmp_path)
    short = corpus._replace(shape=corpus.shape[:-1])
    np.savez(tmp_path / LABELS, **short._asdict())
    with pytest.raises(ValueError, match="different lengths"):
        read_corpus(tmp_path)
