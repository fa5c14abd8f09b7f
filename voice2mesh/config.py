"""params.yaml → frozen dataclasses, one per pipeline section.

Every knob of the pipeline lives in ``params.yaml``; each stage reads its own section through
``load_section``. The whole file is validated on every load, so a typo anywhere fails early with
the dotted key and the file name instead of being silently ignored.

Adding a knob: add a field (with a commented default) to the section's dataclass and to
``params.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from voice2mesh.synth.spec import SynthParams

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A params file that does not match the schema; the message names file and key."""


@dataclass(frozen=True)
class FaceModelParams:
    """Which 3D Morphable Model the pipeline uses (DESIGN.md, "Face model")."""

    kind: Literal["synthetic", "sfm", "bfm", "bfm68"] = "synthetic"
    path: str | None = None  # model file or folder; required unless kind == "synthetic"
    n_shape: int = 40  # shape components used downstream (the paper: 40)
    n_expression: int = 10  # expression components used downstream (the paper: 10)
    preview_size: int = 192  # pixels per tile of reports/figures/face_model.png


@dataclass(frozen=True)
class IntersectParams:
    """Where VoxCeleb1 and VGGFace live, and how identities are split (stage ``intersect``)."""

    voxceleb_root: str = "data/synthetic/voxceleb1"  # holds vox1_meta.csv and wav/
    vggface_root: str = "data/synthetic/vggface"  # one folder per VGGFace1 ID
    meta_file: str | None = None  # default: <voxceleb_root>/vox1_meta.csv
    test_initials: str = "ABCDE"  # names starting with these letters are the test split
    unknown_ids: Literal["error", "drop"] = "error"  # wav ids missing from the meta file
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    out: str = "data/manifest"


@dataclass(frozen=True)
class LandmarksParams:
    """68-point landmark detection (stage ``landmarks``)."""

    backend: Literal["pts", "fan"] = "pts"  # pts: .pts files beside the images; fan: 3D-FAN
    batch_size: int = 16  # images per detector call
    max_reject_fraction: float = 0.5  # fail the stage when more images than this are rejected
    out: str = "data/landmarks"


@dataclass(frozen=True)
class FeaturesParams:
    """VAD + normalised 64-bin log-mel per utterance (stage ``features``)."""

    shard_size: int = 256  # utterances per shard file
    workers: int = 2  # processes; the output does not depend on it
    min_speech_s: float = 0.5  # utterances with less speech after VAD are rejected
    max_reject_fraction: float = 0.5  # fail the stage when more utterances are rejected
    out: str = "data/features"


@dataclass(frozen=True)
class FitParams:
    """Batched MAP fitting of the 3DMM to the landmarks (stage ``fit3dmm``)."""

    landmark_sigma: float = 0.02  # landmark noise std as a fraction of the face size
    shape_prior: float = 1.0  # weight of the Gaussian shape prior (1 = the model's prior)
    expression_prior: float = 1.0  # weight of the Gaussian expression prior
    n_iterations: int = 10  # alternating pose / coefficient iterations
    n_refine: int = 4  # joint Gauss-Newton steps afterwards
    max_residual_norm: float = 0.1  # reject fits whose RMS residual exceeds this × face size
    min_valid: int = 20  # reject images with fewer usable landmarks
    # Per-identity reference face. The paper hand-picks one neutral frontal fit; automatically
    # (best_frontal) one fit keeps its landmark noise, and on the default world the mean of an
    # identity's 4-8 fits is the cleaner target and reference (see the README's evaluation notes).
    reference: Literal["best_frontal", "mean"] = "mean"
    batch_size: int = 256  # images solved together
    max_reject_fraction: float = 0.5  # fail the stage when more fits are rejected
    out: str = "data/fits"


