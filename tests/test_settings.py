"""Named settings (voice2mesh.settings): checked against params.yaml, turned into dvc exp run -S."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice2mesh.config import ConfigError
from voice2mesh.settings import exp_run_args, main, overrides, read_setting

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_gates_setting_is_valid_and_changes_what_it_says() -> None:
    setting = overrides(read_setting(ROOT / "settings/gates.yaml"), ROOT / "params.yaml")
    assert setting["gan.iterations"] == 1000 and setting["kd.student_input"] == 120
    args = exp_run_args(setting)
    assert args[:2] == ["-S", "gan.iterations=1000"] and len(args) == 2 * len(setting)


def test_lists_and_strings_are_passed_in_flow_style() -> None:
    assert exp_run_args({"gan.betas": [0.5, 0.9], "kd.method": "rkd"}) == [
        "-S",
        "gan.betas=[0.5, 0.9]",
        "-S",
        'kd.method="rkd"',
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gan.nope: 1\n", "no such key"),
        ("nosection.x: 1\n", "no such key"),
        ("gan.iterations: -3\n", ">= 1"),
        ("- gan.iterations\n", "maps dotted params keys"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        overrides(read_setting(path), ROOT / "params.yaml")


def test_main_prints_the_arguments(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    main(["settings/gates.yaml"])
    assert capsys.readouterr().out.startswith("-S gan.iterations=1000 -S gan.probe_steps=1500")
