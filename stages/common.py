"""What every stage's command line shares: ``--params``, ``-q`` and logging set-up."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def stage_args(doc: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``--params PATH`` and ``-q/--quiet`` and configure logging accordingly."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, warnings only"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s"
    )
    return args
