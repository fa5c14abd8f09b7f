"""params.yaml → frozen dataclasses, one per pipeline section.

Every knob of the pipeline lives in ``params.yaml``; each stage reads its sections through
``load_params``. The whole file is validated on every load, so a typo or an out-of-range value
anywhere fails early with the file, the dotted key and the allowed range instead of a traceback
deep in a trainer. The trainers take these dataclasses themselves: one config layer, defaults
in one place.

Adding a knob: add a field (typed, with its range and a commented default) to the section's
dataclass (``data.py``, ``training.py``) and to ``params.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voice2mesh.config.data import (
    EvaluateParams,
    FaceModelParams,
    FeaturesParams,
    FitParams,
    Ge2eParams,
    IntersectParams,
    LandmarksParams,
    ReportParams,
)
from voice2mesh.config.schema import (
    ConfigError,
    Count,
    Device,
    FieldError,
    Section,
    Seed,
    as_dict,
    build,
)
from voice2mesh.config.training import (
    KD_METHODS,
    AcceleratorParams,
    DistributedParams,
    GanParams,
    KdParams,
    PretrainVoiceParams,
    SupervisedGe2eParams,
    SupervisedParams,
    TeacherParams,
)
from voice2mesh.synth.spec import CorpusParams, SynthParams

__all__ = [
    "DEFAULT_PARAMS",
    "KD_METHODS",
    "AcceleratorParams",
    "ConfigError",
    "CorpusParams",
    "DistributedParams",
    "EvaluateParams",
    "FaceModelParams",
    "FeaturesParams",
    "FitParams",
    "GanParams",
    "Ge2eParams",
    "IntersectParams",
    "KdParams",
    "LandmarksParams",
    "Params",
    "PretrainVoiceParams",
    "ReportParams",
    "SupervisedGe2eParams",
    "SupervisedParams",
    "SynthParams",
    "TeacherParams",
    "as_dict",
    "load_params",
    "load_section",
    "params_from_dict",
    "resolve_device",
]

DEFAULT_PARAMS = Path("params.yaml")
MAX_SEED = 2**32 - 1  # ``Seed``'s upper bound (numpy's SeedSequence)


@dataclass(frozen=True)
class Params(Section):
    """The whole params.yaml."""

    seed: Seed = 0  # global seed; every stage derives its own generators from it
    n_seeds: Count = 3  # network rows are trained with seeds seed, seed+1, ..., seed+n_seeds-1
    device: Device = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1"
    distributed: DistributedParams = field(default_factory=DistributedParams)
    accelerator: AcceleratorParams = field(default_factory=AcceleratorParams)
    face_model: FaceModelParams = field(default_factory=FaceModelParams)
    synth: SynthParams = field(default_factory=SynthParams)
    teacher_corpus: CorpusParams = field(default_factory=CorpusParams)
    intersect: IntersectParams = field(default_factory=IntersectParams)
    landmarks: LandmarksParams = field(default_factory=LandmarksParams)
    features: FeaturesParams = field(default_factory=FeaturesParams)
    fit3dmm: FitParams = field(default_factory=FitParams)
    ge2e: Ge2eParams = field(default_factory=Ge2eParams)
    pretrain_voice: PretrainVoiceParams = field(default_factory=PretrainVoiceParams)
    supervised: SupervisedParams = field(default_factory=SupervisedParams)
    supervised_ge2e: SupervisedGe2eParams = field(default_factory=SupervisedGe2eParams)
    teacher: TeacherParams = field(default_factory=TeacherParams)
    gan: GanParams = field(default_factory=GanParams)
    kd: KdParams = field(default_factory=KdParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    report: ReportParams = field(default_factory=ReportParams)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seed + self.n_seeds - 1 > MAX_SEED:
            raise FieldError("n_seeds", self.n_seeds, f"seed + n_seeds - 1 <= {MAX_SEED}")
        if self.kd.triplet_weight > 0 and self.gan.voice_crops < 2:
            raise FieldError(
                "gan.voice_crops",
                self.gan.voice_crops,
                ">= 2 while kd.triplet_weight > 0 (a same-speaker positive needs a second bank "
                "row per speaker); or set kd.triplet_weight: 0",
            )

        self._check_shards()

    def _check_shards(self) -> None:
        """Every batch a distributed stage trains splits evenly over ``distributed.nproc``."""
        nproc = self.distributed.nproc
        sections = ["pretrain_voice", "supervised", "supervised_ge2e", "gan", "kd"]
        sections += ["teacher"] if self.teacher.checkpoint is None else []
        for name in sections:
            size = getattr(self, name).batch_size
            if size % nproc:
                raise FieldError(
                    f"{name}.batch_size",
                    size,
                    f"a multiple of distributed.nproc = {nproc} (each process trains "
                    "batch_size / nproc rows of every batch)",
                )

    @property
    def train_seeds(self) -> tuple[int, ...]:
        """The seeds every network is trained with: ``seed, seed + 1, ..., seed + n_seeds - 1``
        (the first one's models feed the report's figures)."""
        return tuple(range(self.seed, self.seed + self.n_seeds))


def params_from_dict(data: dict[str, Any], source: str = "<dict>") -> Params:
    """Validate a parsed params mapping; ``source`` names it in error messages."""
    return build(Params, data, "", source)


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate a params.yaml file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (run from the project root)")
    with path.open(encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from error
    return params_from_dict(data or {}, str(path))


def load_section(name: str, path: Path | str = DEFAULT_PARAMS) -> Any:
    """One section of a validated params file (the whole file is checked)."""
    params = load_params(path)
    if name not in {f.name for f in dataclasses.fields(Params)}:
        raise ConfigError(f"{path}: no section {name!r} in the schema")
    return getattr(params, name)


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is present, else ``"cpu"``; others pass through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device = {device!r} but no CUDA device is available; use 'auto'")
    return device
