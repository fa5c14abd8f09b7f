"""Run a training stage in ``--nproc`` processes (dvc.yaml passes ``${distributed.nproc}``).

    python -m voice2mesh.train.launch --nproc N stages.<name> [the stage's arguments]

``N == 1``: the stage module runs in this very process, as ``python -m stages.<name>`` would
(``runpy``), so its outputs are exactly those of the plain command. ``N > 1``: this process
becomes ``torchrun --standalone --nproc-per-node N -m stages.<name> ...`` (``torchrun`` is
``torch.distributed.run`` of this interpreter, so the same environment runs every rank); each
rank joins the process group in ``training_device`` and trains its shard of every batch
(``train.distributed``). The exit status is the stage's (or torchrun's).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys


def torchrun_command(nproc: int, module: str, args: list[str]) -> list[str]:
    """The ``torchrun`` command line that runs ``module`` with ``args`` in ``nproc`` processes
    on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        module,
        *args,
    ]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """``--nproc``, the stage module and its arguments (everything after the module)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=1, help="training processes (>= 1)")
    parser.add_argument("module", help="the stage to run, e.g. stages.train_supervised")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the stage's own arguments")
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error(f"--nproc = {args.nproc}; it must be >= 1 (distributed.nproc in params)")
    if not args.module.startswith("stages."):
        parser.error(f"{args.module!r} is not a stage module: name one as stages.<name>")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.nproc == 1:
        sys.argv = [sys.argv[0], *args.args]
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        return
    command = torchrun_command(args.nproc, args.module, args.args)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
