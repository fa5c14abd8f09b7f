"""Anatomy → voice: per-speaker voice traits driven by face geometry.

Every coupled trait ``t`` reads a fixed combination ``a_t = Σ_k w_tk · anatomy_z[k]`` of
within-gender face z-scores (``voice2mesh.synth.anatomy``), standardised to unit variance, and
gets the within-gender z-score

    z_t = sqrt(c) · a_t + sqrt(1 - c) · e_t,        e_t ~ N(0, 1) identity noise,

with ``c = voice_coupling`` in [0, 1]. The trait's within-gender spread is the same for every
``c``; the share of it explained by the face is ``c``. The trait value is the gender's mean
plus ``sd · z_t`` (on a log scale for F0 and vocal-tract length). Gender shifts the means
whatever ``c`` is, so at ``c = 0`` a voice tells its gender and nothing else about the face.

| trait            | driver a_t (weights on z)          | male / female mean | within-gender sd |
|------------------|------------------------------------|--------------------|------------------|
| vtl_cm           | +0.8 face_length +0.6 face_size    | 17.0 / 14.5 cm     | 6 % (log)        |
| f0_hz            | −0.8 face_size −0.6 face_width     | 115 / 210 Hz       | 2 semitones      |
| nasality         | +1.0 nose_size                     | 0.25 / 0.30        | 0.12             |
| spectral_tilt_db | +1.0 jaw_width                     | −9 / −10.5 dB/oct  | 1.5 dB/oct       |
| breathiness      | −1.0 chin                          | 0.25 / 0.35        | 0.12             |
| f0_range         | +1.0 cheek                         | 5 / 6 semitones    | 1.5 semitones    |

Jitter, shimmer and speaking rate are identity noise only (not coupled to the face).

Physiology behind the choices (loosely):

* Vocal-tract length scales with body and head size, and formant frequencies scale with
  ``1 / VTL`` (quarter-wave tube, F_n = (2n − 1) c / 4L): Fitch 1997, "Vocal tract length and
  formant frequency dispersion correlate with body size in rhesus macaques"; Fitch & Giedd 1999
  (MRI of 129 humans: VTL ≈ 17 cm in adult men, ≈ 14.5 cm in women); Pisanski et al. 2014
  (meta-analysis: formants predict height within sex, r ≈ −0.3). Face length is the facial
  dimension closest to the pharynx + oral-cavity length.
* F0 ∝ (1 / vocal-fold length) · sqrt(tension / density) (Titze 1989, 1994). Men's ≈ 60 %
  longer folds give the ≈ 10-semitone gender gap; within a sex, larynx size follows body size and
  androgen-linked facial breadth only weakly (Pisanski et al. 2014: |r| ≈ 0.1–0.2). Here the
  effect is "weak" in size: a 2-semitone spread against a 10.5-semitone gender shift.
* Nasality: a larger nose / nasal cavity couples a larger, lower-resonance side branch (nasal
  pole-zero pair, wider F1), e.g. Stevens 1998, *Acoustic Phonetics*, ch. 6.
* Spectral tilt, breathiness and F0 range from jaw, chin and cheek are *synthetic conventions*
  (a wider jaw ↔ wider mouth opening ↔ stronger high frequencies; a receding chin ↔ breathier,
  incomplete glottal closure, cf. Hanson 1997 on breathiness and tilt; fuller cheeks ↔ livelier
  prosody), chosen so every facial measurement leaves a trace that utterance-level voice
  statistics (formant spacing, log-F0 mean and spread, spectral slope, noise level) can pick up.

The anatomy z-scores are often correlated (face_size contains face_length and face_width). Pass
``anatomy_corr`` (``anatomy_correlation`` of the population) so each ``a_t`` has unit variance
exactly; without it the weights are normalised as if the z-scores were uncorrelated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.synth.anatomy import ANATOMY_KEYS

GENDERS = ("male", "female")
_SEMITONE = 0.6931471805599453 / 12  # ln(2) / 12: a semitone in natural-log units
Z_CLIP = 3.0  # trait z-scores are clipped to ±3 sd so no voice leaves the human range


@dataclass(frozen=True)
class TraitSpec:
    """How one coupled trait follows the face (see the table in the module docstring)."""

    weights: Mapping[str, float]  # anatomy key -> weight before standardisation
    male: float  # male population mean
    female: float  # female population mean
    sd: float  # within-gender sd: trait units, or natural-log units when log_scale
    log_scale: bool = False  # value = mean · exp(sd · z) instead of mean + sd · z
    lo: float = -np.inf  # hard limits after the z clip
    hi: float = np.inf


COUPLED_TRAITS: dict[str, TraitSpec] = {
    "vtl_cm": TraitSpec({"face_length": 0.8, "face_size": 0.6}, 17.0, 14.5, 0.06, True),
    "f0_hz": TraitSpec(
        {"face_size": -0.8, "face_width": -0.6}, 115.0, 210.0, 2.0 * _SEMITONE, True
    ),
    "nasality": TraitSpec({"nose_size": 1.0}, 0.25, 0.30, 0.12, lo=0.0, hi=1.0),
    "spectral_tilt_db": TraitSpec({"jaw_width": 1.0}, -9.0, -10.5, 1.5, lo=-16.0, hi=-4.0),
    "breathiness": TraitSpec({"chin": -1.0}, 0.25, 0.35, 0.12, lo=0.0, hi=1.0),
    "f0_range": TraitSpec({"cheek": 1.0}, 5.0, 6.0, 1.5, lo=1.5, hi=12.0),
}
# Identity-only traits: (male median, female median, sd of log) and limits.
_JITTER = (0.008, 0.010, 0.3, 0.002, 0.03)  # relative period perturbation (sd per cycle)
_SHIMMER = (0.045, 0.050, 0.3, 0.01, 0.15)  # relative amplitude perturbation (sd per cycle)
_RATE = (4.6, 4.4, 0.5, 3.0, 6.5)  # syllables per second (linear sd)


@dataclass(frozen=True)
class VoiceIdentity:
    """A speaker's voice, fixed across their utterances.

    Attributes:
        gender: "male" or "female".
        f0_hz: median fundamental frequency of the speaker's voiced speech.
        vtl_cm: vocal-tract length; formants scale as ``17.5 / vtl_cm`` × the reference table.
        nasality: 0..1, strength of the nasal pole-zero pair and F1 damping.
        spectral_tilt_db: glottal-flow spectral slope in dB/octave (negative; −12 keeps the
            Rosenberg pulse's own slope, population means are −9 (male) and −10.5).
        breathiness: 0..1 aspiration noise level and glottal open quotient.
        jitter: sd of the relative cycle-to-cycle period perturbation.
        shimmer: sd of the relative cycle-to-cycle amplitude perturbation.
        f0_range: prosodic pitch range in semitones (accent size, declination).
        speaking_rate: syllables per second of running speech.
        z_vtl_cm, z_f0_hz, z_nasality, z_spectral_tilt_db, z_breathiness, z_f0_range:
            within-gender z-score of each coupled trait (before the ±3 clip); see ``trait_z``.

    Every field is a plain str or float, so ``dataclasses.asdict`` is a flat truth-file row.
    """

    gender: str
    f0_hz: float
    vtl_cm: float
    nasality: float
    spectral_tilt_db: float
    breathiness: float
    jitter: float
    shimmer: float
    f0_range: float
    speaking_rate: float
    z_vtl_cm: float = 0.0
    z_f0_hz: float = 0.0
    z_nasality: float = 0.0
    z_spectral_tilt_db: float = 0.0
    z_breathiness: float = 0.0
    z_f0_range: float = 0.0

    @property
    def trait_z(self) -> dict[str, float]:
        """``{trait: within-gender z}`` for every key of ``COUPLED_TRAITS``."""
        return {name: getattr(self, f"z_{name}") for name in COUPLED_TRAITS}


def anatomy_correlation(anatomy_z: Mapping[str, np.ndarray]) -> np.ndarray:
    """Correlation matrix of a population's anatomy z-scores, for ``anatomy_corr``.

    Args:
        anatomy_z: ``{key: (B,)}`` within-gender z-scores for every key of ``ANATOMY_KEYS``.

    Returns:
        (7, 7) correlation matrix in ``ANATOMY_KEYS`` order.
    """
    _check_keys(anatomy_z)
    x = np.stack([np.asarray(anatomy_z[k], np.float64) for k in ANATOMY_KEYS])  # (7, B)
    x = x - x.mean(axis=1, keepdims=True)
    # np.corrcoef's formula with products summed elementwise: its BLAS product rounds
    # differently on different CPUs.
    cov = (x[:, None, :] * x[None, :, :]).sum(axis=-1)  # (7, 7)
    sd = np.sqrt(np.diag(cov))
    return np.clip(cov / sd[:, None] / sd[None, :], -1.0, 1.0)


def trait_drivers(
    anatomy_z: Mapping[str, float], anatomy_corr: np.ndarray | None = None
) -> dict[str, float]:
    """The standardised anatomy combination ``a_t`` behind every coupled trait.

    Args:
        anatomy_z: ``{key: z}`` within-gender z-scores, every key of ``ANATOMY_KEYS``.
        anatomy_corr: optional (7, 7) correlation of the z-scores (``ANATOMY_KEYS`` order);
            None treats them as uncorrelated.

    Returns:
        ``{trait: a_t}``, each with unit variance over the population.
    """
    _check_keys(anatomy_z)
    z = np.array([float(anatomy_z[k]) for k in ANATOMY_KEYS])  # (7,)
    corr = np.eye(len(ANATOMY_KEYS)) if anatomy_corr is None else np.asarray(anatomy_corr)
    if corr.shape != (len(ANATOMY_KEYS),) * 2:
        raise ValueError(
            f"anatomy_corr must be {len(ANATOMY_KEYS)}x{len(ANATOMY_KEYS)} in "
            f"ANATOMY_KEYS order {ANATOMY_KEYS}, got shape {corr.shape}"
        )
    out = {}
    for name, spec in COUPLED_TRAITS.items():
        w = np.array([spec.weights.get(k, 0.0) for k in ANATOMY_KEYS])  # (7,)
        variance = (w[:, None] * corr * w[None, :]).sum()  # w·corr·w without BLAS (see above)
        out[name] = float((w * z).sum() / np.sqrt(variance))
    return out


def voice_identity(
    anatomy_z: Mapping[str, float],
    gender: str,
    coupling: float,
    rng: np.random.Generator,
    anatomy_corr: np.ndarray | None = None,
) -> VoiceIdentity:
    """Draw one speaker's voice from their face (mapping in the module docstring).

    The generator is consumed in a fixed order whatever ``coupling`` is, so one seed gives the
    same identity noise at every coupling and a coupling sweep changes voices smoothly.

    Args:
        anatomy_z: ``{key: z}`` within-gender z-scores of the true face measurements.
        gender: "male" or "female".
        coupling: share of each coupled trait's within-gender variance explained by the face.
        rng: the identity's generator.
        anatomy_corr: optional (7, 7) correlation of the population's z-scores.

    Returns:
        The speaker's ``VoiceIdentity``.
    """
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    if not 0.0 <= coupling <= 1.0:
        raise ValueError(f"voice coupling must lie in [0, 1], got {coupling}")
    drivers = trait_drivers(anatomy_z, anatomy_corr)
    noise = rng.standard_normal(len(COUPLED_TRAITS))  # e_t, drawn before anything else
    extra = rng.standard_normal(3)  # jitter, shimmer, speaking rate
    female = gender == "female"
    values = {}
    for (name, spec), e in zip(COUPLED_TRAITS.items(), noise, strict=True):
        z = np.sqrt(coupling) * drivers[name] + np.sqrt(1.0 - coupling) * e
        values[f"z_{name}"] = float(z)
        zc = float(np.clip(z, -Z_CLIP, Z_CLIP))
        mean = spec.female if female else spec.male
        value = mean * pm.exp(spec.sd * zc) if spec.log_scale else mean + spec.sd * zc
        values[name] = float(np.clip(value, spec.lo, spec.hi))

    def lognormal(spec: tuple[float, ...], e: float) -> float:
        median = spec[1] if female else spec[0]
        return float(np.clip(median * pm.exp(spec[2] * np.clip(e, -Z_CLIP, Z_CLIP)), *spec[3:]))

    rate_mean = _RATE[1] if female else _RATE[0]
    rate = float(np.clip(rate_mean + _RATE[2] * np.clip(extra[2], -Z_CLIP, Z_CLIP), *_RATE[3:]))
    return VoiceIdentity(
        gender=gender,
        jitter=lognormal(_JITTER, extra[0]),
        shimmer=lognormal(_SHIMMER, extra[1]),
        speaking_rate=rate,
        **values,
    )


def _check_keys(anatomy_z: Mapping[str, object]) -> None:
    missing = [k for k in ANATOMY_KEYS if k not in anatomy_z]
    if missing:
        raise KeyError(f"anatomy_z lacks {missing}; it needs every key of {ANATOMY_KEYS}")
