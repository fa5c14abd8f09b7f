"""Outputs that cannot mix: a data stage killed mid-write leaves its previous folder (or none),
and a folder mixing files of two runs is refused by the reader the next stage uses.

Two complete runs of the data stages on two tiny worlds (seeds 0 and 7) are built once; the
kills run each stage in a subprocess whose file writer calls ``os._exit(9)`` after N calls.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import replace
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

from stages import fit3dmm
from voice2mesh.audio import FeatureStore
from voice2mesh.config import FeaturesParams, FitParams, IntersectParams, LandmarksParams, Params
from voice2mesh.data.manifest import read_manifests
from voice2mesh.evaluation.store import read_predictions
from voice2mesh.fitting.store import read_fits
from voice2mesh.io import MixedOutputError, atomic_dir
from voice2mesh.landmarks.base import LandmarkResult
from voice2mesh.landmarks.store import read_landmarks, write_landmarks
from voice2mesh.synth.spec import SynthParams

REPO = Path(__file__).resolve().parents[1]
WORLD = SynthParams(
    n_identities=12,
    voice_only=1,
    face_only=1,
    images_per_identity=(2, 3),
    videos_per_identity=(1, 2),
    utterances_per_identity=(2, 3),
    duration_s=(2.0, 2.4),
    image_size=64,
    workers=1,  # a killed parent must leave no worker processes behind
    preview_identities=2,
)
OUT = {  # stage -> its output folder's field in Params
    "synthesize": ("synth", "root"),
    "intersect": ("intersect", "out"),
    "landmarks": ("landmarks", "out"),
    "features": ("features", "out"),
    "fit3dmm": ("fit3dmm", "out"),
}
RUN = {  # stage -> the call of its ``run`` in the subprocess (``out``: a scratch folder)
    "synthesize": "run(params, out / 'world.png', out / 'm.json', quiet=True)",
    "intersect": "run(params.intersect, out / 'm.json')",
    "landmarks": "run(params, out / 'm.json', quiet=True)",
    "features": "run(params, out / 'm.json', quiet=True)",
    "fit3dmm": "run(params, out / 'm.json')",
}
KILLS = {  # stage -> (owner, writer, calls that complete before the kill)
    "synthesize": ("pandas.DataFrame", "to_csv", 2),  # images and wavs done, truth half written
    "intersect": ("pandas.DataFrame", "to_csv", 2),  # two of the five tables
    "landmarks": ("numpy.lib.format", "write_array", 4),  # shard 0 done, inside shard 1
    "features": ("numpy.lib.format", "write_array", 4),  # shard 0 done, inside shard 1
    "fit3dmm": ("numpy.lib.format", "write_array", 16),  # shard 0 (15 arrays) done, in shard 1
}
CHILD = """
import os, pickle, sys
from pathlib import Path
import numpy, numpy.lib.format, pandas
owner, name, after = {owner}, {name!r}, {after}
original, calls = getattr(owner, name), [0]

def killed(*args, **kwargs):
    calls[0] += 1
    if calls[0] > after:
        os._exit(9)  # no cleanup, as after `kill -9`
    return original(*args, **kwargs)

setattr(owner, name, killed)
from stages.{stage} import run
params, out = pickle.loads(Path(sys.argv[1]).read_bytes()), Path(sys.argv[2])
{call}
"""


def make_params(root: Path, seed: int) -> Params:
    world = root / "world"
    return Params(
        seed=seed,
        synth=replace(WORLD, root=str(world)),
        intersect=IntersectParams(
            voxceleb_root=str(world / "voxceleb1"),
            vggface_root=str(world / "vggface"),
            out=str(root / "manifest"),
        ),
        landmarks=LandmarksParams(out=str(root / "landmarks"), shard_size=8),
        features=FeaturesParams(out=str(root / "features"), shard_size=8, workers=1),
        fit3dmm=FitParams(out=str(root / "fits")),
    )


def run_stage(stage: str, params: Params, scratch: Path) -> None:
    """Run ``stage`` here, complete, with the same call the killed subprocess makes."""
    run = import_module(f"stages.{stage}").run
    eval(RUN[stage], {"run": run, "params": params, "out": scratch})  # a literal from RUN


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Params]:
    """Run ``a`` and run ``b``: every data stage, complete, on two different worlds."""
    out = {}
    for name, seed in (("a", 0), ("b", 7)):
        root = tmp_path_factory.mktemp(name)
        out[name] = make_params(root, seed)
        for stage in OUT:
            run_stage(stage, out[name], root / "metrics")
    return out


def folder_of(params: Params, stage: str) -> Path:
    section, field = OUT[stage]
    return Path(getattr(getattr(params, section), field))


def with_folder(params: Params, stage: str, folder: Path) -> Params:
    section, field = OUT[stage]
    return replace(params, **{section: replace(getattr(params, section), **{field: str(folder)})})


def contents(folder: Path) -> dict[str, bytes] | None:
    """Every file's bytes by relative path; ``None`` when the folder is absent."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("stage", list(KILLS))
