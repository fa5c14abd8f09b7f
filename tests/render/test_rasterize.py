"""Tests for voice2mesh.render.rasterize: coverage, z-buffer, shading and landmarks."""

import numpy as np
import pytest

from voice2mesh.render.camera import fit_pose, pose_matrix, rotation_matrix
from voice2mesh.render.rasterize import Light, render, render_many, vertex_normals

FRONT = pose_matrix(10.0, np.eye(3), 16.0, 16.0)  # 1 mm = 10 px, origin at the image centre


def quad(x0, x1, y0, y1, z=0.0, first=0):
    """A rectangle in the z plane as 4 vertices and 2 counter-clockwise triangles."""
    vertices = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float64)
    return vertices, np.array([[0, 1, 2], [0, 2, 3]]) + first


def uv_sphere(n_lat=24, n_lon=48, radius=1.0):
    """A closed UV sphere with poles on the y axis and outward (counter-clockwise) faces."""
    theta = np.linspace(0, np.pi, n_lat + 1)[1:-1]  # polar angle from +y
    phi = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    vertices = np.vstack([[0, 1, 0], ring, [0, -1, 0]]) * radius
    idx = 1 + np.arange((n_lat - 1) * n_lon).reshape(n_lat - 1, n_lon)
    nxt = np.roll(idx, -1, axis=1)
    tris = [np.stack([np.zeros(n_lon, int), idx[0], nxt[0]], 1)]
    a, b, c, d = idx[:-1], idx[1:], nxt[1:], nxt[:-1]
    tris += [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    tris.append(np.stack([np.full(n_lon, len(vertices) - 1), nxt[-1], idx[-1]], 1))
    triangles = np.vstack(tris)
    # Orient every face outwards so the test does not depend on the loop order above.
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    inward = (np.cross(b - a, c - a) * (a + b + c)).sum(1) < 0
    triangles[inward] = triangles[inward][:, ::-1]
    return vertices, triangles


def test_frontal_square_covers_the_expected_pixels_and_depth():
    vertices, triangles = quad(-1, 1, -1, 1, z=5.0)
    result = render(vertices, triangles, FRONT, (32, 32), background=(1, 2, 3))
    expected = np.zeros((32, 32), bool)
    expected[6:26, 6:26] = True  # x in [6, 26] px; pixel centres 6.5 .. 25.5
    np.testing.assert_array_equal(result.mask, expected)
    assert np.all(result.depth[expected] == pytest.approx(50.0))
    assert np.all(np.isneginf(result.depth[~expected]))
    assert result.depth.dtype == np.float32
    assert set(np.unique(result.face_index[expected])) == {0, 1}
    assert np.all(result.face_index[~expected] == -1)
    assert np.all(result.image[~expected] == [1, 2, 3])
    assert np.all(result.image[expected] != [1, 2, 3])


def test_y_up_maps_to_the_top_rows():
    vertices, triangles = quad(-1, 1, 0, 1)  # upper half only
    mask = render(vertices, triangles, FRONT, (32, 32)).mask
    rows = np.flatnonzero(mask.any(axis=1))
    assert rows.min() == 6 and rows.max() == 15


def test_background_image_is_kept_and_not_modified():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    copy = photo.copy()
    result = render(*quad(-0.5, 0.5, -0.5, 0.5), FRONT, (32, 32), background=photo)
    np.testing.assert_array_equal(result.image[~result.mask], photo[~result.mask])
    np.testing.assert_array_equal(photo, copy)
    with pytest.raises(ValueError, match="background"):
        render(*quad(-1, 1, -1, 1), FRONT, (32, 32), background=photo[:16])


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_quad_wins_regardless_of_order(near_first):
    near_v, near_t = quad(-1, 0.5, -1, 0.5, z=2.0)
    far_v, far_t = quad(-0.5, 1, -0.5, 1, z=1.0, first=4)
    vertices = np.vstack([near_v, far_v])
    colors = np.repeat([[1.0, 0, 0], [0, 0, 1.0]], 4, axis=0)
    triangles = np.vstack([near_t, far_t] if near_first else [far_t, near_t])
    result = render(vertices, triangles, FRONT, (32, 32), colors=colors)
    overlap = (slice(11, 21), slice(11, 21))  # x, y in [-0.5, 0.5] mm
    assert np.all(result.depth[overlap] == pytest.approx(20.0))
    assert np.all(result.image[overlap][..., 0] > 150)
    assert np.all(result.image[overlap][..., 2] == 0)
    assert np.all(result.image[22:25, 22:25, 2] > 150)  # the far quad where it is not covered


def test_either_winding_renders_the_same():
    vertices, _ = uv_sphere(12, 24)
    _, triangles = uv_sphere(12, 24)
    pose = fit_pose(vertices, (48, 48), yaw=20, pitch=10)
    a = render(vertices, triangles, pose, (48, 48))
    b = render(vertices, triangles[:, ::-1], pose, (48, 48))
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.image, b.image)


