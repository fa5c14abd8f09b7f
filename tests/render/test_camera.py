"""Tests for voice2mesh.render.camera: rotation conventions, poses and framing."""

import numpy as np
import pytest

from voice2mesh.render.camera import (
    decompose_pose,
    fit_pose,
    pose_matrix,
    project,
    rotation_angles,
    rotation_matrix,
    to_pixels,
)

NOSE = np.array([0.0, 0.0, 1.0])


def test_rotations_are_orthonormal_with_det_one():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-180, 180, size=(3, 50))
    R = rotation_matrix(*angles)  # (50, 3, 3)
    assert R.shape == (50, 3, 3)
    np.testing.assert_allclose(
        R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_batched_rotation_matches_scalar_and_broadcasts():
    yaws = np.array([-40.0, 0.0, 25.0])
    R = rotation_matrix(yaws, 10.0, -5.0)
    assert R.shape == (3, 3, 3)
    for yaw, r in zip(yaws, R, strict=True):
        np.testing.assert_allclose(r, rotation_matrix(yaw, 10.0, -5.0))
    assert rotation_matrix().shape == (3, 3)
    np.testing.assert_allclose(rotation_matrix(), np.eye(3))


def test_sign_conventions():
    assert (rotation_matrix(yaw=30) @ NOSE)[0] > 0.4  # nose to the image-right
    assert (rotation_matrix(pitch=30) @ NOSE)[1] > 0.4  # nose up
    assert (rotation_matrix(roll=30) @ np.array([1.0, 0, 0]))[1] > 0.4  # counter-clockwise
    # Each angle only moves the nose in its own plane.
    assert abs((rotation_matrix(yaw=30) @ NOSE)[1]) < 1e-12
    assert abs((rotation_matrix(pitch=30) @ NOSE)[0]) < 1e-12


def test_composition_order_is_yaw_pitch_roll():
    yaw, pitch, roll = 35.0, -20.0, 12.0
    expected = rotation_matrix(yaw=yaw) @ rotation_matrix(pitch=pitch) @ rotation_matrix(roll=roll)
    np.testing.assert_allclose(rotation_matrix(yaw, pitch, roll), expected, atol=1e-12)


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, -10, 5), (-75, 40, -170), (120, 80, 60)])
def test_rotation_angles_inverts_rotation_matrix(angles):
    np.testing.assert_allclose(rotation_angles(rotation_matrix(*angles)), angles, atol=1e-9)


def test_decompose_pose_inverts_pose_matrix():
    R = rotation_matrix(20, -15, 7)
    pose = pose_matrix(2.5, R, 64.0, 70.0, -3.0)
    assert pose.shape == (3, 4)
    scale, R_out, t = decompose_pose(pose)
    assert scale == pytest.approx(2.5)
    np.testing.assert_allclose(R_out, R, atol=1e-12)
    np.testing.assert_allclose(t, [64.0, 70.0, -3.0])


def test_decompose_pose_reorthonormalises_a_noisy_pose():
    rng = np.random.default_rng(1)
    R = rotation_matrix(10, 5, -3)
    noisy = pose_matrix(3.0, R, 1.0, 2.0)
    noisy[:, :3] += rng.normal(scale=1e-3, size=(3, 3))
    scale, R_out, _ = decompose_pose(noisy)
    np.testing.assert_allclose(R_out @ R_out.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R_out) == pytest.approx(1.0)
    np.testing.assert_allclose(R_out, R, atol=2e-3)
    assert scale == pytest.approx(3.0, abs=5e-3)


def test_decompose_pose_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        decompose_pose(np.eye(3))


@pytest.mark.parametrize("angles", [(0, 0, 0), (40, 10, -5), (-60, -20, 15)])
@pytest.mark.parametrize("size", [(128, 128), (100, 160)])
def test_fit_pose_frames_the_mesh_inside_the_margin(angles, size):
    rng = np.random.default_rng(2)
    vertices = rng.normal(size=(300, 3)) * [60.0, 80.0, 40.0] + [5.0, -10.0, 30.0]
    margin = 0.1
    H, W = size
    pose = fit_pose(vertices, size, *angles, margin=margin)
    xy = to_pixels(project(vertices, pose), H)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    room_lo = np.array([margin * W, margin * H])
    room_hi = np.array([(1 - margin) * W, (1 - margin) * H])
    assert np.all(lo >= room_lo - 1e-6) and np.all(hi <= room_hi + 1e-6)
    touching = np.isclose(lo, room_lo) & np.isclose(hi, room_hi)
    assert touching.any()  # the limiting dimension fills its room
    np.testing.assert_allclose((lo + hi) / 2, [W / 2, H / 2], atol=1e-6)
    _, R, _ = decompose_pose(pose)
    np.testing.assert_allclose(R, rotation_matrix(*angles), atol=1e-9)


def test_fit_pose_yaw_moves_the_nose_to_the_image_right():
    ring = (
        np.stack(
            [
                np.cos(np.linspace(0, 2 * np.pi, 40)),
                np.sin(np.linspace(0, 2 * np.pi, 40)),
                np.zeros(40),
            ],
            axis=1,
        )
        * 70.0
    )
    vertices = np.vstack([ring, [[0.0, 0.0, 40.0]]])  # last vertex: nose tip
    for yaw, side in ((30.0, 1.0), (-30.0, -1.0)):
        xy = to_pixels(project(vertices, fit_pose(vertices, (64, 64), yaw=yaw)), 64)
        assert side * (xy[-1, 0] - 32.0) > 5.0


def test_fit_pose_rejects_degenerate_input():
    with pytest.raises(ValueError, match="zero width and height"):
        fit_pose(np.zeros((4, 3)), (32, 32))
    with pytest.raises(ValueError, match="margin"):
        fit_pose(np.eye(3), (32, 32), margin=0.5)


def test_project_and_to_pixels_conventions():
    pose = pose_matrix(2.0, np.eye(3), 10.0, 20.0, 1.0)
    p = project(np.array([[1.0, 2.0, 3.0]]), pose)
    np.testing.assert_allclose(p, [[12.0, 24.0, 7.0]])
    np.testing.assert_allclose(to_pixels(p, 100), [[12.0, 76.0]])  # row = H - y


def test_project_is_batched():
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(4, 10, 3))
    poses = np.stack([pose_matrix(s, rotation_matrix(s * 10), s, -s) for s in range(1, 5)])
    batched = project(vertices, poses)
    assert batched.shape == (4, 10, 3)
    for b in range(4):
        np.testing.assert_allclose(batched[b], project(vertices[b], poses[b]))
    assert to_pixels(batched, 50).shape == (4, 10, 2)