@dataclass(frozen=True)
class PretrainVoiceParams:
    """Speaker-ID pretraining of the voice encoder (stage ``pretrain_voice``).

    Sized for ~2 minutes on 2 CPU cores. The paper's settings (``PretrainVoiceConfig``'s
    defaults): iterations 50000, batch_size 128, lr 2e-4, channels (256, 384, 576, 864).
    """

    iterations: int = 480  # optimizer steps (the paper: 50000)
    batch_size: int = 32  # crops per step (the paper: 128)
    lr: float = 1e-3  # Adam learning rate (the paper: 2e-4, too slow for 480 steps)
    crop_frames: tuple[int, int] = (300, 800)  # random crop length range, one per batch
    eval_every: int = 120  # steps between held-out speaker-accuracy evaluations
    channels: tuple[int, ...] = (128, 192, 288, 432)  # encoder widths (paper: 256 ... 864)
    resume: bool = False  # continue from `out` when it exists
    out: str = "models/voice_encoder.pt"

    def __post_init__(self) -> None:
        lo, hi = self.crop_frames
        if not 1 <= lo <= hi <= 1000:
            raise ValueError(
                f"pretrain_voice.crop_frames = {self.crop_frames}: need 1<=min<=max<=1000"
            )


@dataclass(frozen=True)
class SupervisedParams:
    """Supervised voice -> 3DMM regressor on the pretrained encoder (stage ``train_supervised``).

    Sized for ~40 s on 2 CPU cores. The paper's settings (``SupervisedConfig``'s
    defaults): iterations 50000, batch_size 128, lr 2e-4.
    """

    iterations: int = 600  # optimizer steps (the paper: 50000)
    batch_size: int = 32  # crops per step (the paper: 128)
    lr: float = 1e-3  # Adam learning rate (the paper: 2e-4, too slow for 600 steps)
    crop_frames: tuple[int, int] = (300, 800)  # random crop length range, one per batch
    dropout: float = 0.2  # before the linear heads
    freeze_encoder: bool = True  # train the heads only; the speaker-ID encoder stays fixed
    eval_every: int = 100  # steps between held-out validation-MSE evaluations
    resume: bool = False  # continue from `out` when it exists
    out: str = "models/supervised.pt"

    def __post_init__(self) -> None:
        lo, hi = self.crop_frames
        if not 1 <= lo <= hi <= 1000:
            raise ValueError(f"supervised.crop_frames = {self.crop_frames}: need 1<=min<=max<=1000")


@dataclass(frozen=True)
class TeacherParams:
    """The image -> 3DMM teacher (stage ``pretrain_teacher``).

    Synthetic world: a 3DDFA-V2 MobileNetV1 trained on the face crops with the fitted
    coefficients as labels (as 3DDFA trained on fitted 300W-LP). Real data with the BFM: set
    ``checkpoint`` and ``param_mean_std`` to 3DDFA-V2's files and ``widen_factor`` to match.
    """

    checkpoint: str | None = None  # 3DDFA-V2 .pth (e.g. mb1_120x120.pth); null: train one
    param_mean_std: str | None = None  # 3DDFA-V2's param_mean_std_62d_120x120.pkl
    widen_factor: float = 0.25  # MobileNetV1 width (3DDFA-V2 ships 1.0 and 0.5)
    iterations: int = 200  # optimizer steps (3DDFA-V2: tens of epochs over 300W-LP)
    batch_size: int = 16
    lr: float = 1e-3  # Adam
    eval_every: int = 100
    resume: bool = False
    out: str = "models/teacher.pt"


@dataclass(frozen=True)
class GanParams:
    """Wen et al.'s voice -> face GAN on the training faces (stage ``train_gan``)."""

    iterations: int = 200  # optimizer steps (Wen et al.: 30-50K at batch 128)
    batch_size: int = 16
    lr: float = 2e-4  # Adam, betas (0.5, 0.999), as published
    generator_channels: tuple[int, ...] = (128, 64, 32, 16, 8)  # paper: 1024, 512, 256, 128, 64
    face_channels: tuple[int, ...] = (8, 16, 32, 64, 128)  # paper: 32, 64, 128, 256, 512
    noise: float = 0.05  # std of the voice-embedding perturbation (as published)
    voice_crops: int = 2  # random crops embedded per training utterance (frozen encoder)
    eval_every: int = 50
    resume: bool = False
    out: str = "models/gan_baseline.pt"
    samples: str = "reports/figures/gan_samples.png"


