"""Every dvc.yaml stage's deps cover the project code its cmd runs (see ``stage_deps``)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path, PurePosixPath

import pytest
from stage_deps import (
    ROOT,
    ImportGraph,
    check,
    format_findings,
    missing_code_deps,
    read_stages,
)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _paths(*names: str) -> set[PurePosixPath]:
    return {PurePosixPath(n) for n in names}


def test_graph_follows_every_import_form(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg import util\n",
            "pkg/util.py": "import numpy\n",
            "pkg/main.py": """
                import importlib
                import os
                import other.thing
                from . import sibling
                from .sub import helper
                from pkg.sub import deep
                from pkg import cycle_a


                def lazy():
                    import pkg.nested.inner.leaf
                    return importlib.import_module("pkg.dynamic")
            """,
            "pkg/sibling.py": "X = 1\n",
            "pkg/sub/__init__.py": "def helper():\n    return 1\n",
            "pkg/sub/deep.py": "from .. import via_parent\n",
            "pkg/via_parent.py": "Y = 2\n",
            "pkg/cycle_a.py": "from pkg import cycle_b\n",
            "pkg/cycle_b.py": "from pkg import cycle_a\n",
            "pkg/nested/__init__.py": "Z = 3\n",
            "pkg/nested/inner/__init__.py": "",
            "pkg/nested/inner/leaf.py": "W = 4\n",
            "pkg/dynamic.py": "V = 5\n",
            "pkg/unused.py": "U = 6\n",
            "other/thing.py": "import pkg.unused\n",  # outside `packages`: not followed
        },
    )
    files = ImportGraph(tmp_path, packages=["pkg"]).files_run_by(["pkg.main"])
    assert files == _paths(
        "pkg/__init__.py",
        "pkg/util.py",
        "pkg/main.py",
        "pkg/sibling.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
        "pkg/via_parent.py",
        "pkg/cycle_a.py",
        "pkg/cycle_b.py",
        "pkg/nested/__init__.py",
        "pkg/nested/inner/__init__.py",
        "pkg/nested/inner/leaf.py",
        "pkg/dynamic.py",
    )


def test_relative_import_above_the_top_package_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/mod.py": "X = 1\nfrom .. import y\n"})
    with pytest.raises(ValueError, match=r"mod\.py:2: relative import goes above"):
        ImportGraph(tmp_path, packages=["pkg"]).files_run_by(["pkg.mod"])


def test_docstring_only_files_run_no_code(tmp_path: Path) -> None:
    _write(
        tmp_path, {"a.py": '"""Only a docstring."""\n', "b.py": "", "c.py": '"""Doc."""\nX = 1\n'}
    )
    graph = ImportGraph(tmp_path)
    assert [graph.runs_code(PurePosixPath(n)) for n in ("a.py", "b.py", "c.py")] == [
        False,
        False,
        True,
    ]


TINY_REPO = {
    "stages/__init__.py": "",
    "stages/a.py": "import lib.core\nimport lib.extra.one\n",
    "stages/b.py": "import lib.core\n",
    "stages/c.py": "from lib.extra import one, two\n",
    "stages/d.py": "from lib.extra import one, two\n",
    "lib/__init__.py": '"""Docstring only: needs no dep."""\n',
    "lib/core.py": "X = 1\n",
    "lib/extra/__init__.py": "",
    "lib/extra/one.py": "X = 1\n",
    "lib/extra/two.py": "X = 2\n",
    "lib/extra/three.py": "X = 3\n",
    "dvc.yaml": """
        stages:
          a:
            cmd: python -m stages.a --flag
            deps: &shared
              - stages/a.py
              - lib/core.py
              - ${data.root}
          b:
            foreach: [x, y]
            do:
              cmd: python -m stages.b --item ${item}
              deps: *shared
          c:
            cmd: python stages/c.py
            deps: [stages/c.py, lib/]
          d:
            cmd: python -m stages.d
            deps: [stages/d.py, lib/extra/one.py, lib/gone.py]
    """,
}


def test_check_lists_uncovered_files_and_the_deps_to_add(tmp_path: Path) -> None:
    _write(tmp_path, TINY_REPO)
    findings = {f.stage: f for f in check(tmp_path, packages=["lib", "stages"])}
    assert set(findings) == {"a", "b", "d"}  # c: a folder dep covers everything below it
    assert findings["a"].add == {"lib/extra/one.py": [PurePosixPath("lib/extra/one.py")]}
    assert findings["b"].add == {"stages/b.py": [PurePosixPath("stages/b.py")]}
    # d reaches 2 of lib/extra's 3 code files: the whole package, replacing the file dep
    assert findings["d"].add == {"lib/extra": [PurePosixPath("lib/extra/two.py")]}
    assert findings["d"].drop == ("lib/extra/one.py",)
    report = format_findings(findings.values())
    assert "      - lib/extra  # two.py" in report
    assert "drop (now covered): lib/extra/one.py" in report
    assert missing_code_deps(tmp_path, packages=["lib", "stages"]) == ["d: lib/gone.py"]


def test_a_module_name_built_from_item_is_refused(tmp_path: Path) -> None:
    dvc_yaml = "stages:\n  s:\n    foreach: [a]\n    do:\n      cmd: python -m stages.${item}\n"
    _write(tmp_path, {"dvc.yaml": dvc_yaml})
    with pytest.raises(ValueError, match=re.escape("stage 's' runs 'stages.${item}'")):
        read_stages(tmp_path / "dvc.yaml")


def test_every_stage_cmd_names_code_the_check_can_follow() -> None:
    silent = [stage.name for stage in read_stages(ROOT / "dvc.yaml") if not stage.modules]
    assert not silent, f"no `python -m <module>` or `<file>.py` in the cmd of stages {silent}"


def test_every_code_dep_exists() -> None:
    stale = missing_code_deps()
    assert not stale, "dvc.yaml lists code deps that do not exist:\n  " + "\n  ".join(stale)


def test_every_stage_deps_cover_the_code_it_runs() -> None:
    findings = check()
    assert not findings, (
        "dvc.yaml deps miss project files their stage runs (DVC would not rerun the stage when "
        "they change); rerun `python tests/stages/stage_deps.py` after editing:\n"
        + format_findings(findings)
    )
