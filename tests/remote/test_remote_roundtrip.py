"""Sharing through a DVC remote: what one checkout pushes, a fresh clone pulls, and reruns nothing.

A tiny git + DVC project in `tmp_path` follows this repository's conventions (params sections
read through `${...}`, folder outputs, `cache: false` metrics, plots and reports committed to
git, a persisted resume state, /data/ and /models/ ignored, the repo's own .dvc/config). It goes
through README's "Sharing data and models" steps with a local-folder remote, and through
scripts/remote_roundtrip.py; the last test asks the same question of the real dvc.yaml.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "remote_roundtrip.py"
BIN = Path(sys.executable).parent  # the project's .venv/bin: its dvc, and python for the stages

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None, reason="git is not installed: the round trip clones a git repo"
)

PARAMS = {
    "seed": 3,
    "make": {"n_files": 3, "out": "data/raw"},
    "train": {"scale": 2, "out": "models/model.json", "resume_state": "models/resume/train"},
    "report": {"tables": "reports/tables.md"},
}
STEPS = {  # one thin script per stage, reading its own params section
    "make.py": """
        import pathlib, yaml
        p = yaml.safe_load(open("params.yaml"))
        out = pathlib.Path(p["make"]["out"]); out.mkdir(parents=True, exist_ok=True)
        for k in range(p["make"]["n_files"]):
            (out / f"shard_{k}.txt").write_text(f"{p['seed'] * 100 + k}\\n")
        """,
    "train.py": """
        import json, pathlib, yaml
        p = yaml.safe_load(open("params.yaml"))["train"]
        raw = sorted(pathlib.Path("data/raw").glob("*.txt"))
        total = p["scale"] * sum(int(f.read_text()) for f in raw)
        model = pathlib.Path(p["out"]); model.parent.mkdir(parents=True, exist_ok=True)
        model.write_text(json.dumps({"weights": total}))
        state = pathlib.Path(p["resume_state"]); state.mkdir(parents=True, exist_ok=True)
        (state / "seed_0.txt").write_text(f"step 10, weights {total}\\n")
        pathlib.Path("metrics").mkdir(exist_ok=True)
        pathlib.Path("metrics/train.json").write_text(json.dumps({"total": total}))
        pathlib.Path("reports/plots").mkdir(parents=True, exist_ok=True)
        pathlib.Path("reports/plots/train.csv").write_text(f"step,loss\\n10,{1 / total}\\n")
        """,
    "report.py": """
        import json, pathlib, yaml
        p = yaml.safe_load(open("params.yaml"))["report"]
        total = json.loads(pathlib.Path("metrics/train.json").read_text())["total"]
        pathlib.Path(p["tables"]).write_text(f"| total |\\n|---|\\n| {total} |\\n")
        """,
}


def pipeline(persisted: dict) -> dict:
    """make -> train -> report, with `persisted` as the resume state's declaration."""
    committed = {"cache": False}
    return {
        "stages": {
            "make": {
                "cmd": "python steps/make.py",
                "deps": ["steps/make.py"],
                "params": ["seed", "make"],
                "outs": ["${make.out}"],
            },
            "train": {
                "cmd": "python steps/train.py",
                "deps": ["steps/train.py", "${make.out}"],
                "params": ["train"],
                "outs": ["${train.out}", {"${train.resume_state}": persisted}],
                "metrics": [{"metrics/train.json": committed}],
                "plots": [{"reports/plots/train.csv": committed}],
            },
            "report": {
                "cmd": "python steps/report.py",
                "deps": ["steps/report.py", "${train.out}", "metrics/train.json"],
                "params": ["report"],
                "outs": [{"${report.tables}": committed}],
            },
        }
    }


def sh(*cmd: str | Path, cwd: Path) -> str:
    """Run a command in `cwd`; its stdout, failing the test with its output when it fails."""
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def load_script():
    """scripts/remote_roundtrip.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("remote_roundtrip", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["remote_roundtrip"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


script = load_script()


@pytest.fixture(scope="module", autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The venv's dvc and python first on PATH; no user or system git/DVC config read."""
    home = tmp_path_factory.mktemp("dvc-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", f"{BIN}:/usr/bin:/bin")
        env.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in ("DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR", "DVC_SITE_CACHE_DIR"):
            env.setenv(name, str(home / name.lower()))
        env.setenv("DVC_NO_ANALYTICS", "1")
        yield