@dataclass(frozen=True)
class KdParams:
    """Joint GAN + student training distilled from the teacher (``train_unsupervised`` and
    the ``kd_ablation@<method>`` stages, one per ``distill.REGISTRY`` key)."""

    method: str = "pkt"  # the unsupervised model's KD method (the paper's choice: pkt)
    iterations: int = 40  # joint steps (the paper: 50000 at batch 128)
    batch_size: int = 16
    lr: float = 2e-4  # Adam, student (and its KD connectors); the GAN keeps gan.lr
    student_width: float = 0.5  # MobileNetV2 width multiplier (the paper: 1.0)
    param_weight: float = 1.0  # weight of ||p_s - p_t||^2 on the 62 whitened parameters
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "kd": 1.0,
            "attention": 1000.0,
            "sp": 3000.0,
            "correlation": 0.02,
            "rkd": 1.0,
            "crd": 0.8,
            "vid": 1.0,
            "pkt": 30000.0,
        }
    )  # each method's KD weight (RepDistiller's defaults)
    eval_every: int = 20
    resume: bool = False
    out: str = "models/unsupervised.pt"
    ablation_out: str = "models/kd_ablation"  # <ablation_out>/<method>.pt


@dataclass(frozen=True)
class EvaluateParams:
    """The paper's metrics on the test identities, with CIs and paired tests (``evaluate``)."""

    n_utterances: int = 3  # utterances per test identity (the paper: 3)
    n_resamples: int = 2000  # identity bootstrap resamples for the 95 % CIs
    confidence: float = 0.95  # CI coverage
    gender_l2: float = 1.0  # ridge penalty of the gender-from-voice logistic regression
    truth: str | None = "data/synthetic/truth"  # synthetic world only: also score vs true faces
    out: str = "data/evaluation"

    def __post_init__(self) -> None:
        if self.n_utterances < 1 or self.n_resamples < 100 or not 0 < self.confidence < 1:
            raise ValueError(
                f"evaluate: need n_utterances >= 1, n_resamples >= 100 and 0 < confidence < 1,"
                f" got {self.n_utterances}, {self.n_resamples}, {self.confidence}"
            )


@dataclass(frozen=True)
class ReportParams:
    """Tables 1-5 and the figures (stage ``report``)."""

    tables: str = "reports/tables.md"
    figures: str = "reports/figures"
    n_speakers: int = 4  # test speakers in the mesh-comparison figure
    size: int = 160  # pixels per rendered mesh tile


@dataclass(frozen=True)
class Params:
    """The whole params.yaml."""

    seed: int = 0  # global seed; every stage derives its own generators from it
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    face_model: FaceModelParams = field(default_factory=FaceModelParams)
    synth: SynthParams = field(default_factory=SynthParams)
    intersect: IntersectParams = field(default_factory=IntersectParams)
    landmarks: LandmarksParams = field(default_factory=LandmarksParams)
    features: FeaturesParams = field(default_factory=FeaturesParams)
    fit3dmm: FitParams = field(default_factory=FitParams)
    pretrain_voice: PretrainVoiceParams = field(default_factory=PretrainVoiceParams)
    supervised: SupervisedParams = field(default_factory=SupervisedParams)
    teacher: TeacherParams = field(default_factory=TeacherParams)
    gan: GanParams = field(default_factory=GanParams)
    kd: KdParams = field(default_factory=KdParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    report: ReportParams = field(default_factory=ReportParams)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against type ``tp`` and convert containers; raise ConfigError."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, source)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, key, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: {key} = {value!r} is not a {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{source}: {key} = {value!r}; expected one of {choices}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        items = [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        _, val_tp = typing.get_args(tp)
        return {k: _convert(v, val_tp, f"{key}.{k}", source) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{source}: {key} = {value!r} must be a {tp.__name__}, not a bool")
    if not isinstance(value, tp):
        raise ConfigError(
            f"{source}: {key} = {value!r} must be a {tp.__name__}, got {type(value).__name__}"
        )
    return value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'the top level'} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else str(k) for k in unknown)
        raise ConfigError(f"{source}: unknown key(s) {dotted}; known: {', '.join(sorted(names))}")
    kwargs = {
        name: _convert(value, hints[name], f"{prefix}.{name}" if prefix else name, source)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ValueError as error:  # a section's own range checks
        raise ConfigError(f"{source}: {error}") from error


def params_from_dict(data: dict[str, Any], source: str = "<dict>") -> Params:
    """Validate a parsed params mapping; ``source`` names it in error messages."""
    return _build(Params, data, "", source)


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


def as_dict(obj: Any) -> Any:
    """A plain, YAML/JSON-serialisable copy of a params dataclass (for checkpoints)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is present, else ``"cpu"``; others pass through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device = {device!r} but no CUDA device is available; use 'auto'")
    return device
