"""The ``voice2mesh`` command line.

voice2mesh facemodel preview --model synthetic --out face_model.png
voice2mesh facemodel preview --model sfm --path sfm_shape_3448.npz --out sfm.png
voice2mesh synth preview --root data/synthetic --out world.png
voice2mesh predict VOICE.wav --model models/supervised/seed_0.pt --out face.obj --png face.png
voice2mesh predict VOICE.wav --row unsupervised --out face.obj   # the model params.yaml names
voice2mesh predict VOICE.wav --row unsupervised --seed 1 --out face.obj  # another training seed
voice2mesh predict VOICE.wav --row supervised_ge2e --out face.obj  # on the GE2E embedding
voice2mesh predict UTTERANCE.npy --model models/supervised/seed_0.pt --out face.obj  # fbank
voice2mesh detect PHOTO.jpg --out face.pts   # face.pts, face_1.pts, ...: every face, largest first
voice2mesh fit PHOTO.jpg --model sfm --path sfm_shape_3448.npz --out face.obj --png fit.png
voice2mesh import-release VOXCELEB3D/ --out data/release   # manifest/, features/, fits/

Errors the user can fix (a missing or wrong file, bad audio, an unwritable output, ...) print one
line, ``voice2mesh: error: <file>: <what>; <fix>``, and exit 2; ``--verbose`` adds the
traceback. Anything else is a bug: a one-line ``internal error`` and exit 1. Outputs are checked
before any work is done, so a long inference never ends in "permission denied".
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from voice2mesh.audio.io import MAX_SECONDS, AudioError
from voice2mesh.audio.shards import FeatureError
from voice2mesh.checkpoint import CheckpointError
from voice2mesh.config import ConfigError
from voice2mesh.detect_cli import DetectError, add_detect_parser
from voice2mesh.facemodel.loaders import LOADERS, load_model
from voice2mesh.facemodel.model import DenseBasisUnavailable, MorphableModel
from voice2mesh.fit_cli import FitError, add_fit_parser
from voice2mesh.io import MixedOutputError
from voice2mesh.release.errors import ReleaseError
from voice2mesh.release_cli import add_import_parser
from voice2mesh.render.export import SUFFIXES as MESH_SUFFIXES

EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 1, 130


class UserError(Exception):
    """A problem the user can fix; ``main`` prints its message on one line and exits 2."""


USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    AudioError,
    CheckpointError,
    ConfigError,
    DenseBasisUnavailable,  # a landmark-only face model where a mesh is needed
    DetectError,  # voice2mesh detect: no face, no photo, dlib not installed
    FeatureError,
    FitError,  # voice2mesh fit: no photo, a bad .pts, no face, a model without a mesh
    MixedOutputError,
    OSError,  # missing file, permission, disk full: named by ``one_line``
    ReleaseError,  # import-release, or predict on a bad fbank .npy
)


def _user_errors() -> tuple[type[Exception], ...]:
    """``USER_ERRORS`` and ``PredictError`` (imported late: ``predict`` loads the renderer)."""
    try:
        from voice2mesh.predict import PredictError
    except ImportError:  # a broken install is an internal error, reported as such
        return USER_ERRORS
    return (*USER_ERRORS, PredictError)


def check_output(path: Path, suffixes: tuple[str, ...], flag: str, inputs: tuple = ()) -> Path:
    """Fail now, not after the work, if ``path`` cannot be written (or would clobber an input).

    Args:
        path: the output file; missing parent folders are fine (they are created on writing)
            if the nearest existing one is a writable folder.
        suffixes: the accepted suffixes, lower case.
        flag: the option, for messages.
        inputs: files the command reads, which the output must not replace.

    Raises:
        UserError: wrong suffix, a folder, an input, read-only, or no writable folder.
    """
    if path.suffix.lower() not in suffixes:
        raise UserError(
            f"{path}: {flag} must end in {' or '.join(suffixes)}; e.g. "
            f"{path.with_suffix(suffixes[0])}"
        )
    if path.is_dir():
        raise UserError(
            f"{path}: is a folder; give {flag} a file name, e.g. {path / 'out'}{suffixes[0]}"
        )
    if any(path.resolve() == Path(i).resolve() for i in inputs if i is not None):
        raise UserError(f"{path}: {flag} would overwrite an input file; choose another name")
    if path.is_file() and not path.stat().st_mode & 0o222:
        raise UserError(f"{path}: is read-only; make it writable or choose another {flag}")
    folder = next(p for p in (path.absolute().parent, *path.absolute().parents) if p.exists())
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file, not a folder; choose another {flag}")
    try:
        with tempfile.TemporaryFile(dir=folder):  # the only sure test: root, ACLs, read-only fs
            pass
    except OSError as error:
        raise UserError(
            f"{path}: cannot write in {folder} ({error.strerror}); choose another {flag} or fix "
            "the folder's permissions"
        ) from error
    return path


def _face_model(kind: str, path: Path | None, flag: str) -> MorphableModel:
    """``load_model`` with its errors as one-line user errors."""
    try:
        return load_model(kind, path)
    except (OSError, ValueError, KeyError, TypeError, ImportError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"{path or kind}: cannot load the {kind!r} face model ({reason}); check {flag}"
        ) from err


def _device(name: str) -> str:
    """``--device`` checked and resolved (``auto`` → cuda or cpu)."""
    import torch

    from voice2mesh.config import resolve_device

    try:
        device = resolve_device(name)
        torch.device(device)
    except ConfigError as error:
        raise UserError(f"--device {name}: {error}") from error
    except RuntimeError as error:
        raise UserError(f"--device {name}: not a device; use auto, cpu, cuda or cuda:N") from error
    return device


def _facemodel_preview(args: argparse.Namespace) -> int:
    from voice2mesh.render import save_png
    from voice2mesh.report.face_model import face_model_sheet, face_model_summary

    out = check_output(args.out, (".png",), "--out", (args.path,))
    model = _face_model(args.model, args.path, "--model and --path")
    save_png(out, face_model_sheet(model, size=args.size))
    print(json.dumps(face_model_summary(model), indent=2, sort_keys=True))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _synth_preview(args: argparse.Namespace) -> int:
    from voice2mesh.render import save_png
    from voice2mesh.report.synthetic_world import preview_rows, world_sheet
    from voice2mesh.synth.truth import read_truth

    out = check_output(args.out, (".png",), "--out")
    model = _face_model(args.model, args.model_path, "--model and --model-path")
    rows = preview_rows(read_truth(args.root / "truth"), args.identities)
    save_png(out, world_sheet(args.root, model, rows, size=args.size))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from voice2mesh.predict import predict_face, preview
    from voice2mesh.render import export_mesh, save_png

    if not args.voice.is_file():
        raise UserError(f"{args.voice}: no such file; check the recording's path")
    if args.model is None:
        args.model = _row_model(args.row or "supervised", args.params, args.seed)
    elif args.seed is not None:
        raise UserError(f"--seed {args.seed}: picks a --row's model; --model names the file itself")
    inputs = (args.voice, args.model)
    out = check_output(args.out, MESH_SUFFIXES, "--out", inputs)
    png = None if args.png is None else check_output(args.png, (".png",), "--png", inputs)
    result = predict_face(
        args.voice, args.model, _device(args.device), args.min_speech, args.max_seconds
    )
    export_mesh(out, result.vertices, result.model.triangles)
    print(f"wrote {out} ({result.speech_s:.1f} s of speech)", file=sys.stderr)
    if png is not None:
        save_png(png, preview(result, args.size))
        print(f"wrote {png}", file=sys.stderr)
    names = result.model.shape_names or [f"shape_{k}" for k in range(len(result.shape))]
    print(json.dumps(dict(zip(names, np.round(result.shape, 4).tolist(), strict=False)), indent=2))
    return 0


def _row_model(name: str, params_file: Path, seed: int | None) -> Path:
    """The model file of evaluation row ``name`` and training seed ``seed`` (None: the first)
    under ``params_file`` (``evaluation.rows.model_file``)."""
    from voice2mesh.config import load_params
    from voice2mesh.evaluation.rows import model_file

    params = load_params(params_file)
    try:
        return model_file(params, name, seed)
    except ValueError as error:
        raise UserError(f"--row {name} (--params {params_file}): {error}") from error


def _number(kind: type, low: float, strict: bool) -> Callable[[str], float]:
    """An argparse ``type``: ``kind(text)``, at least (``strict``: above) ``low``."""

    def parse(text: str) -> float:
        value = kind(text)
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if strict else '>='} {low}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``voice2mesh`` argument parser (``--verbose``/``--quiet`` before or after a command)."""
    parser = argparse.ArgumentParser(prog="voice2mesh", description="Voice → 3D face model.")
    common = argparse.ArgumentParser(add_help=False)
    for p, default in ((parser, False), (common, argparse.SUPPRESS)):  # SUPPRESS: keep global
        p.add_argument("-q", "--quiet", action="store_true", default=default, help="warnings only")
        p.add_argument("-v", "--verbose", action="store_true", default=default, help="tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    size = _number(int, 0, strict=True)

    facemodel = commands.add_parser("facemodel", help="inspect 3D Morphable Models")
    facemodel_commands = facemodel.add_subparsers(dest="action", required=True)
    preview = facemodel_commands.add_parser(
        "preview", help="render a model's preview sheet", parents=[common]
    )
    preview.add_argument("--model", choices=sorted(LOADERS), default="synthetic")
    preview.add_argument("--path", type=Path, default=None, help="model file or folder")
    preview.add_argument("--out", type=Path, required=True, help="PNG to write")
    preview.add_argument("--size", type=size, default=192, help="pixels per tile")
    preview.set_defaults(handler=_facemodel_preview)

    synth = commands.add_parser("synth", help="the synthetic Voxceleb-3D world")
    synth_commands = synth.add_subparsers(dest="action", required=True)
    sheet = synth_commands.add_parser(
        "preview", help="contact sheet of a generated world", parents=[common]
    )
    sheet.add_argument("--root", type=Path, default=Path("data/synthetic"), help="world folder")
    sheet.add_argument("--out", type=Path, required=True, help="PNG to write")
    sheet.add_argument("--identities", type=size, default=6, help="rows of the sheet")
    sheet.add_argument("--size", type=size, default=128, help="pixels per tile")
    sheet.add_argument(
        "--model", choices=sorted(LOADERS), default="synthetic", help="face_model.kind"
    )
    sheet.add_argument("--model-path", type=Path, default=None, help="face_model.path")
    sheet.set_defaults(handler=_synth_preview)

    predict = commands.add_parser(
        "predict", help="a 3D face from a voice recording", parents=[common]
    )
    predict.add_argument(
        "voice", type=Path, help="a recording (16 kHz wav; others resampled) or (T, 64) fbank .npy"
    )
    model_help = "a supervised (train_supervised, train_supervised_ge2e) or unsupervised model"
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, default=None, help=f"{model_help} file")
    which.add_argument(
        "--row",
        default=None,
        help="an evaluation row's model instead, e.g. unsupervised or supervised_ge2e "
        "(default: supervised)",
    )
    predict.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the training seed of the --row's model (default: params' first, its seed)",
    )
    predict.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="where --row looks up its model"
    )
    predict.add_argument("--out", type=Path, required=True, help="mesh to write (.obj or .ply)")
    predict.add_argument("--png", type=Path, default=None, help="rendered preview to write")
    predict.add_argument("--size", type=size, default=256, help="preview pixels per view")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    seconds = _number(float, 0, strict=False)
    predict.add_argument("--min-speech", type=seconds, default=0.5, help="s of speech after VAD")
    longest = _number(float, 0, strict=True)
    predict.add_argument("--max-seconds", type=longest, default=MAX_SECONDS, help="longest input")
    predict.set_defaults(handler=_predict)
    add_detect_parser(commands, common, check_output)
    add_fit_parser(commands, common, check_output, _face_model)
    add_import_parser(commands, common)
    return parser


class _StderrHandler(logging.Handler):
    """Log records as ``voice2mesh: warning: ...`` lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname.lower()
        prefix = f"voice2mesh: {level}: " if record.levelno >= logging.WARNING else ""
        print(f"{prefix}{record.getMessage()}", file=sys.stderr)


def _setup_logging(quiet: bool) -> None:
    """Library log records to stderr: INFO and up, or WARNING and up when ``quiet``."""
    logger = logging.getLogger("voice2mesh")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)  # main() may run several times in one process (tests)
    logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (``OSError``s name their file)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.filename}: {error.strerror}; check the path, its permissions and free space"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status (module docstring) is returned, not raised."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.quiet)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("voice2mesh: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the boundary: every failure becomes one line and an exit code
        if args.verbose:
            traceback.print_exception(error, file=sys.stderr)
        if isinstance(error, _user_errors()):
            print(f"voice2mesh: error: {one_line(error)}", file=sys.stderr)
            return EXIT_USER
        hint = "" if args.verbose else "; rerun with --verbose for the traceback and report it"
        print(
            f"voice2mesh: internal error: {type(error).__name__}: {one_line(error)[:300]}{hint}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
