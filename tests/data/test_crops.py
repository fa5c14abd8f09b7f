"""3DDFA-V2's crop rule and 62-d parameter frame (``voice2mesh.data.crops``)."""

from __future__ import annotations

import numpy as np
import pytest

from voice2mesh.data.crops import (
    box_from_landmarks,
    crop_faces,
    crop_pose_to_image,
    crop_to_image,
    pose_to_crop,
    project_params,
    roi_box_from_bbox,
)
from voice2mesh.facemodel.model import MorphableModel
from voice2mesh.render.camera import pose_matrix, project, rotation_matrix, to_pixels


def test_roi_box_follows_3ddfa_v2_rule() -> None:
    box = roi_box_from_bbox(np.array([10.0, 20.0, 110.0, 140.0]))
    old = (100 + 120) / 2
    size = int(old * 1.58)
    centre = np.array([60.0, 80.0 + 0.14 * old])
    np.testing.assert_allclose(box, [*(centre - size / 2), *(centre + size / 2)])
    batch = roi_box_from_bbox(np.array([[10.0, 20.0, 110.0, 140.0]] * 2))  # (..., 4)
    np.testing.assert_array_equal(batch, [box, box])


def test_landmark_box_is_in_pixel_index_coordinates_and_skips_nan() -> None:
    points = np.array([[10.5, 20.5], [30.5, 5.5], [np.nan, np.nan], [20.5, 40.5]])  # (x, row)
    points = np.concatenate([points, np.tile(points[:1], (64, 1))])  # (68, 2)
    np.testing.assert_array_equal(box_from_landmarks(points), [10, 5, 30, 40])
    assert box_from_landmarks(np.stack([points] * 3)).shape == (3, 4)


def test_crop_pads_outside_the_image_with_zeros() -> None:
    image = np.full((40, 60, 3), 200, np.uint8)
    crops, boxes = crop_faces([image], np.array([[-30.0, -30.0, 30.0, 30.0]]))
    assert crops.shape == (1, 120, 120, 3) and boxes.tolist() == [[-30, -30, 30, 30]]
    assert (crops[0, :50, :50] == 0).all() and (crops[0, 70:, 70:] == 200).all()
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        crop_faces([image, image], np.array([[0.0, 0.0, 30.0, 30.0]]))


def _model(tiny_face) -> MorphableModel:
    """The shared tiny face mesh with random 40 shape / 10 expression directions (mm)."""
    rng = np.random.default_rng(0)
    n = len(tiny_face.mean)
    return MorphableModel(
        name="tiny",
        mean=tiny_face.mean,
        shape_basis=rng.normal(0, 0.5, (3 * n, 40)).astype(np.float32),
        shape_std=np.ones(40, np.float32),
        expression_basis=rng.normal(0, 0.5, (3 * n, 10)).astype(np.float32),
        expression_std=np.ones(10, np.float32),
        triangles=tiny_face.triangles,
        landmarks=tiny_face.landmarks,
    )


def test_pose_to_crop_round_trips_through_the_crop_frame(tiny_face) -> None:
    rng = np.random.default_rng(0)
    model, n, height = _model(tiny_face), 5, 128
    pose = np.stack(
        [
            pose_matrix(
                rng.uniform(0.3, 0.5),
                rotation_matrix(*rng.uniform(-30, 30, 3)),
                *rng.uniform(0.4, 0.6, 2) * height,
            )
            for _ in range(n)
        ]
    )  # (n, 3, 4)
    shape, expression = rng.normal(size=(n, 40)), rng.normal(size=(n, 10))
    boxes = np.concatenate([rng.uniform(0, 40, (n, 2)), np.zeros((n, 2))], axis=1)
    boxes[:, 2:] = boxes[:, :2] + rng.integers(60, 140, (n, 1))  # square, as the crops are
    heights = np.full(n, height)
    vertices = model.reconstruct(shape, expression, landmarks_only=True)  # (n, 68, 3) mm
    expected = to_pixels(project(vertices, pose), height)  # (n, 68, 2) (x, row)
    params = np.concatenate([pose_to_crop(pose, boxes, heights), shape, expression], axis=1)
    assert params.shape == (n, 62)
    np.testing.assert_allclose(
        crop_to_image(project_params(params, model), boxes), expected, atol=1e-6
    )
    np.testing.assert_allclose(crop_pose_to_image(params, boxes, heights), pose, atol=1e-9)
