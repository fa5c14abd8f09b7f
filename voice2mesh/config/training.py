"""The training sections of params.yaml: what each trainer in ``voice2mesh.train`` takes.

The defaults are sized for the embedded synthetic world on 2 CPU cores; each field's comment
gives the paper's value where it differs (Wu et al. 2022: Adam lr 2e-4, batch 128, 50K
iterations; Wen et al. 2019 for the voice encoder and the GAN). Every trainer also takes the
top-level ``seed``: the voice encoder, the supervised regressor, the GAN and the KD models are
trained once per seed of ``Params.train_seeds``, so their ``out`` is a folder holding one
``seed_<k>.pt`` per seed (``model_path(seed)``) and their ``resume_state`` a folder of per-seed
resumable states (weights, optimizers, step; ``state_path(seed)``), separate from the finished
models. The teacher stands for a pretrained expert (a downloaded 3DDFA-V2 checkpoint): one
model at ``teacher.out``, one state at ``teacher.resume_state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from voice2mesh.config.schema import (
    Betas,
    Count,
    FieldError,
    FrameRange,
    NonNegative,
    Positive,
    Range,
    Section,
    Steps,
    Widths,
)

SEED_FILES = ("seed_*.pt",)  # what a seeded model or state folder holds (``io.atomic_dir`` owns)


def seed_file(seed: int) -> str:
    """The file name of seed ``seed``'s model or resume state in its folder."""
    return f"seed_{seed}.pt"


class Seeded:
    """The per-seed paths of a section whose ``out`` and ``resume_state`` are folders."""

    out: str
    resume_state: str

    def model_path(self, seed: int) -> Path:
        """Where seed ``seed``'s model is written (``<out>/seed_<seed>.pt``)."""
        return Path(self.out) / seed_file(seed)

    def state_path(self, seed: int) -> Path:
        """Where seed ``seed``'s run keeps its resume state (``<resume_state>/seed_<seed>.pt``)."""
        return Path(self.resume_state) / seed_file(seed)


@dataclass(frozen=True)
class DistributedParams(Section):
    """How many processes a training stage runs in (``voice2mesh.train.launch``; docs/
    distributed.md). More than one: ``torchrun`` with DistributedDataParallel (gloo on CPU,
    nccl on CUDA, one GPU per process), each process a ``batch_size / nproc`` shard of every
    batch, so each trained stage's ``batch_size`` must be a multiple of ``nproc``. It applies to
    pretrain_voice, train_supervised, train_supervised_ge2e and pretrain_teacher; train_gan and
    kd_ablation train in one process."""

    nproc: Count = 1  # 1: the stage runs in-process, exactly as without this section


@dataclass(frozen=True)
class AcceleratorParams(Section):
    """How the training stages use a GPU (``train.precision``; docs/distributed.md). On a CPU
    the defaults change nothing."""

    # auto: bf16 autocast on a CUDA device with bf16 support, else fp32 | fp32 | bf16
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False  # torch.compile every trained network (first steps slower)


KdMethod = Literal["kd", "attention", "sp", "correlation", "rkd", "crd", "vid", "pkt"]
KD_METHODS: tuple[str, ...] = KdMethod.__args__  # the distill.REGISTRY keys (a test checks)


@dataclass(frozen=True)
class PretrainVoiceParams(Seeded, Section):
    """Speaker-ID pretraining of Wen et al.'s voice encoder (stage ``pretrain_voice``)."""

    iterations: Count = 480  # optimizer steps in total, also when resuming (paper: 50000)
    batch_size: Count = 32  # crops per step (paper: 128)
    lr: Positive = 1e-3  # Adam (paper: 2e-4, too slow to learn in 480 steps)
    crop_frames: FrameRange = (300, 800)  # random crop length range, one length per batch
    eval_every: Steps = 120  # steps between held-out evaluations (0: only at the end)
    channels: Widths = (128, 192, 288, 432)  # encoder widths (paper: 256, 384, 576, 864)
    resume: bool = False  # continue from resume_state when it matches this run
    out: str = "models/voice_encoder"  # <out>/seed_<seed>.pt
    resume_state: str = "models/resume/pretrain_voice"  # <resume_state>/seed_<seed>.pt


