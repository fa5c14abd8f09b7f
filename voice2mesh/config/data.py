"""The data and evaluation sections of params.yaml (one frozen dataclass per section)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from voice2mesh.config.schema import (
    Count,
    FieldError,
    Pattern,
    Positive,
    Probability,
    Range,
    Section,
    Steps,
)

# resemblyzer 0.1.4's resemblyzer/pretrained.pt (the wheel's RECORD holds the same hash)
GE2E_WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
Sha256 = Annotated[str, Pattern(r"[0-9a-f]{64}", "a sha256 as 64 lowercase hex digits")]


@dataclass(frozen=True)
class FaceModelParams(Section):
    """Which 3D Morphable Model the pipeline uses (docs/face_model.md)."""

    kind: Literal["synthetic", "sfm", "bfm", "bfm68"] = "synthetic"
    path: str | None = None  # model file or folder; required unless kind == "synthetic"
    n_shape: Count = 40  # shape components used downstream (the paper: 40)
    n_expression: Steps = 10  # expression components used downstream (the paper: 10)
    preview_size: Count = 192  # pixels per tile of reports/figures/face_model.png


@dataclass(frozen=True)
class ReleaseParams(Section):
    """How ``intersect.source: release`` reads the authors' Voxceleb-3D release (the flags of
    ``voice2mesh import-release`` of the same names; docs/real_data.md)."""

    voices: str | None = None  # under voxceleb_root; default fbank/, else preprocessed_MFCC/
    faces: tuple[str, ...] = ()  # face folders under voxceleb_root; default: all the others
    aliases: dict[str, str] = field(default_factory=dict)  # speaker folder -> VGGFace1 ID
    workers: Count = 2  # processes checking the fbank files in intersect (features: its own)


SYNTHETIC_VOXCELEB = "data/synthetic/voxceleb1"  # the synthetic world's VoxCeleb1: no release


@dataclass(frozen=True)
class IntersectParams(Section):
    """Where the voices and faces live, and how identities are split (stage ``intersect``).

    ``source`` picks the input of ``intersect``, ``features`` and ``fit3dmm``: ``voxceleb``
    (VoxCeleb1 wavs, VGGFace photos; fits from landmarks) or ``release`` (the authors'
    Voxceleb-3D release at ``voxceleb_root``: fbank .npy files, 3DMM parameter files).
    """

    source: Literal["voxceleb", "release"] = "voxceleb"
    voxceleb_root: str = SYNTHETIC_VOXCELEB  # vox1_meta.csv and wav/; release: the release
    # One folder per VGGFace1 ID. Release: voxceleb_root again (a DVC dependency then: the
    # photos and parameter files sit in the release's face folders, the manifest names them).
    vggface_root: str = "data/synthetic/vggface"
    meta_file: str | None = None  # default: <voxceleb_root>/vox1_meta.csv
    test_initials: str = "ABCDE"  # names starting with these letters are the test split
    val_fraction: Annotated[float, Range(0, 1, open_high=True)] = 0.15  # of the F-Z identities
    # wav ids (release: speaker folders) that the meta file does not list
    unknown_ids: Literal["error", "drop"] = "error"
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    release: ReleaseParams = field(default_factory=ReleaseParams)  # source: release only
    out: str = "data/manifest"

    @property
    def no_waveforms(self) -> str | None:
        """Why the voices of ``source`` have no waveform (GE2E embeds waveforms), or None."""
        if self.source != "release":
            return None
        return (
            "intersect.source is release: the release's voices are fbank features without "
            "waveforms, and GE2E embeds waveforms"
        )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source != "release":
            return
        root, photos = (Path(os.path.abspath(p)) for p in (self.voxceleb_root, self.vggface_root))
        if root == Path(os.path.abspath(SYNTHETIC_VOXCELEB)):
            raise FieldError(
                "voxceleb_root",
                self.voxceleb_root,
                "the unpacked Voxceleb-3D release's folder (vox1_meta.csv, fbank/, face folders) "
                "while source is release; it is still the synthetic world's VoxCeleb1",
            )
        if photos != root:
            raise FieldError(
                "vggface_root",
                self.vggface_root,
                f"the release's folder, voxceleb_root = {self.voxceleb_root!r}, while source is "
                "release: its photos and parameter files sit in its face folders",
            )


@dataclass(frozen=True)
class LandmarksParams(Section):
    """68-point landmark detection (stage ``landmarks``)."""

    # pts: .pts files beside the images; fan: 3D-FAN (the paper's); dlib: iBUG 68-point
    # predictor, weights in a pip package (offline)
    backend: Literal["pts", "fan", "dlib"] = "pts"
    batch_size: Count = 16  # images per detector call
    shard_size: Count = 4096  # faces per shard file (detected together; memory is per shard)
    max_reject_fraction: Probability = 0.5  # fail the stage when more images are rejected
    out: str = "data/landmarks"


@dataclass(frozen=True)
class FeaturesParams(Section):
    """VAD + normalised 64-bin log-mel per utterance (stage ``features``)."""

    shard_size: Count = 256  # utterances per shard file
    workers: Count = 2  # processes; the output does not depend on it
    min_speech_s: Annotated[float, Range(0)] = 0.5  # utterances with less speech are rejected
    max_reject_fraction: Probability = 0.5  # fail the stage when more utterances are rejected
    out: str = "data/features"


@dataclass(frozen=True)
class Ge2eParams(Section):
    """GE2E speaker embeddings (resemblyzer's pretrained weights) of every utterance the
    ``features`` stage stored (stage ``embed_ge2e``)."""

    # seconds left after GE2E's own silence trimming (webrtcvad mode 3); fewer are rejected
    min_speech_s: Annotated[float, Range(0)] = 0.5
    max_reject_fraction: Probability = 0.5  # fail the stage when more utterances are rejected
    weights_sha256: Sha256 = GE2E_WEIGHTS_SHA256  # the installed weights must have this hash
    cache: str = "data/cache/ge2e.npz"  # embeddings by file hash, kept across `dvc repro`
    workers: Count = 2  # processes; the output does not depend on it
    out: str = "data/embeddings/ge2e"


@dataclass(frozen=True)
class FitParams(Section):
    """Batched MAP fitting of the 3DMM to the landmarks (stage ``fit3dmm``)."""

    landmark_sigma: Positive = 0.02  # landmark noise std as a fraction of the face size
    shape_prior: Annotated[float, Range(0)] = 1.0  # Gaussian shape prior weight (1 = the model's)
    expression_prior: Annotated[float, Range(0)] = 1.0  # Gaussian expression prior weight
    n_iterations: Count = 2  # alternating pose / coefficient iterations
    n_refine: Steps = 1  # joint Gauss-Newton steps afterwards
    tol: Positive = 0.1  # converged: one more Gauss-Newton step lowers E by ≤ tol·(1+E)
    max_residual_norm: Positive = 0.1  # reject fits whose RMS residual exceeds this × face size
    min_valid: Annotated[int, Range(6, 68)] = 20  # reject images with fewer usable landmarks
    # Per-identity reference face. The paper hand-picks one neutral frontal fit; automatically
    # (best_frontal) one fit keeps its landmark noise, and on the default world the mean of an
    # identity's 4-8 fits is the cleaner target and reference (see the README's evaluation notes).
    reference: Literal["best_frontal", "mean"] = "mean"
    batch_size: Count = 256  # images solved together
    max_reject_fraction: Probability = 0.5  # fail the stage when more fits are rejected
    out: str = "data/fits"


@dataclass(frozen=True)
class EvaluateParams(Section):
    """The paper's metrics on the test identities, with CIs and paired tests (``evaluate``)."""

    n_utterances: Count = 3  # utterances per test identity (the paper: 3)
    n_resamples: Annotated[int, Range(100)] = 20000  # identity bootstrap resamples for the CIs
    confidence: Annotated[float, Range(0, 1, open_low=True, open_high=True)] = 0.95
    gender_l2: Positive = 1.0  # ridge penalty of the gender-from-voice logistic regression
    truth: str | None = "data/synthetic/truth"  # synthetic world only: also score vs true faces
    out: str = "data/evaluation"


@dataclass(frozen=True)
class ReportParams(Section):
    """Tables 1-5 and the figures (stage ``report``)."""

    tables: str = "reports/tables.md"
    figures: str = "reports/figures"
    n_speakers: Count = 4  # test speakers in the mesh-comparison figure
    size: Count = 160  # pixels per rendered mesh tile