def _tilted_plane(degrees):
    vertices, triangles = quad(-1, 1, -1, 1)
    return vertices @ rotation_matrix(yaw=degrees).T, triangles


def test_lambertian_intensity_follows_the_angle_to_the_light():
    light = Light(direction=(0.0, 0.0, 1.0), ambient=0.2, diffuse=0.8)
    gray = np.full((4, 3), 0.5)
    values = {}
    for degrees in (0.0, 60.0):
        vertices, triangles = _tilted_plane(degrees)
        result = render(vertices, triangles, FRONT, (32, 32), colors=gray, light=light)
        values[degrees] = result.image[16, 16].astype(float)
    # intensity = ambient + diffuse * cos(angle): 1.0 facing the light, 0.6 at 60 degrees.
    np.testing.assert_allclose(values[0.0], 0.5 * 1.0 * 255, atol=1)
    np.testing.assert_allclose(values[60.0], 0.5 * 0.6 * 255, atol=1)


def test_plane_facing_the_light_is_brighter_and_colours_scale():
    light = Light(direction=(1.0, 0.0, 1.0), ambient=0.1, diffuse=0.9)
    toward, away = _tilted_plane(40.0), _tilted_plane(-40.0)
    bright = render(*toward, FRONT, (32, 32), light=light).image[16, 16].astype(float)
    dark = render(*away, FRONT, (32, 32), light=light).image[16, 16].astype(float)
    assert np.all(bright > dark + 30)
    white = render(*toward, FRONT, (32, 32), colors=np.ones((4, 3)), light=light)
    half = render(*toward, FRONT, (32, 32), colors=np.full((4, 3), 0.5), light=light)
    np.testing.assert_allclose(half.image[white.mask], white.image[white.mask] / 2, atol=1)


def test_landmarks_visible_on_the_front_and_hidden_behind():
    vertices, triangles = uv_sphere()
    size = (64, 64)
    front = np.flatnonzero(vertices[:, 2] > 0.5)[:60]
    back = int(np.argmin(vertices[:, 2]))
    ids = np.full(68, -1)
    ids[: len(front)] = front
    ids[60] = back
    result = render(vertices, triangles, fit_pose(vertices, size), size, landmarks=ids)
    pts, vis = result.landmarks_2d, result.landmarks_visible
    assert pts.shape == (68, 2) and vis.shape == (68,)
    assert np.all(vis[: len(front)])
    cols, rows = pts[: len(front)].astype(int).T
    assert np.all(result.mask[rows, cols])
    assert not vis[60]  # far side of the sphere
    assert result.mask[int(pts[60, 1]), int(pts[60, 0])]
    assert np.all(np.isnan(pts[61:])) and not vis[61:].any()  # unmapped


def test_landmarks_outside_the_image_are_not_visible():
    vertices, triangles = uv_sphere()
    pose = fit_pose(vertices, (64, 64))
    pose[0, 3] += 25.0  # shift right so part of the sphere leaves the image
    ids = np.full(68, -1)
    ids[0] = int(np.argmax(vertices[:, 0] + vertices[:, 2]))  # front-right, now off-image
    ids[1] = int(np.argmax(vertices[:, 2]))  # front centre, still inside
    result = render(vertices, triangles, pose, (64, 64), landmarks=ids)
    assert result.landmarks_2d[0, 0] >= 64 and not result.landmarks_visible[0]
    assert result.landmarks_visible[1]


def test_vertex_normals_point_outwards_on_a_sphere():
    vertices, triangles = uv_sphere()
    normals = vertex_normals(vertices, triangles)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.all((normals * vertices).sum(axis=1) > 0.95)


def test_render_many_matches_single_renders():
    vertices, triangles = uv_sphere(8, 16)
    meshes = [vertices, vertices * 1.3]
    poses = [fit_pose(v, (24, 24), yaw=y) for v, y in zip(meshes, (0, 30), strict=True)]
    results = render_many(meshes, triangles, poses, (24, 24))
    for v, p, r in zip(meshes, poses, results, strict=True):
        np.testing.assert_array_equal(r.image, render(v, triangles, p, (24, 24)).image)
    with pytest.raises(ValueError, match="poses"):
        render_many(meshes, triangles, poses[:1], (24, 24))


def test_invalid_inputs_raise():
    vertices, triangles = quad(-1, 1, -1, 1)
    with pytest.raises(ValueError, match="vertex ids"):
        render(vertices, triangles + 2, FRONT, (32, 32))
    with pytest.raises(ValueError, match="colors"):
        render(vertices, triangles, FRONT, (32, 32), colors=np.ones((3, 3)))
    with pytest.raises(ValueError, match="direction"):
        Light(direction=(0.0, 0.0, 0.0))
