"""``release.fbank`` and ``release.params3dmm``: one release file read, checked and mapped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from release_world import random_params, utterance

from voice2mesh.audio.features import utterance_features
from voice2mesh.audio.logmel import repeat_to
from voice2mesh.release import ReleaseError, ReleaseFileError, read_fbank, read_params
from voice2mesh.release.fbank import FILE_FRAMES
from voice2mesh.release.params3dmm import N_SHAPE_BFM, release_fits
from voice2mesh.train.voice_data import MIN_FRAMES


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


@pytest.mark.parametrize("frames", [1, 357, 999])
def test_a_repeated_utterance_is_untiled_exactly(tmp_path: Path, frames: int) -> None:
    features = utterance(np.random.default_rng(frames), frames)
    fbank = read_fbank(_save(tmp_path / "u.npy", repeat_to(features, FILE_FRAMES)))
    assert fbank.period == frames and fbank.frames_in_file == FILE_FRAMES
    np.testing.assert_array_equal(fbank.features, features)
    assert fbank.problem is None and fbank.speech_s == frames / 100


@pytest.mark.parametrize("frames", [1000, 1751, 12])
def test_a_file_that_does_not_repeat_is_kept_whole(tmp_path: Path, frames: int) -> None:
    features = utterance(np.random.default_rng(frames), frames)
    fbank = read_fbank(_save(tmp_path / "u.npy", features))
    assert fbank.period is None
    np.testing.assert_array_equal(fbank.features, features)


def test_the_release_repeats_to_as_many_frames_as_our_loaders() -> None:
    assert FILE_FRAMES == MIN_FRAMES


def test_our_front_end_writes_what_the_release_holds(assets_dir: Path, tmp_path: Path) -> None:
    """The ``features`` stage's frames of a real recording pass the release's normalisation
    check; log-mel before per-bin normalisation (another front end's output) does not."""
    features, _ = utterance_features(assets_dir / "voxceleb1" / "Damian_Lewis.wav", 0.5)
    assert read_fbank(_save(tmp_path / "ours.npy", features)).problem is None
    raw = features * 2.5 + 8.0
    problem = read_fbank(_save(tmp_path / "raw.npy", raw)).problem
    assert problem is not None and "not normalised" in problem and "bin 0" in problem


BAD_FILES = {
    "transposed": (np.zeros((64, 300), np.float32), "bad_shape", "transposed"),
    "three_d": (np.zeros((2, 300, 64), np.float32), "bad_shape", "(T, 64)"),
    "integers": (np.ones((300, 64), np.int16), "bad_dtype", "int16"),
    "empty": (np.zeros((0, 64), np.float32), "empty", "no frames"),
    "nan": (np.full((300, 64), np.nan, np.float32), "non_finite", "NaN"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_fbank_files_are_named_with_a_code(tmp_path: Path, name: str) -> None:
    array, code, words = BAD_FILES[name]
    path = _save(tmp_path / f"{name}.npy", array)
    with pytest.raises(ReleaseFileError, match=re.escape(words)) as caught:
        read_fbank(path)
    assert caught.value.code == code and str(path) in str(caught.value)


@pytest.mark.parametrize("reader", [read_fbank, read_params])
def test_pickles_and_other_files_are_never_unpickled(tmp_path: Path, reader) -> None:
    pickled = tmp_path / "object.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ReleaseFileError, match="pickled") as caught:
        reader(pickled)
    assert caught.value.code == "unreadable"
    archive = tmp_path / "archive.npy"
    with open(archive, "wb") as handle:
        np.savez(handle, a=np.zeros(3))
    with pytest.raises(ReleaseFileError, match=r"not an \.npy file"):
        reader(archive)


@pytest.mark.parametrize("layout", [(228,), (228, 1), (1, 228)])
def test_params_keep_the_first_40_shape_and_10_expression(tmp_path: Path, layout: tuple) -> None:
    params = random_params(np.random.default_rng(1))
    shape, expression = read_params(_save(tmp_path / "p.npy", params.reshape(layout)))
    np.testing.assert_array_equal(shape, params[:40].astype(np.float64))
    np.testing.assert_array_equal(expression, params[N_SHAPE_BFM : N_SHAPE_BFM + 10])
    shape, expression = read_params(tmp_path / "p.npy", n_shape=6, n_expression=0)
    assert shape.shape == (6,) and expression.shape == (0,)


@pytest.mark.parametrize(
    ("array", "code"),
    [
        (np.zeros(62, np.float32), "bad_shape"),  # a 3DDFA 62-d parameter, not the release's
        (np.zeros((2, 228), np.float32), "bad_shape"),
        (np.zeros(228, np.int64), "bad_shape"),
        (np.full(228, np.inf, np.float32), "non_finite"),
        (np.full(228, 5e7, np.float32), "implausible"),  # e.g. in other units
    ],
)
def test_bad_param_files_are_named_with_a_code(tmp_path: Path, array: np.ndarray, code) -> None:
    path = _save(tmp_path / "p.npy", array)
    with pytest.raises(ReleaseFileError) as caught:
        read_params(path)
    assert caught.value.code == code and str(path) in str(caught.value)


def test_more_components_than_the_bfm_bases_hold_are_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "p.npy", random_params(np.random.default_rng(2)))
    with pytest.raises(ReleaseError, match="at most 3DDFA's 40 shape / 10 expression"):
        read_params(path, n_shape=60)


def test_release_fits_have_no_pose_and_measure_the_expression() -> None:
    expression = np.array([[0.0] * 10, list(np.ones(10))])
    fits = release_fits(np.zeros((2, 40)), expression)
    assert np.isnan(fits.pose).all() and fits.converged.all() and (fits.n_valid == 0).all()
    assert fits.expression_strength[0] == 0 and fits.expression_strength[1] > 1
