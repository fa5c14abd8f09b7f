"""The 3DDFA-V2 teacher: loading 3DDFA-V2's files, decoding, and its model checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from voice2mesh.checkpoint import load_model, read_model, save_model
from voice2mesh.data.crops import crop_faces, crop_to_image, project_params, roi_box_from_bbox
from voice2mesh.facemodel.bfm import load_bfm68
from voice2mesh.models import Teacher
from voice2mesh.models.mobilenet import MobileNetV1, crops_to_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMMA_BOXES = np.array(
    [[317, 382, 815, 1036], [2986, 298, 3480, 886], [1694, 241, 2048, 733]], np.float64
)


@pytest.fixture(scope="module")
def emma_landmarks(assets_dir: Path) -> np.ndarray:
    """(3, 68, 2) (x, row) landmarks the real mb05 checkpoint gives on emma.jpg's faces."""
    tddfa = assets_dir / "tddfa"
    teacher = Teacher.from_3ddfa_checkpoint(
        tddfa / "mb05_120x120.pth", tddfa / "param_mean_std_62d_120x120.pkl", widen_factor=0.5
    )
    with Image.open(assets_dir / "images" / "emma.jpg") as image:
        bgr = np.asarray(image.convert("RGB"))[..., ::-1]
    crops, boxes = crop_faces([bgr] * 3, roi_box_from_bbox(EMMA_BOXES))
    params = teacher.predict_params(crops)
    assert params.shape == (3, 62) and params.dtype == np.float32
    return crop_to_image(project_params(params, load_bfm68(assets_dir / "bfm68")), boxes)


def test_real_checkpoint_landmarks_lie_inside_each_face_box(emma_landmarks: np.ndarray) -> None:
    for box, points in zip(EMMA_BOXES, emma_landmarks, strict=True):
        margin = 0.1 * (box[2] - box[0])
        assert (points[:, 0] > box[0] - margin).all() and (points[:, 0] < box[2] + margin).all()
        assert (points[:, 1] > box[1] - margin).all() and (points[:, 1] < box[3] + margin).all()
        assert np.ptp(points[:, 0]) > 0.4 * (box[2] - box[0])  # spans the face, not a dot


def test_real_checkpoint_landmarks_are_in_anatomical_order(emma_landmarks: np.ndarray) -> None:
    for points in emma_landmarks:
        x, row = points[:, 0], points[:, 1]
        eyes_row = row[36:48].mean()
        assert row[8] > row[30] > eyes_row  # chin below nose tip below the eyes
        assert row[48:68].mean() > row[30]  # mouth below the nose tip
        assert x[36:42].mean() < x[42:48].mean()  # image-left eye left of the other
        assert x[0] < x[16]  # jaw runs left to right
        assert row[17:27].mean() < eyes_row  # brows above the eyes


def test_checkpoint_with_wrong_width_is_refused(assets_dir: Path) -> None:
    tddfa = assets_dir / "tddfa"
    with pytest.raises(ValueError, match=r"widen_factor 1\.0"):
        Teacher.from_3ddfa_checkpoint(
            tddfa / "mb05_120x120.pth", tddfa / "param_mean_std_62d_120x120.pkl", 1.0
        )


def test_features_and_output_shapes() -> None:
    net = MobileNetV1(widen_factor=0.25)
    mid, pooled = net.features(crops_to_input(np.zeros((2, 120, 120, 3), np.uint8)))
    assert mid.shape == (2, 128, 8, 8) and pooled.shape == (2, 256)
    assert net.head(pooled).shape == (2, 62)


class _Payload:
    """Any class: a weights-only load refuses to rebuild it."""


def test_a_3ddfa_file_holding_python_objects_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": _Payload()}, tmp_path / "crafted.pth")
    with pytest.raises(ValueError, match="not a loadable 3DDFA-V2 checkpoint"):
        Teacher.from_3ddfa_checkpoint(tmp_path / "crafted.pth", tmp_path / "stats.pkl", 0.5)
    with pytest.raises(FileNotFoundError, match="no such 3DDFA-V2 checkpoint"):
        Teacher.from_3ddfa_checkpoint(tmp_path / "missing.pth", tmp_path / "stats.pkl", 0.5)


def test_whitening_must_be_62_values_with_a_positive_std() -> None:
    with pytest.raises(ValueError, match="positive"):
        Teacher(0.25, np.zeros(62), np.zeros(62))
    with pytest.raises(ValueError, match=r"\(62,\)"):
        Teacher(0.25, np.zeros(12), np.ones(12))


def test_model_checkpoint_round_trip_predicts_identically(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    teacher = Teacher(0.25, rng.normal(size=62), rng.uniform(0.5, 2.0, 62))
    teacher.net(torch.randn(4, 3, 120, 120))  # move the BN running stats off their init
    teacher.eval()
    crops = rng.integers(0, 256, (3, 120, 120, 3), dtype=np.uint8)
    path = tmp_path / "teacher.pt"
    save_model(path, "teacher", teacher, {"widen_factor": 0.25, "note": "x"}, {"seed": 0})
    checkpoint = read_model(path)
    assert checkpoint.kind == "teacher" and checkpoint.arch == {
        "arch": "mobilenet_v1",
        "widen_factor": 0.25,
        "widths": [32, 64, 128, 256],
        "input_size": 120,
    }
    assert checkpoint.config["note"] == "x" and checkpoint.params == {"seed": 0}
    loaded = load_model(path, kinds=("teacher",), purpose="the unsupervised training")
    assert isinstance(loaded, Teacher) and loaded.widen_factor == 0.25 and not loaded.training
    for name, value in teacher.state_dict().items():  # weights, BN statistics, whitening
        assert torch.equal(loaded.state_dict()[name], value), name
    np.testing.assert_array_equal(loaded.predict_params(crops), teacher.predict_params(crops))
    with pytest.raises(ValueError, match="predict needs a supervised or unsupervised model"):
        load_model(path, kinds=("supervised", "unsupervised"), purpose="predict")
