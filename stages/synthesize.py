"""Stage ``synthesize``: build the synthetic Voxceleb-3D world (the embedded default data).

Reads:  params ``synth``, ``face_model``, ``seed``.
Writes: ``data/synthetic/`` (``voxceleb1/``, ``vggface/``, ``truth/``; layout in
        ``voice2mesh.synth.world``), ``reports/figures/synthetic_world.png`` and
        ``metrics/synthesize.json`` (counts, ``voice_coupling`` and ``voice_face_links``: per
        coupled voice trait its driver, literature r, target r and measured r).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from stages.common import stage_args
from voice2mesh.config import Params, load_params
from voice2mesh.facemodel.loaders import load_from_params
from voice2mesh.io import atomic_dir, write_json
from voice2mesh.render import save_png
from voice2mesh.report.synthetic_world import preview_rows, world_sheet
from voice2mesh.synth.links import voice_face_links
from voice2mesh.synth.truth import write_truth
from voice2mesh.synth.world import clear_world, generate_world, write_meta

FIGURE = Path("reports/figures/synthetic_world.png")
METRICS = Path("metrics/synthesize.json")

log = logging.getLogger("stages.synthesize")


def run(params: Params, figure: Path = FIGURE, metrics: Path = METRICS, quiet: bool = False):
    """Generate the world under ``params.synth.root``; return the counts and voice-face links."""
    cfg = params.synth
    root = Path(cfg.root)
    clear_world(root)  # the old world goes first (it is large); anything else is refused
    model = load_from_params(params.face_model)
    bar = lambda it: tqdm(it, total=cfg.n_identities, desc="identities", disable=quiet)  # noqa: E731
    with atomic_dir(root) as tmp:  # a killed run leaves no half world behind
        identities, results = generate_world(model, cfg, tmp, params.seed, cfg.workers, bar)
        truth = write_truth(identities, results, tmp / "truth")
        meta = write_meta(identities, tmp / "voxceleb1" / "vox1_meta.csv")
    rows = preview_rows(truth, cfg.preview_identities)
    save_png(figure, world_sheet(root, model, rows))
    summary = truth.counts() | {
        "meta_rows": len(meta),
        "voice_coupling": cfg.voice_coupling,
        "voice_face_links": voice_face_links(identities, results, cfg.voice_coupling),
    }
    write_json(metrics, summary)
    log.info("%s", summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = stage_args(__doc__, argv)
    run(load_params(args.params), quiet=args.quiet)


if __name__ == "__main__":
    main()
