"""Issue 13's gates, read from a pipeline's metrics folder, side by side for several settings.

    python -m voice2mesh.gates default=metrics gates=reports/gates/metrics

prints one markdown table: a row per gate, a column per ``name=folder`` (the measured value and
whether the gate holds). Every value comes from the metrics files the stages write; a gate whose
metric is absent reads "—". The pipeline's wall time is not a metric: it is reported beside the
table (``reports/gates/README.md``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ALPHA = 0.05


@dataclass(frozen=True)
class Gate:
    """A named check on the metrics: ``measure`` gives (value text, holds) or None."""

    name: str
    measure: Callable[[dict], tuple[str, bool] | None]


def _read(folder: Path) -> dict:
    files = {"teacher": "pretrain_teacher.json", "gan": "train_gan.json", "eval": "evaluate.json"}
    out = {}
    for key, name in files.items():
        path = folder / name
        out[key] = json.loads(path.read_text()) if path.is_file() else None
    return out


def _teacher_ratio(m: dict) -> tuple[str, bool] | None:
    """The held-out ratio, with its identity-bootstrap interval where the stage gives one."""
    teacher = m["teacher"] or {}
    ratio = teacher.get("shape_rmse_ratio")
    if ratio is None:
        return None
    shown, pooled = f"{ratio:.3f}", teacher.get("shape_rmse_ratio_by_identity")
    if pooled:
        shown += (
            f", over {pooled['n_identities']} identities [{pooled['ci_low']:.3f}, "
            f"{pooled['ci_high']:.3f}]"
        )
    return shown, ratio <= 0.7


def _gan(key: str, text: Callable[[float, dict], str], holds: Callable[[float, dict], bool]):
    """A ``train_gan`` mean over seeds; with its speaker-level interval where the stage gives
    one (``<key>_by_speaker``)."""

    def measure(m: dict) -> tuple[str, bool] | None:
        gan = (m["gan"] or {}).get("mean", {})
        value = gan.get(key)
        if value is None:
            return None
        shown = text(value, gan)
        pooled = (m["gan"] or {}).get(f"{key}_by_speaker")
        if pooled:
            p = pooled["p_vs_chance"]
            shown += (
                f", over {pooled['n_speakers']} speakers {pooled['mean']:.2f} "
                f"[{pooled['ci_low']:.2f}, {pooled['ci_high']:.2f}], p vs chance "
                + (f"{p:.2f}" if p >= 0.01 else f"{p:.0e}")
            )
        return shown, holds(value, gan)

    return measure


def _agreement_text(value: float, gan: dict) -> str:
    """The agreement with the probe's accuracy on real photos and, where the stage gives it, on
    the same photos drawn at the GAN's resolution (the agreement's ceiling)."""
    text = f"{value:.2f} (probe {gan.get('probe_accuracy', float('nan')):.3f}"
    ceiling = gan.get("probe_accuracy_at_gan_resolution")
    if ceiling is not None:
        text += f"; {ceiling:.3f} on the photos at the GAN's resolution"
    return text + ")"


def _beats(space: str, row: str, other: str):
    """``row``'s ARE below ``other``'s in ``space`` (vs_reference | vs_truth), paired p < 0.05."""

    def measure(m: dict) -> tuple[str, bool] | None:
        rows = (m["eval"] or {}).get(space, {})
        if row not in rows or other not in rows:
            return None
        are, base = rows[row]["ARE"], rows[other]["ARE"]
        p = are.get(f"p_vs_{other}")
        if p is None:
            return None
        shown = f"= {p:.3f}" if p >= 0.001 else "< 0.001"
        text = f"{are['mean']:.4f} vs {base['mean']:.4f}, p {shown}"
        return text, are["mean"] < base["mean"] and p < ALPHA

    return measure


GATES = (
    Gate("teacher: held-out corpus shape RMSE / mean predictor ≤ 0.7", _teacher_ratio),
    Gate(
        "teacher_on_photos beats the gender mean face (ARE vs truth, p < 0.05)",
        _beats("vs_truth", "teacher_on_photos", "gender_mean_face"),
    ),
    Gate(
        "GAN gender_agreement ≥ 0.9",
        _gan(
            "gender_agreement",
            _agreement_text,
            lambda v, g: v >= 0.9,
        ),
    ),
    Gate(
        "GAN identity accuracy ≥ 5 × chance",
        _gan(
            "fake_id_accuracy",
            lambda v, g: f"{v:.3f} = {v / g['chance_accuracy']:.0f} × chance",
            lambda v, g: v >= 5 * g["chance_accuracy"],
        ),
    ),
    Gate(
        "unsupervised beats the baseline (ARE vs references, p < 0.05)",
        _beats("vs_reference", "unsupervised", "baseline"),
    ),
    Gate(
        "unsupervised beats the mean face (ARE vs references, p < 0.05)",
        _beats("vs_reference", "unsupervised", "mean_face"),
    ),
)


def gate_table(settings: dict[str, Path]) -> str:
    """A markdown table: a row per gate, a column per named metrics folder."""
    metrics = {name: _read(Path(folder)) for name, folder in settings.items()}
    lines = [
        "| gate | " + " | ".join(settings) + " |",
        "|---|" + "---|" * len(settings),
    ]
    for gate in GATES:
        cells = []
        for m in metrics.values():
            got = gate.measure(m)
            cells.append("—" if got is None else f"{got[0]} ({'met' if got[1] else 'missed'})")
        lines.append(f"| {gate.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or not all("=" in a for a in args):
        sys.exit("usage: python -m voice2mesh.gates NAME=METRICS_FOLDER [NAME=FOLDER ...]")
    settings = dict(a.split("=", 1) for a in args)
    missing = [f for f in settings.values() if not Path(f).is_dir()]
    if missing:
        sys.exit(f"voice2mesh.gates: error: no such metrics folder: {', '.join(missing)}")
    print(gate_table({k: Path(v) for k, v in settings.items()}), end="")


if __name__ == "__main__":
    main()
