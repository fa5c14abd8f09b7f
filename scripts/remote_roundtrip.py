"""Check that a DVC remote carries this project to a collaborator: push, clone, pull, rerun nothing.

Run it in a checkout whose outputs match its committed dvc.lock (after `dvc repro` or
`dvc pull`, everything committed):

    .venv/bin/python scripts/remote_roundtrip.py [--repo .] [--work DIR --keep] [--pipeline F]

What it does, as README's "Sharing data and models" section tells a team to:
1. lists the outputs that neither git nor a remote carries: `cache: false` in dvc.yaml (so
   `dvc push` skips them) *and* ignored by git. A fresh clone lacks them, `dvc status` lists
   them as deleted and `dvc repro` reruns their stages;
2. `dvc push`es to a temporary local-folder remote (added to `.dvc/config.local` for the push
   and removed after; the committed `.dvc/config` is never touched);
3. `git clone`s the repository's HEAD into a second folder and `dvc pull`s there;
4. checks that `dvc status` is clean, `dvc repro --dry` would run no stage and the pull left
   git's tracked files as they were.

Steps 2-4 call DVC's Python API (`dvc.repo.Repo`: the code behind `dvc status`, `push`, `pull`
and `repro --dry`, at the version requirements.lock pins) in this one process: a dozen `dvc`
commands would spend most of their time starting up.

Exit status 0 when the round trip is clean, 1 with what is not, 2 when the checkout is not
ready (uncommitted changes, outputs out of date). It copies every cached output twice (remote,
clone): about 1.7 GB for the default pipeline, under --work (a temporary folder, deleted unless
--keep).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo

REMOTE_NAME = "roundtrip"  # the temporary remote's name, in config.local files only


class RoundTripError(RuntimeError):
    """A command failed, or the checkout is not ready for the round trip."""


@dataclass(frozen=True)
class RoundTrip:
    """What a fresh clone sees after `dvc pull`.

    Attributes:
        unshared: outputs neither git nor the remote carries (repo-relative paths).
        status: what `dvc status --json` prints in the clone ({} when clean).
        would_run: stages `dvc repro --dry` would run in the clone.
        git_changes: `git status --porcelain` lines in the clone after the pull.
    """

    unshared: list[str]
    status: dict
    would_run: list[str]
    git_changes: list[str]

    @property
    def clean(self) -> bool:
        return not (self.status or self.would_run or self.git_changes)


@contextmanager
def dvc_repo(path: Path) -> Iterator[Repo]:
    """The DVC repository at `path`, entered as `dvc` runs (from its root: parts of DVC resolve
    paths against the working directory), with its progress lines ("Running stage") hushed."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with chdir(path), Repo(str(path)) as repo:
            yield repo
    finally:
        logger.setLevel(level)


