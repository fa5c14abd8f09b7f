"""Meta parsing, dataset scans and the VoxCeleb1 ∩ VGGFace intersection."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from stages.intersect import run
from voice2mesh.config import IntersectParams
from voice2mesh.data.manifest import read_manifests, split_of, val_split
from voice2mesh.data.voxceleb import DatasetError, read_meta

HEADER = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"


def make_dataset(root: Path, meta_rows: list[str], voices: dict, faces: dict) -> IntersectParams:
    """voices: {id: n_wavs}; faces: {name: n_images}."""
    vox, vgg = root / "voxceleb1", root / "vggface"
    vox.mkdir(parents=True)
    (vox / "vox1_meta.csv").write_text(HEADER + "".join(r + "\n" for r in meta_rows))
    for identity, n in voices.items():
        for k in range(n):
            path = vox / "wav" / identity / "abcdefghijk" / f"{k + 1:05d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, np.zeros(16000 + k, np.int16), 16000, subtype="PCM_16")
    for name, n in faces.items():
        (vgg / name).mkdir(parents=True)
        for k in range(n):
            (vgg / name / f"{k:05d}.jpg").write_bytes(b"jpeg")
    (vgg).mkdir(exist_ok=True)
    return IntersectParams(
        voxceleb_root=str(vox), vggface_root=str(vgg), out=str(root / "manifest")
    )


def rows(*specs: tuple[str, str, str]) -> list[str]:
    return [f"{i}\t{n}\t{g}\tUSA\tdev" for i, n, g in specs]


def test_real_meta_file_parses_cleanly(assets_dir):
    meta = read_meta(assets_dir / "voxceleb1" / "vox1_meta.csv")
    assert len(meta.table) == 1251 and meta.malformed.empty
    assert meta.table.identity.iloc[0] == "id10001" and meta.table.name.iloc[0] == "A.J._Buckley"
    assert set(meta.table.gender) == {"male", "female"}
    test = meta.table.name.map(lambda n: split_of(n, "ABCDE")) == "test"
    # 309 meta names start with A–E; the paper keeps 301 of them after intersecting with VGGFace
    assert test.sum() == 309


def test_malformed_rows_are_listed_with_line_numbers(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_text(
        HEADER + "id10001\tA_B\tm\tUSA\tdev\nid1002\tC_D\tm\tUSA\tdev\n"
        "id10003\tE_F\tx\tUSA\tdev\nid10004 G_H m USA dev\nid10001\tI_J\tf\tUK\tdev\n"
    )
    meta = read_meta(path)
    assert list(meta.table.name) == ["A_B"]
    assert list(meta.malformed.line) == [3, 4, 5, 6]
    reasons = " | ".join(meta.malformed.reason)
    assert "id12345" in reasons and "not m or f" in reasons and "fields" in reasons
    assert "duplicate VoxCeleb1 ID id10001" in reasons


def test_wrong_header_is_explained(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_text("VoxCeleb1 ID,VGGFace1 ID,Gender,Nationality,Set\n")
    with pytest.raises(DatasetError, match="tab-separated"):
        read_meta(path)


def test_intersection_split_and_drop_reasons(tmp_path):
    cfg = make_dataset(
        tmp_path,
        rows(
            ("id10001", "Alice_Smith", "f"),
            ("id10002", "Frank_Jones", "m"),
            ("id10003", "Zoe_Voice", "f"),
            ("id10004", "No_Voice", "m"),
        ),
        voices={"id10001": 2, "id10002": 3, "id10003": 1},
        faces={"Alice_Smith": 2, "Frank_Jones": 1, "No_Voice": 1, "Stray_Folder": 2},
    )
    counts = run(cfg, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == counts
    assert counts["identities"] == {"train": 1, "val": 0, "test": 1}  # round(0.15 × 1) = 0
    assert counts["utterances"] == {"train": 3, "val": 0, "test": 2}
    assert counts["images"] == {"train": 1, "val": 0, "test": 2}
    assert counts["dropped"] == {
        "identity.no_face_folder": 1,
        "identity.no_utterances": 1,
        "face_folder.not_in_meta": 1,
    }
    manifests = read_manifests(Path(cfg.out))
    alice = manifests.identities.set_index("name").loc["Alice_Smith"]
    assert (alice.split, alice.n_utterances, alice.n_images) == ("test", 2, 2)
    assert manifests.voices.duration_s.tolist()[:2] == [1.0, round(16001 / 16000, 4)]
    assert set(manifests.dropped.key) == {"id10003", "id10004", "Stray_Folder"}


def test_unknown_ids_fail_or_drop(tmp_path):
    cfg = make_dataset(
        tmp_path,
        rows(("id10001", "Alice_Smith", "f")),
        voices={"id10001": 1, "id10099": 1},
        faces={"Alice_Smith": 1},
    )
    with pytest.raises(DatasetError, match=r"id10099.*unknown_ids: drop"):
        run(cfg, tmp_path / "m.json")
    counts = run(replace(cfg, unknown_ids="drop"), tmp_path / "m.json")
    assert counts["dropped"] == {"identity.not_in_meta": 1}


def test_corrupt_wav_is_dropped_with_reason(tmp_path):
    cfg = make_dataset(
        tmp_path,
        rows(("id10001", "Alice_Smith", "f")),
        voices={"id10001": 2},
        faces={"Alice_Smith": 1},
    )
    bad = Path(cfg.voxceleb_root) / "wav" / "id10001" / "abcdefghijk" / "00002.wav"
    bad.write_bytes(b"RIFF garbage")
    counts = run(cfg, tmp_path / "m.json")
    assert counts["utterances"]["test"] == 1 and counts["dropped"] == {"utterance.unreadable": 1}
    dropped = read_manifests(Path(cfg.out)).dropped
    assert "unreadable wav header" in dropped.reason.iloc[0] and "00002.wav" in dropped.key.iloc[0]


def test_empty_intersection_and_missing_roots(tmp_path):
    cfg = make_dataset(
        tmp_path,
        rows(("id10001", "Alice_Smith", "f")),
        voices={"id10001": 1},
        faces={"Bob_Other": 1},
    )
    with pytest.raises(DatasetError, match="no identity has both"):
        run(cfg, tmp_path / "m.json")
    with pytest.raises(DatasetError, match=r"intersect\.voxceleb_root"):
        run(
            IntersectParams(
                voxceleb_root=str(tmp_path / "nope"), meta_file=cfg.voxceleb_root + "/vox1_meta.csv"
            ),
            tmp_path / "m.json",
        )
    with pytest.raises(DatasetError, match="meta file not found"):
        run(IntersectParams(voxceleb_root=str(tmp_path / "nope")), tmp_path / "m.json")


def _identities(n: int) -> pd.DataFrame:

    genders = np.where(np.arange(n) % 3 == 0, "female", "male")
    names = [("A" if k % 4 == 0 else "K") + f"_{k}" for k in range(n)]
    return pd.DataFrame(
        {
            "identity": [f"id{10001 + k}" for k in range(n)],
            "gender": genders,
            "split": [split_of(name, "ABCDE") for name in names],
        }
    )


def test_validation_is_a_share_of_each_gender_of_the_train_split():
    ids = _identities(200)
    held = val_split(ids, 0.2)
    assert not held[ids.split.to_numpy() == "test"].any()  # test identities never move
    for gender in ("male", "female"):
        train = (ids.split == "train") & (ids.gender == gender)
        assert held[train.to_numpy()].sum() == round(0.2 * train.sum())
    assert not val_split(ids, 0.0).any()


def test_validation_membership_depends_on_the_id_alone():
    ids = _identities(200)
    held = dict(zip(ids.identity, val_split(ids, 0.2), strict=True))
    fewer = ids.iloc[::-1].reset_index(drop=True)  # another order: same choice
    assert dict(zip(fewer.identity, val_split(fewer, 0.2), strict=True)) == held
    other = _identities(201)  # one identity more: the others stay on their side but one at most
    moved = [
        i
        for i, h in zip(other.identity, val_split(other, 0.2), strict=True)
        if i in held and held[i] != h
    ]
    assert len(moved) <= 1


def test_the_stage_writes_a_validation_split(tmp_path):
    names = [f"{letter}_{k}" for letter in "AFGHKLMNPRS" for k in range(3)]
    specs = [(f"id{10001 + k}", name, "mf"[k % 2]) for k, name in enumerate(names)]
    params = make_dataset(
        tmp_path, rows(*specs), {i: 1 for i, _, _ in specs}, {n: 1 for _, n, _ in specs}
    )
    counts = run(replace(params, val_fraction=0.2), tmp_path / "m.json")
    assert counts["identities"] == {"train": 24, "val": 6, "test": 3}
    manifests = read_manifests(Path(params.out))
    assert set(manifests.voices.split) == {"train", "val", "test"}
    assert json.loads((tmp_path / "m.json").read_text())["identities"]["val"] == 6
