"""Tests for voice2mesh.render.draw: landmark markers, overlays, grids and PNG saving."""

import numpy as np
import pytest
from PIL import Image

from voice2mesh.render.camera import pose_matrix
from voice2mesh.render.draw import draw_landmarks, image_grid, overlay, save_png
from voice2mesh.render.rasterize import render

GREEN, RED = (0, 255, 0), (255, 0, 0)


def test_visible_points_are_filled_and_hidden_points_hollow():
    image = np.zeros((40, 40, 3), np.uint8)
    points = np.array([[10.5, 10.5], [30.5, 30.5], [np.nan, np.nan]])
    out = draw_landmarks(
        image,
        points,
        visible=np.array([True, False, True]),
        color=GREEN,
        radius=3,
        hidden_color=RED,
    )
    assert not image.any()  # input untouched
    assert tuple(out[10, 10]) == GREEN and tuple(out[10, 13]) == GREEN
    assert tuple(out[10, 14]) == (0, 0, 0)  # outside the radius
    assert tuple(out[30, 30]) == (0, 0, 0)  # hollow centre
    assert tuple(out[30, 33]) == RED and tuple(out[27, 30]) == RED
    painted = out.any(axis=2)
    assert painted[:20, :20].sum() == np.count_nonzero(
        np.hypot(*np.meshgrid(np.arange(40) - 10, np.arange(40) - 10)) <= 3
    )


def test_points_near_the_border_are_clipped_and_grayscale_is_promoted():
    out = draw_landmarks(np.zeros((8, 8), np.uint8), np.array([[0.2, 7.9]]), radius=2)
    assert out.shape == (8, 8, 3)
    assert out[7, 0].any()


def test_overlay_blends_inside_the_mask_only():
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64)
    result = render(
        vertices, np.array([[0, 1, 2], [0, 2, 3]]), pose_matrix(5.0, np.eye(3), 10, 10), (20, 20)
    )
    photo = np.full((20, 20, 3), 100, np.uint8)
    out = overlay(photo, result, alpha=0.5)
    np.testing.assert_array_equal(out[~result.mask], photo[~result.mask])
    expected = np.round(0.5 * result.image[result.mask] + 50)
    np.testing.assert_allclose(out[result.mask], expected, atol=1)
    with pytest.raises(ValueError, match="does not match"):
        overlay(photo[:10], result)


def test_image_grid_layout():
    a = np.full((10, 20, 3), 10, np.uint8)
    b = np.full((6, 8), 200, np.uint8)
    grid = image_grid([[a, b], [None, a]], pad=2, background=255)
    assert grid.shape == (2 + 10 + 2 + 10 + 2, 2 + 20 + 2 + 20 + 2, 3)
    np.testing.assert_array_equal(grid[2:12, 2:22], a)
    np.testing.assert_array_equal(grid[4:10, 30:38], 200)  # b centred in its 10 x 20 cell
    assert np.all(grid[14:24, 2:22] == 255)  # empty cell


def test_image_grid_labels_add_margins_with_text():
    a = np.full((16, 16, 3), 255, np.uint8)
    plain = image_grid([[a, a]], pad=2)
    labelled = image_grid([[a, a]], pad=2, row_labels=["row"], col_labels=["one", "two"])
    assert labelled.shape[0] > plain.shape[0] and labelled.shape[1] > plain.shape[1]
    assert (labelled < 128).any()  # dark text on the white background
    with pytest.raises(ValueError, match="col_labels"):
        image_grid([[a, a]], col_labels=["only one"])


def test_save_png_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    path = save_png(tmp_path / "out" / "x.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
