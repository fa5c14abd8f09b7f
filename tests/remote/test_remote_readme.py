"""README's "Sharing data and models: a DVC remote" shows command lines DVC accepts, and the
repository itself names no remote (each team adds its own; test_remote_roundtrip.py runs the
steps against a local-folder remote)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_section_commands() -> list[tuple[list[str], str]]:
    """(argv, comment) of each line in the README section's code blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Sharing data and models: a DVC remote")
    section = text[start : text.index("\n## ", start + 1)]
    lines = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.splitlines()
    ]
    assert lines, "README's sharing section has no ```sh block"
    return [(shlex.split(line.split("#")[0]), line.partition("#")[2]) for line in lines]


def test_the_readme_section_shows_valid_commands_and_no_remote_is_committed() -> None:
    """DVC's own parser accepts every dvc line; `remote modify` options are real options of
    S3/GCS/SSH remotes; each remote's plugin is named; the repo itself names no remote."""
    from dvc.cli.parser import get_main_parser
    from dvc.config_schema import REMOTE_SCHEMAS

    plugins = {"s3": "dvc-s3", "gs": "dvc-gs", "ssh": "dvc-ssh"}
    targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    for argv, comment in readme_section_commands():
        tool = argv[0]
        if tool == ".venv/bin/dvc":
            get_main_parser().parse_args(argv[1:])  # raises DvcParserError on a bad command line
            if argv[1:3] == ["remote", "add"]:
                scheme = argv[-1].split("://")[0] if "://" in argv[-1] else None
                assert scheme is None or plugins[scheme] in comment, argv
            if argv[1:3] == ["remote", "modify"]:
                option = argv[-2]
                assert any(option in REMOTE_SCHEMAS[s] for s in plugins), f"no option {option}"
        elif tool == ".venv/bin/pip":
            assert argv[1] == "install" and set(argv[2:]) <= set(plugins.values()), argv
        elif tool == "make":
            assert argv[1] in targets, argv
        else:
            pytest.fail(f"README sharing command {argv} is not checked here")
    assert "remote" not in (ROOT / ".dvc" / "config").read_text()  # users choose their own
    assert "/config.local" in (ROOT / ".dvc" / ".gitignore").read_text().split()
