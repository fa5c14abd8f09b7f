"""Every command the README shows is one this project accepts.

``make repro`` is what CI's reproduce workflow runs and ``make test`` what ``.ci/run`` runs;
the others are checked here without running them: Make targets exist, ``dvc exp run -S`` keys
are params, ``voice2mesh`` command lines parse.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from voice2mesh.cli import build_parser
from voice2mesh.config import Params

ROOT = Path(__file__).resolve().parents[1]
DVC_COMMANDS = {("repro",), ("exp", "run"), ("metrics", "diff"), ("plots", "show")}


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line]


def _has_param(dotted: str) -> bool:
    node: object = Params()
    for part in dotted.split("."):
        if dataclasses.is_dataclass(node) and part in {f.name for f in dataclasses.fields(node)}:
            node = getattr(node, part)
        else:
            return False
    return True


def test_the_readme_shows_both_entry_commands() -> None:
    commands = readme_commands()
    assert ["make", "repro"] in commands and ["make", "test"] in commands
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_command_is_valid(argv: list[str]) -> None:
    tool = Path(argv[0]).name
    if tool == "make":
        targets = re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), flags=re.M)
        assert argv[1] in targets
    elif tool == "dvc":
        assert tuple(argv[1:3]) in DVC_COMMANDS or tuple(argv[1:2]) in DVC_COMMANDS, argv
        for k, flag in enumerate(argv):
            if flag == "-S":
                key = argv[k + 1].split("=")[0]
                assert _has_param(key), f"README sets unknown param {key}"
    elif tool == "voice2mesh":
        build_parser().parse_args(argv[1:])  # exits (SystemExit) on a bad command line
    else:
        pytest.fail(f"README command {argv} is not checked by any test")