def make_project(where: Path, persisted: dict) -> Path:
    """Build, `dvc repro` and commit the tiny project in `where`."""
    where.mkdir()
    sh("git", "init", "--quiet", cwd=where)
    sh("git", "config", "user.name", "Round Trip", cwd=where)
    sh("git", "config", "user.email", "roundtrip@example.org", cwd=where)
    sh("dvc", "init", "--quiet", cwd=where)
    shutil.copyfile(ROOT / ".dvc" / "config", where / ".dvc" / "config")
    (where / ".gitignore").write_text("/data/\n/models/\n")
    (where / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    (where / "dvc.yaml").write_text(yaml.safe_dump(pipeline(persisted), sort_keys=False))
    (where / "steps").mkdir()
    for name, body in STEPS.items():
        lines = [line[8:] for line in body.strip("\n").splitlines()]
        (where / "steps" / name).write_text("\n".join(lines) + "\n")
    sh("dvc", "repro", "--quiet", cwd=where)
    sh("git", "add", "--all", cwd=where)
    sh("git", "commit", "--quiet", "-m", "pipeline run", cwd=where)
    return where


def files(root: Path) -> dict[str, bytes]:
    """Every output and committed result under `root`, by relative path."""
    found = {}
    for top in ("data", "models", "metrics", "reports"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project with a shared (cached) persisted output, run and committed once."""
    return make_project(tmp_path_factory.mktemp("built") / "project", persisted={"persist": True})


def copy_of(project: Path, where: Path) -> Path:
    """A copy of a built project (git history, DVC cache and outputs) at `where`."""
    shutil.copytree(project, where, symlinks=True)
    return where


def run_script(repo: Path, work: Path, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """The script's main() on `repo`, keeping `work`: (exit status, stdout, stderr)."""
    code = script.main(["--repo", str(repo), "--work", str(work), "--keep"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_readme_steps_bring_every_output_to_a_fresh_clone(built: Path, tmp_path: Path) -> None:
    """`dvc remote add -d` + commit + `dvc push`; a collaborator clones, `dvc pull`s, and has
    the same files, a clean `dvc status` and a `dvc repro` that runs nothing."""
    source = copy_of(built, tmp_path / "source")
    store = tmp_path / "shared" / "voice2mesh-dvc"
    sh("dvc", "remote", "add", "--default", "shared", store, cwd=source)
    sh("git", "commit", "--quiet", "-am", "the team's remote", cwd=source)
    sh("dvc", "push", cwd=source)

    clone = tmp_path / "collaborator"
    sh("git", "clone", "--quiet", source, clone, cwd=tmp_path)
    assert not (clone / "data").exists() and not (clone / "models").exists()
    sh("dvc", "pull", cwd=clone)

    assert json.loads(sh("dvc", "status", "--json", cwd=clone)) == {}
    repro = sh("dvc", "repro", cwd=clone)
    assert "Running stage" not in repro and repro.count("didn't change, skipping") == 3, repro
    assert sh("git", "status", "--porcelain", cwd=clone) == ""  # dvc.lock untouched
    original = files(source)
    assert "models/resume/train/seed_0.txt" in original and "data/raw/shard_2.txt" in original
    assert files(clone) == original


def test_the_script_finds_a_clean_round_trip_and_leaves_the_config_alone(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = copy_of(built, tmp_path / "source")
    config = (source / ".dvc" / "config").read_text()

    code, out, err = run_script(source, tmp_path / "work", capsys)

    assert code == 0, out + err
    assert out.startswith("round trip clean")
    assert files(tmp_path / "work" / "clone") == files(source)
    assert (source / ".dvc" / "config").read_text() == config
    assert not (source / ".dvc" / "config.local").exists()  # the temporary remote is gone


def test_the_script_names_what_a_clone_lacks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A `persist: true, cache: false` output is in neither git nor the remote: the clone's
    `dvc status` lists it deleted and `dvc repro` would rerun its stage. (This is why the real
    dvc.yaml declares no resume state as an output.)"""
    source = make_project(tmp_path / "source", persisted={"persist": True, "cache": False})

    code, out, err = run_script(source, tmp_path / "work", capsys)

    assert code == 1, out + err
    report = out.splitlines()
    assert "  not shared (cache: false, ignored by git): models/resume/train" in report
    assert '  dvc status: train: [{"changed outs": {"models/resume/train": "deleted"}}]' in report
    assert [line for line in report if "would run" in line] == ["  dvc repro would run: train"]


def test_the_script_refuses_a_checkout_with_stale_outputs(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = copy_of(built, tmp_path / "source")
    (source / "data" / "raw" / "shard_0.txt").write_text("edited\n")

    code, _, err = run_script(source, tmp_path / "work", capsys)

    assert code == 2
    assert "outputs differ from dvc.lock (make, train)" in err and "run `dvc repro`" in err
    assert not (tmp_path / "work" / "clone").exists()


def test_a_clone_of_the_real_pipeline_lacks_no_output() -> None:
    """Every `cache: false` output of dvc.yaml and studies/coupling/dvc.yaml is committed to
    git, and every other output is cached, so `dvc push` carries it: a pulled clone lacks
    nothing (the resume states and the GE2E cache are not outputs)."""
    with Repo(str(ROOT)) as repo:
        assert not [o for o in repo.index.outs if o.persist]
    assert script.unshared_outputs(ROOT) == []
