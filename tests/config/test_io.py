import os
import stat

from voice2mesh.io import write_json, write_text


def test_atomic_writes_replace_and_get_normal_permissions(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    write_text(path, "one")
    write_text(path, "two")
    assert path.read_text() == "two"
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_json_is_sorted_and_deterministic(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1.5,\n    2\n  ],\n  "b": 1\n}\n'