def test_a_killed_stage_leaves_the_previous_folder_or_none(runs, tmp_path, stage) -> None:
    previous = contents(folder_of(runs["a"], stage))
    target = shutil.copytree(folder_of(runs["a"], stage), tmp_path / "out")
    params = with_folder(runs["b"], stage, target)  # run b's inputs into run a's folder
    owner, name, after = KILLS[stage]
    code = CHILD.format(owner=owner, name=name, after=after, stage=stage, call=RUN[stage])
    (tmp_path / "params.pkl").write_bytes(pickle.dumps(params))
    child = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "params.pkl"), str(tmp_path / "scratch")],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
    )
    assert child.returncode == 9, child.stderr.decode()[-2000:]  # killed inside the writer
    assert contents(target) in (None, previous)  # never a mix of the two runs
    run_stage(stage, params, tmp_path / "scratch")  # the next run clears what the kill left
    assert contents(target) == contents(folder_of(runs["b"], stage))  # same bytes as run b
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


READERS = {
    "intersect": read_manifests,
    "landmarks": read_landmarks,
    "features": FeatureStore,
    "fit3dmm": read_fits,
}
MIXES = [
    ("intersect", "identities.csv"),
    ("intersect", "voices.csv"),
    ("intersect", "faces.csv"),
    ("landmarks", "shard_00001.npz"),
    ("landmarks", "index.csv"),
    ("features", "shard_00001.npz"),
    ("features", "index.csv"),
    ("fit3dmm", "shard_00001.npz"),
    ("fit3dmm", "index.csv"),
    ("fit3dmm", "references.npz"),
    ("fit3dmm", "references.csv"),
]


@pytest.mark.parametrize(("stage", "name"), MIXES)
def test_a_folder_mixing_two_runs_is_refused(runs, tmp_path, stage, name) -> None:
    older, newer = folder_of(runs["a"], stage), folder_of(runs["b"], stage)
    assert (older / name).read_bytes() != (newer / name).read_bytes()
    READERS[stage](newer)  # the complete folder reads
    mixed = shutil.copytree(newer, tmp_path / "mixed")
    shutil.copyfile(older / name, mixed / name)
    fix = rf"^{re.escape(str(mixed))}.* re-run `dvc repro {stage}`$"
    with pytest.raises(MixedOutputError, match=fix):
        READERS[stage](mixed)


def test_fit3dmm_refuses_landmarks_of_other_images_at_the_same_length(runs, tmp_path) -> None:
    """The reported case: same number of rows and sizes, each row another image's landmarks."""
    params = runs["a"]
    index, points, sizes = read_landmarks(folder_of(params, "landmarks"))
    faces = read_manifests(folder_of(params, "intersect")).faces
    result = LandmarkResult(list(index.path), points, sizes, [])
    write_landmarks(result, faces.iloc[::-1], tmp_path / "reversed", 8)  # rows in reverse order
    mixed = shutil.copytree(folder_of(params, "landmarks"), tmp_path / "landmarks")
    shutil.copyfile(tmp_path / "reversed" / "shard_00000.npz", mixed / "shard_00000.npz")
    with np.load(mixed / "shard_00000.npz") as data:
        assert data["points"].shape == points[:8].shape and (data["sizes"] == sizes[:8]).all()
    params = with_folder(with_folder(params, "landmarks", mixed), "fit3dmm", tmp_path / "fits")
    with pytest.raises(MixedOutputError, match=r"row 0: .* re-run `dvc repro landmarks`"):
        fit3dmm.run(params, tmp_path / "m.json")
    assert not (tmp_path / "fits").exists()


def test_a_feature_shard_holding_other_utterances_is_refused_when_loaded(runs, tmp_path) -> None:
    """A shard swapped after the store was opened is caught when it is read."""
    folder = shutil.copytree(folder_of(runs["b"], "features"), tmp_path / "features")
    store = FeatureStore(folder, cache_shards=1)
    shutil.copyfile(
        folder_of(runs["a"], "features") / "shard_00000.npz", folder / "shard_00000.npz"
    )
    with pytest.raises(MixedOutputError, match=r"shard paths and index\.csv disagree"):
        store[0]


def test_atomic_dir_replaces_the_folder_whole(tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (tmp_path / ".out.tmp-stale").mkdir()  # left by a killed run
    (tmp_path / ".out.old-stale").mkdir()
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.tmp-")
        (tmp / "new.txt").write_text("new")
        assert (target / "old.txt").is_file()  # untouched until the block succeeds
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~mask


def test_atomic_dir_keeps_the_old_folder_when_the_block_fails(tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (target / "old.txt").read_text() == "old"


def test_predictions_with_disagreeing_row_counts_are_refused(tmp_path) -> None:
    np.savez(
        tmp_path / "p.npz",
        utterance_identity=np.array(["id1", "id1"]),
        utterance_path=np.array(["a.wav", "b.wav"]),
        identities=np.array(["id1"]),
        rows=np.array(["net"]),
        reference_shape=np.zeros((1, 4)),
        **{"net.shape": np.zeros((3, 4)), "net.expression": np.zeros((2, 0))},
    )
    with pytest.raises(MixedOutputError, match=r"net.shape has 3 rows, not 2.*dvc repro evaluate"):
        read_predictions(tmp_path / "p.npz")


def test_atomic_dir_refuses_a_folder_holding_other_files(tmp_path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "index.csv").write_text("old")
    (target / "00001.wav").write_text("someone's data")
    refused = pytest.raises(FileExistsError, match=r"out holds '00001\.wav'.* new folder")
    with refused, atomic_dir(target, owns=("index.csv", "shard_*.npz")):
        pytest.fail("the block must not run")
    assert sorted(p.name for p in target.iterdir()) == ["00001.wav", "index.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