@dataclass(frozen=True)
class SupervisedParams(Seeded, Section):
    """Supervised voice -> 3DMM regressor on the pretrained encoder (``train_supervised``).

    Predicts ``face_model.n_shape`` shape and ``face_model.n_expression`` expression
    coefficients.
    """

    iterations: Count = 600  # optimizer steps (paper: 50000)
    batch_size: Count = 32  # crops per step (paper: 128)
    lr: Positive = 1e-3  # Adam (paper: 2e-4, too slow to learn in 600 steps)
    crop_frames: FrameRange = (300, 800)  # random crop length range, one length per batch
    dropout: Annotated[float, Range(0, 1, open_high=True)] = 0.2  # before the linear heads
    freeze_encoder: bool = True  # train the heads only; the speaker-ID encoder stays fixed
    eval_every: Steps = 100  # steps between held-out validation-MSE evaluations
    resume: bool = False
    out: str = "models/supervised"  # <out>/seed_<seed>.pt
    resume_state: str = "models/resume/train_supervised"  # <resume_state>/seed_<seed>.pt


@dataclass(frozen=True)
class SupervisedGe2eParams(Seeded, Section):
    """The supervised regressor on GE2E speaker embeddings (``train_supervised_ge2e``): the
    same targets, normalisation and validation as ``supervised``, a dropout and two linear heads
    on the 256-d embedding of each whole utterance (stage ``embed_ge2e``)."""

    iterations: Count = 1500  # optimizer steps (chosen on the val split: docs/networks.md)
    batch_size: Count = 32  # utterances per step
    lr: Positive = 1e-3  # Adam
    dropout: Annotated[float, Range(0, 1, open_high=True)] = 0.2  # on the embedding
    eval_every: Steps = 250  # steps between held-out validation-MSE evaluations
    resume: bool = False
    out: str = "models/supervised_ge2e"  # <out>/seed_<seed>.pt
    resume_state: str = "models/resume/train_supervised_ge2e"  # <resume_state>/seed_<seed>.pt


@dataclass(frozen=True)
class TeacherParams(Section):
    """The image -> 3DMM teacher (stage ``pretrain_teacher``).

    Synthetic world: trained on the teacher corpus (``teacher_corpus``, a 300W-LP analogue of
    labelled photos of a separate population). Real data with the BFM: set ``checkpoint`` and
    ``param_mean_std`` to 3DDFA-V2's files, ``arch`` to mobilenet_v1, ``input_size`` to 120 and
    ``widen_factor`` to match (then no training).
    """

    checkpoint: str | None = None  # 3DDFA-V2 .pth (e.g. mb1_120x120.pth); null: train one
    param_mean_std: str | None = None  # 3DDFA-V2's param_mean_std_62d_120x120.pkl
    arch: Literal["mobilenet_v1", "convnet"] = "convnet"  # convnet learns on a CPU (networks.md)
    widen_factor: Positive = 0.25  # MobileNetV1 width (3DDFA-V2 ships 1.0 and 0.5)
    widths: Widths = (32, 64, 128, 256)  # ConvNet block widths
    input_size: Annotated[int, Range(32)] = 64  # side the 120x120 crops are resized to
    iterations: Count = 1000  # optimizer steps (3DDFA: many epochs of 300W-LP)
    batch_size: Count = 32
    lr: Positive = 3e-3  # Adam peak of a one-cycle schedule
    cycle_steps: Count = 1000  # the one-cycle's length (then the floor lr); apart from iterations
    loss_weights: Literal["whitened", "vertex"] = "vertex"  # see train.teacher
    eval_every: Steps = 250
    resume: bool = False
    out: str = "models/teacher.pt"
    resume_state: str = "models/resume/pretrain_teacher.pt"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoint is not None and (self.arch, self.input_size) != ("mobilenet_v1", 120):
            raise FieldError(
                "checkpoint",
                self.checkpoint,
                "a 3DDFA-V2 MobileNetV1 reading 120x120 crops: set teacher.arch: mobilenet_v1 "
                "and teacher.input_size: 120",
            )


