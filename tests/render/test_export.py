"""Tests for voice2mesh.render.export: OBJ/PLY round trips that keep vertex order."""

import numpy as np
import pytest
import trimesh

from voice2mesh.render.export import export_mesh, load_mesh


def random_mesh(seed=0, n=40, f=60):
    rng = np.random.default_rng(seed)
    vertices = rng.normal(scale=50.0, size=(n, 3))
    triangles = np.stack([rng.permutation(n)[:3] for _ in range(f)])
    triangles[0] = [0, n - 1, 1]  # touch the first and last vertices
    return vertices, triangles


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".OBJ", ".Ply"])
def test_round_trip_keeps_vertices_and_faces(tmp_path, suffix):
    vertices, triangles = random_mesh()
    path = export_mesh(tmp_path / "sub" / f"face{suffix}", vertices, triangles)
    assert path.is_file()
    loaded_v, loaded_t = load_mesh(path)
    np.testing.assert_allclose(loaded_v, vertices, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(loaded_t, triangles)
    assert loaded_t.dtype == np.int64
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_vertex_colors_are_written(tmp_path, suffix):
    vertices, triangles = random_mesh(1)
    colors = np.random.default_rng(2).uniform(size=(len(vertices), 3))
    path = export_mesh(tmp_path / f"colored{suffix}", vertices, triangles, colors=colors)
    mesh = trimesh.load(path, process=False, force="mesh")
    np.testing.assert_allclose(mesh.visual.vertex_colors[:, :3], np.round(colors * 255), atol=1)
    np.testing.assert_array_equal(load_mesh(path)[1], triangles)


def test_export_overwrites_existing_file(tmp_path):
    path = tmp_path / "face.ply"
    export_mesh(path, *random_mesh(3))
    vertices, triangles = random_mesh(4)
    export_mesh(path, vertices, triangles)
    np.testing.assert_allclose(load_mesh(path)[0], vertices, rtol=1e-6, atol=1e-5)


def test_unknown_suffix_raises_with_path_and_supported_suffixes(tmp_path):
    path = tmp_path / "face.stl"
    with pytest.raises(ValueError, match=r"face\.stl.*\.obj.*\.ply"):
        export_mesh(path, *random_mesh())
    assert not path.exists()
    with pytest.raises(ValueError, match=r"\.obj, \.ply"):
        load_mesh(path)


def test_bad_shapes_and_missing_file_raise(tmp_path):
    vertices, triangles = random_mesh()
    with pytest.raises(ValueError, match="vertices"):
        export_mesh(tmp_path / "a.obj", vertices[:, :2], triangles)
    with pytest.raises(ValueError, match="colors"):
        export_mesh(tmp_path / "a.obj", vertices, triangles, colors=np.ones((3, 3)))
    with pytest.raises(FileNotFoundError, match=r"missing\.obj"):
        load_mesh(tmp_path / "missing.obj")
