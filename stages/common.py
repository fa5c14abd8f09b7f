"""What every stage's command line shares: ``--params``, ``-q`` and logging set-up."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path


def stage_args(
    doc: str,
    argv: list[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parse ``--params PATH``, ``-q/--quiet`` (and ``extra``'s options); set up logging."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if extra is not None:
        extra(parser)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, warnings only"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s"
    )
    return args