@dataclass(frozen=True)
class GanParams(Seeded, Section):
    """Wen et al.'s voice -> face GAN on the training faces (stage ``train_gan``); the joint
    unsupervised training keeps training it with these settings."""

    iterations: Count = 1000  # optimizer steps (Wen et al.: 30-50K at batch 128)
    batch_size: Count = 64  # voices and faces per step, each
    lr: Positive = 5e-4  # Adam, both optimizers (Wen et al.: 2e-4)
    betas: Betas = (0.5, 0.999)  # Adam betas (DCGAN's, as published)
    # 4 widths: 32 x 32 faces (paper: 5 widths, 1024, 512, 256, 128, 64, 64 x 64)
    generator_channels: Widths = (128, 64, 32, 16)
    face_channels: Widths = (16, 32, 64, 128)  # paper: 32, 64, 128, 256, 512
    batch_norm: bool = True  # DCGAN's BatchNorm in the generator (Wen et al.: none)
    tanh: bool = True  # tanh on the generator's output (Wen et al.: none)
    noise: NonNegative = 0.05  # std of the voice-embedding perturbation (as published)
    crop_frames: FrameRange = (300, 800)  # voice crop length range, one length per round
    voice_crops: Count = 2  # random crops embedded per training utterance (frozen encoder)
    flip: bool = True  # mirror each real face with probability 0.5
    probe_steps: Count = 1500  # training steps of the gender probe behind gender_agreement
    eval_every: Steps = 250
    resume: bool = False
    out: str = "models/gan_baseline"  # <out>/seed_<seed>.pt
    resume_state: str = "models/resume/train_gan"  # <resume_state>/seed_<seed>.pt
    samples: str = "reports/figures/gan_samples.png"
    banks: str = "data/voice_banks"  # <banks>/seed_<seed>.npz: the voice banks, for kd_ablation

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("generator_channels", "face_channels"):
            if not 3 <= len(getattr(self, name)) <= 5:
                raise FieldError(
                    name, getattr(self, name), "3-5 widths (16-64 pixels; Wen et al.'s: 5, 64x64)"
                )
        if len(self.generator_channels) != len(self.face_channels):
            raise FieldError(
                "face_channels",
                self.face_channels,
                f"as many widths as generator_channels {self.generator_channels} (one resolution)",
            )


def _default_kd_weights() -> dict[str, float]:
    return {
        "kd": 1.0,
        "attention": 1000.0,
        "sp": 3000.0,
        "correlation": 0.02,
        "rkd": 1.0,
        "crd": 0.8,
        "vid": 1.0,
        "pkt": 10000.0,  # the authors' gan_train_cascade.py (RepDistiller's default: 30000)
    }


@dataclass(frozen=True)
class KdParams(Section):
    """Joint GAN + student training distilled from the teacher: one model per KD method
    (the ``kd_ablation@<method>`` stages, Table 5); the unsupervised row is ``method``'s."""

    method: KdMethod = "pkt"  # the unsupervised row's KD method (the paper's choice: pkt)
    iterations: Count = 40  # joint steps (paper: 50000 at batch 128)
    batch_size: Count = 16  # voices and faces per step, each
    lr: Positive = (
        2e-4  # the joint Adam over generator + student + KD connectors (betas: gan.betas)
    )
    student_width: Positive = 0.5  # MobileNetV2 width multiplier (paper: 1.0)
    student_input: Annotated[int, Range(32)] = 64  # side the student resizes 120x120 input to
    param_weight: NonNegative = (
        0.5  # weight of MSE(p_teacher, p_student), 62 whitened (authors: 0.5)
    )
    triplet_weight: NonNegative = 1.5  # TripletMargin(p, p_same_speaker, p_other) (authors: 1.5)
    triplet_margin: Positive = 1.0  # torch's TripletMarginLoss default, as the authors use it
    weights: dict[KdMethod, Positive] = field(default_factory=_default_kd_weights)  # RepDistiller's
    options: dict[KdMethod, dict[str, Any]] = field(default_factory=dict)  # KD loss constructor
    eval_every: Steps = 20
    resume: bool = False
    out: str = "models/kd_ablation"  # <out>/<method>/seed_<seed>.pt
    resume_state: str = "models/resume/kd_ablation"  # <resume_state>/<method>/seed_<seed>.pt

    def __post_init__(self) -> None:
        super().__post_init__()
        # a partial mapping overrides some methods' weights; the others keep their defaults
        object.__setattr__(self, "weights", _default_kd_weights() | dict(self.weights))
        for name in ("weights", "options"):
            unknown = sorted(set(getattr(self, name)) - set(KD_METHODS))
            if unknown:
                raise FieldError(name, getattr(self, name), f"keys among {', '.join(KD_METHODS)}")
        bad = {m: w for m, w in self.weights.items() if not (isinstance(w, int | float) and w > 0)}
        if bad:
            raise FieldError("weights", bad, "a positive weight per method")

    def model_folder(self, method: str) -> Path:
        """The folder of ``method``'s models, one per seed (``<out>/<method>``)."""
        return Path(self.out) / method

    def model_path(self, method: str, seed: int) -> Path:
        """Where ``method``'s model of seed ``seed`` goes (``<out>/<method>/seed_<seed>.pt``)."""
        return self.model_folder(method) / seed_file(seed)

    def state_path(self, method: str, seed: int) -> Path:
        """Where ``method``'s run of seed ``seed`` keeps its resume state."""
        return Path(self.resume_state) / method / seed_file(seed)
