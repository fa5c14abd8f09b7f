import numpy as np
import pytest

from voice2mesh.data.pts import PtsError, read_pts, write_pts


def test_round_trip(tmp_path):
    points = np.random.default_rng(0).uniform(0, 128, size=(68, 2))
    write_pts(tmp_path / "a.pts", points)
    text = (tmp_path / "a.pts").read_text()
    assert text.startswith("version: 1\nn_points: 68\n{\n")
    assert np.allclose(read_pts(tmp_path / "a.pts"), points, atol=1e-3)


def test_one_based_convention(tmp_path):
    write_pts(tmp_path / "a.pts", np.array([[0.5, 0.5]]))
    assert "1.000 1.000" in (tmp_path / "a.pts").read_text()


def test_real_annotation(assets_dir):
    points = read_pts(assets_dir / "images" / "image_0010.pts")
    assert points.shape == (68, 2)
    assert (points[:, 0] > 0).all() and (points[:, 0] < 1280).all()
    assert (points[:, 1] > 0).all() and (points[:, 1] < 1024).all()
    # Anatomy in image coordinates: the chin (8) is below the nose tip (30), below the eyes.
    assert points[8, 1] > points[30, 1] > points[[36, 45], 1].max()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n}\n", "2 points, expected 68"),
        ("version: 1\nn_points: 3\n{\n1 2\n}\n", "n_points 3 but 1"),
        ("version: 1\n{\n1 x\n}\n", r"a\.pts:3: expected two numbers"),
        ("version: 1\nn_points: 68\n", "no point block"),
        ("garbage\n{\n}\n", r"a\.pts:1"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, match):
    (tmp_path / "a.pts").write_text(text)
    with pytest.raises(PtsError, match=match):
        read_pts(tmp_path / "a.pts")
