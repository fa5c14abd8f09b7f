"""The ``voice2mesh`` command line.

voice2mesh facemodel preview --model synthetic --out face_model.png
voice2mesh facemodel preview --model sfm --path sfm_shape_3448.npz --out sfm.png
voice2mesh synth preview --root data/synthetic --out world.png
voice2mesh predict VOICE.wav --model models/supervised.pt --out face.obj --png face.png
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from voice2mesh.audio.io import AudioError
from voice2mesh.facemodel.loaders import LOADERS, load_model


def _facemodel_preview(args: argparse.Namespace) -> int:
    from voice2mesh.render import save_png
    from voice2mesh.report.face_model import face_model_sheet, face_model_summary

    model = load_model(args.model, args.path)
    save_png(args.out, face_model_sheet(model, size=args.size))
    print(json.dumps(face_model_summary(model), indent=2, sort_keys=True))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _synth_preview(args: argparse.Namespace) -> int:
    from voice2mesh.render import save_png
    from voice2mesh.report.synthetic_world import preview_rows, world_sheet
    from voice2mesh.synth.truth import read_truth

    model = load_model(args.model, args.model_path)
    rows = preview_rows(read_truth(args.root / "truth"), args.identities)
    save_png(args.out, world_sheet(args.root, model, rows, size=args.size))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from voice2mesh.config import resolve_device
    from voice2mesh.predict import predict_face, preview
    from voice2mesh.render import export_mesh, save_png

    result = predict_face(args.voice, args.model, resolve_device(args.device), args.min_speech)
    export_mesh(args.out, result.vertices, result.model.triangles)
    print(f"wrote {args.out} ({result.speech_s:.1f} s of speech)", file=sys.stderr)
    if args.png is not None:
        save_png(args.png, preview(result, args.size))
        print(f"wrote {args.png}", file=sys.stderr)
    names = result.model.shape_names or [f"shape_{k}" for k in range(len(result.shape))]
    print(json.dumps(dict(zip(names, np.round(result.shape, 4).tolist(), strict=False)), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice2mesh", description="Voice → 3D face model.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)

    facemodel = commands.add_parser("facemodel", help="inspect 3D Morphable Models")
    facemodel_commands = facemodel.add_subparsers(dest="action", required=True)
    preview = facemodel_commands.add_parser("preview", help="render a model's preview sheet")
    preview.add_argument("--model", choices=sorted(LOADERS), default="synthetic")
    preview.add_argument("--path", type=Path, default=None, help="model file or folder")
    preview.add_argument("--out", type=Path, required=True, help="PNG to write")
    preview.add_argument("--size", type=int, default=192, help="pixels per tile")
    preview.set_defaults(handler=_facemodel_preview)

    synth = commands.add_parser("synth", help="the synthetic Voxceleb-3D world")
    synth_commands = synth.add_subparsers(dest="action", required=True)
    sheet = synth_commands.add_parser("preview", help="contact sheet of a generated world")
    sheet.add_argument("--root", type=Path, default=Path("data/synthetic"), help="world folder")
    sheet.add_argument("--out", type=Path, required=True, help="PNG to write")
    sheet.add_argument("--identities", type=int, default=6, help="rows of the sheet")
    sheet.add_argument("--size", type=int, default=128, help="pixels per tile")
    sheet.add_argument(
        "--model",
        choices=sorted(LOADERS),
        default="synthetic",
        help="the world's face model (face_model.kind)",
    )
    sheet.add_argument("--model-path", type=Path, default=None, help="face_model.path")
    sheet.set_defaults(handler=_synth_preview)

    predict = commands.add_parser("predict", help="a 3D face from a voice recording")
    predict.add_argument("voice", type=Path, help="16 kHz mono wav (other rates are resampled)")
    predict.add_argument(
        "--model", type=Path, default=Path("models/supervised.pt"), help="train_supervised output"
    )
    predict.add_argument("--out", type=Path, required=True, help="mesh to write (.obj or .ply)")
    predict.add_argument("--png", type=Path, default=None, help="rendered preview to write")
    predict.add_argument("--size", type=int, default=256, help="preview pixels per view")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    predict.add_argument(
        "--min-speech", type=float, default=0.5, help="seconds of speech required after VAD"
    )
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s"
    )
    try:
        return args.handler(args)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError, AudioError) as error:
        print(f"voice2mesh: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