def git(*args: str, cwd: Path) -> str:
    """`git args` in `cwd`; its stdout, or a RoundTripError naming the command and its stderr."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RoundTripError(f"`git {' '.join(args)}` in {cwd} failed:\n{done.stderr}")
    return done.stdout


def unshared_outputs(root: Path) -> list[str]:
    """Outputs of every dvc.yaml under `root` that are `cache: false` and ignored by git."""
    with dvc_repo(root) as repo:
        paths = [
            Path(out.fs_path).relative_to(root).as_posix()
            for out in repo.index.outs
            if not out.use_cache
        ]
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"],  # "ignored" only for untracked paths
        cwd=root,
        input="".join(f"{path}\n" for path in paths),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: none of them is ignored
        raise RoundTripError(f"`git check-ignore` in {root} failed:\n{done.stderr}")
    return sorted(done.stdout.split())


def check_ready(root: Path, targets: list[str] | None = None) -> None:
    """The clone gets HEAD: tracked files must be committed and outputs match dvc.lock
    (``targets``: those pipeline files only; None: all)."""
    if git("status", "--porcelain", "--untracked-files=no", cwd=root).strip():
        raise RoundTripError("uncommitted changes: commit them (a clone gets HEAD)")
    with dvc_repo(root) as repo:
        status = repo.status(targets=targets)
    if status:
        raise RoundTripError(
            f"outputs differ from dvc.lock ({', '.join(status)}): "
            "run `dvc repro` (or `dvc checkout`) and commit dvc.lock first"
        )


def push(root: Path, remote: Path, targets: list[str] | None = None) -> None:
    """`dvc push` to `remote` through a remote in .dvc/config.local, restored afterwards."""
    local = root / ".dvc" / "config.local"
    before = local.read_text() if local.is_file() else None
    try:
        with dvc_repo(root) as repo:
            with repo.config.edit("local") as conf:
                conf["remote"][REMOTE_NAME] = {"url": str(remote)}
            repo.push(targets=targets, remote=REMOTE_NAME)
    finally:
        if before is None:
            local.unlink(missing_ok=True)
        else:
            local.write_text(before)


def clone_and_pull(
    root: Path, remote: Path, clone: Path, targets: list[str] | None = None
) -> RoundTrip:
    """Clone `root`'s HEAD into `clone`, pull from `remote` and say what is left to do."""
    head = git("rev-parse", "HEAD", cwd=root).strip()
    git("clone", "--quiet", str(root), str(clone), cwd=root)
    git("checkout", "--quiet", head, cwd=clone)
    with dvc_repo(clone) as repo:
        with repo.config.edit("local") as conf:  # what `dvc remote add --local -d` writes
            conf["remote"][REMOTE_NAME] = {"url": str(remote)}
            conf["core"]["remote"] = REMOTE_NAME
        repo.pull(targets=targets)
    with dvc_repo(clone) as repo:  # afresh: the state after the pull
        status = repo.status(targets=targets)
        runs = repo.reproduce(targets, dry=True) if targets else repo.reproduce(dry=True)
        would_run = [stage.addressing for stage in runs]
    return RoundTrip(
        unshared=unshared_outputs(root),
        status=status,
        would_run=would_run,
        git_changes=git("status", "--porcelain", cwd=clone).splitlines(),
    )


def round_trip(root: Path, work: Path, targets: list[str] | None = None) -> RoundTrip:
    """Push `root`'s outputs to `work`/remote, clone into `work`/clone, pull, report
    (``targets``: those pipeline files only)."""
    check_ready(root, targets)
    remote, clone = work / "remote", work / "clone"
    remote.mkdir(parents=True)
    push(root, remote, targets)
    return clone_and_pull(root, remote, clone, targets)


def describe(result: RoundTrip) -> str:
    """A short report: clean, or what a collaborator's fresh clone would still have to do."""
    if result.clean:
        return "round trip clean: `dvc status` reports nothing and `dvc repro` runs no stage"
    lines = ["round trip NOT clean:"]
    lines += [f"  not shared (cache: false, ignored by git): {p}" for p in result.unshared]
    lines += [f"  dvc status: {stage}: {json.dumps(c)}" for stage, c in result.status.items()]
    lines += [f"  dvc repro would run: {stage}" for stage in result.would_run]
    lines += [f"  git changed by the pull: {line}" for line in result.git_changes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the checkout to share")
    parser.add_argument("--work", type=Path, help="empty folder for the remote and the clone")
    parser.add_argument("--keep", action="store_true", help="keep --work (remote and clone)")
    parser.add_argument(
        "--pipeline",
        action="append",
        help="only this pipeline file (e.g. dvc.yaml; repeatable); default: every one",
    )
    args = parser.parse_args(argv)
    if args.work and args.work.exists() and any(args.work.iterdir()):
        print(f"--work {args.work} is not empty: give an empty or new folder", file=sys.stderr)
        return 2
    root = args.repo.resolve()
    work = (args.work or Path(tempfile.mkdtemp(prefix="remote-roundtrip-"))).resolve()
    try:
        result = round_trip(root, work, args.pipeline)
    except (RoundTripError, DvcException) as error:  # e.g. not a DVC repo, a missing cache file
        print(f"remote round trip of {root}: {error}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(describe(result))
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
