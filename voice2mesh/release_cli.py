"""``voice2mesh import-release ROOT --out DIR``: the authors' Voxceleb-3D release as this
project's manifest, features and fits (``voice2mesh.release``).

This module sits beside ``cli.py``, not in ``release/``, as ``detect_cli.py`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LAYOUT = (
    "ROOT holds vox1_meta.csv, a voice folder (fbank/ or preprocessed_MFCC/: "
    "<speaker>/<video>/<utt>.npy, (T, 64) normalised fbank) and face folders "
    "(<folder>/<VGGFace1 ID>/<stem>.npy: 199 BFM shape + 29 expression parameters, photo "
    "<stem>.jpg beside it). DIR gets manifest/, features/, fits/ (when there are faces), "
    "rejects.csv and import.json. Speaker folders are VoxCeleb1 IDs, VGGFace1 IDs or --alias."
)


def _alias(text: str) -> tuple[str, str]:
    """``FOLDER=NAME`` -> (folder, name)."""
    folder, sep, name = text.partition("=")
    if not sep or not folder or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not FOLDER=VGGFace1_ID")
    return folder, name


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must lie in [0, 1)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def add_import_parser(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Register ``import-release`` on the ``voice2mesh`` sub-command set."""
    cmd = commands.add_parser(
        "import-release",
        help="the authors' Voxceleb-3D release as manifest, features and fits",
        parents=[common],
        description="Import the Voxceleb-3D release (fbank .npy, 3DMM parameters).",
        epilog=LAYOUT,
    )
    cmd.add_argument("root", type=Path, help="the unpacked release")
    cmd.add_argument("--out", type=Path, required=True, help="output folder (replaced whole)")
    cmd.add_argument("--voices", default=None, help="voice folder under ROOT (default: found)")
    cmd.add_argument(
        "--faces", nargs="+", default=(), help="face folders under ROOT (default: the others)"
    )
    cmd.add_argument("--meta", type=Path, default=None, help="default ROOT/vox1_meta.csv")
    cmd.add_argument(
        "--alias",
        type=_alias,
        action="append",
        default=[],
        help="FOLDER=VGGFace1_ID for a speaker folder the meta file does not name (repeatable)",
    )
    cmd.add_argument("--unknown-ids", choices=["error", "drop"], default="error")
    cmd.add_argument("--test-initials", default="ABCDE", help="name initials of the test split")
    cmd.add_argument("--val-fraction", type=_fraction, default=0.15, help="as intersect's")
    cmd.add_argument("--n-shape", type=_positive, default=40, help="BFM shape components kept")
    cmd.add_argument("--n-expression", type=int, default=10, help="expression components kept")
    cmd.add_argument("--reference", choices=["mean", "best_frontal"], default="mean")
    cmd.add_argument("--shard-size", type=_positive, default=256, help="utterances per shard")
    cmd.add_argument("--workers", type=_positive, default=1, help="processes reading fbank files")
    cmd.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    """Import, print the counts as JSON; exit status 0 (errors: ``ReleaseError``)."""
    from tqdm import tqdm

    from voice2mesh.release import ImportOptions, import_release

    options = ImportOptions(
        voices=args.voices,
        faces=tuple(args.faces),
        meta_file=None if args.meta is None else str(args.meta),
        aliases=dict(args.alias),
        unknown_ids=args.unknown_ids,
        test_initials=args.test_initials,
        val_fraction=args.val_fraction,
        n_shape=args.n_shape,
        n_expression=args.n_expression,
        reference=args.reference,
        shard_size=args.shard_size,
        workers=args.workers,
    )
    bar = lambda it: tqdm(it, desc="fbank files", disable=args.quiet)  # noqa: E731
    summary = import_release(args.root, args.out, options, progress=bar)
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
