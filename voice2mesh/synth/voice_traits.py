"""Anatomy → voice: per-speaker voice traits, three of them linked to the anatomy producing them.

Each coupled trait ``t`` reads a fixed combination ``a_t = Σ_k w_tk · anatomy_z[k]`` of
within-gender face z-scores (``voice2mesh.synth.anatomy``), standardised to unit variance, and
gets the within-gender z-score

    z_t = r_t · a_t + sqrt(1 - r_t²) · e_t,     r_t = sign(ρ_t) · min(1, c · |ρ_t|),

with ``e_t ~ N(0, 1)`` identity noise, ``ρ_t`` the within-sex correlation the literature reports
for the link and ``c = voice_coupling`` (``synth.voice_coupling``) a scale on all links at once:
0 is no link, 1 the literature, ``MAX_VOICE_COUPLING = 1 / min |ρ_t|`` every link at r = 1. The
trait's within-gender spread is the same for every ``c``. Its value is the gender's mean plus
``sd · z_t`` (on a log scale for F0 and vocal-tract length), clipped to ±3 sd and hard limits.
Gender shifts the means whatever ``c`` is, so at ``c = 0`` a voice tells its gender only.

| trait    | driver a_t                      | ρ     | range        | sources                      |
|----------|---------------------------------|-------|--------------|------------------------------|
| vtl_cm   | 0.8 face_length + 0.6 face_size | +0.30 | [0.2, 0.4]   | Pisanski 2014; Fitch 1997/99 |
| f0_hz    | 1.0 face_size                   | −0.12 | [−0.25, 0.0] | Pisanski 2014; Titze 1994    |
| nasality | 1.0 nose_size                   | +0.20 | [0.1, 0.3]   | Stevens 1998 (mechanism)     |

The correlation r_t each coupling gives (it clamps at |r| = 1):

| c        | 0 | 0.5   | 1     | 2     | 4     | max = 1 / 0.12 ≈ 8.33 |
|----------|---|-------|-------|-------|-------|-----------------------|
| vtl_cm   | 0 | +0.15 | +0.30 | +0.60 | +1    | +1                    |
| f0_hz    | 0 | −0.06 | −0.12 | −0.24 | −0.48 | −1                    |
| nasality | 0 | +0.10 | +0.20 | +0.40 | +0.80 | +1                    |

Sources and mechanisms:

* ``vtl_cm``: formants follow ``1 / VTL`` (quarter-wave tube, F_n = (2n − 1) c / 4L; the speech
  synthesiser scales its formant table by ``17.5 / vtl_cm``), and the tract grows with head and
  body size (Fitch 1997, J. Acoust. Soc. Am. 102; Fitch & Giedd 1999, J. Acoust. Soc. Am. 106:
  MRI of 129 people, VTL ≈ 17 cm in adult men, ≈ 14.5 cm in women). Within sex, formant
  measures predict height at r ≈ −0.3 (Pisanski et al. 2014, Animal Behaviour 95, meta-
  analysis), i.e. ≈ +0.3 for VTL. Face length is the facial dimension closest to the pharynx
  plus oral-cavity length.
* ``f0_hz``: F0 ∝ (1 / vocal-fold length) · sqrt(tension / density) (Titze 1994, *Principles of
  Voice Production*); men's longer folds give the ≈ 10-semitone gender gap, but within a sex
  larynx size follows body size only weakly: F0 explains < 2 % of height variance (Pisanski et
  al. 2014), so ρ = −0.12.
* ``nasality``: a larger nose and nasal cavity make a larger, lower-resonance side branch
  (nasal pole-zero pair, wider F1; Stevens 1998, *Acoustic Phonetics*, ch. 6). No within-sex
  correlation has been published for this link, so it takes the middle of the 0.1–0.3 band the
  voice–body literature reports.

Spectral tilt, breathiness, F0 range, jitter, shimmer and speaking rate are identity noise only:
gender means and within-gender spreads as in ``IDENTITY_TRAITS``, nothing from the face.

The anatomy z-scores are correlated (face_size contains face_length). Pass ``anatomy_corr``
(``anatomy_correlation`` of the population) so each ``a_t`` has unit variance exactly; without
it the weights are normalised as if the z-scores were uncorrelated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.synth.anatomy import ANATOMY_KEYS
from voice2mesh.synth.spec import MAX_VOICE_COUPLING

GENDERS = ("male", "female")
_SEMITONE = 0.6931471805599453 / 12  # ln(2) / 12: a semitone in natural-log units
Z_CLIP = 3.0  # trait z-scores are clipped to ±3 sd so no voice leaves the human range


@dataclass(frozen=True)
class Spread:
    """A trait's population: gender means and within-gender spread."""

    male: float  # male mean (median when log_scale)
    female: float  # female mean (median when log_scale)
    sd: float  # within-gender sd: trait units, or natural-log units when log_scale
    log_scale: bool = False  # value = mean · exp(sd · z) instead of mean + sd · z
    lo: float = -np.inf  # hard limits after the z clip
    hi: float = np.inf

    def value(self, gender: str, z: float) -> float:
        """The trait value of a speaker of ``gender`` at within-gender z-score ``z``."""
        zc = float(np.clip(z, -Z_CLIP, Z_CLIP))
        mean = self.female if gender == "female" else self.male
        value = mean * pm.exp(self.sd * zc) if self.log_scale else mean + self.sd * zc
        return float(np.clip(value, self.lo, self.hi))


@dataclass(frozen=True)
class Link:
    """One voice-face link (see the table in the module docstring)."""

    weights: Mapping[str, float]  # anatomy key -> weight before standardisation
    rho: float  # the literature's within-sex correlation of trait and driver
    rho_range: tuple[float, float]  # the range the cited sources span
    source: str  # short citation
    spread: Spread

    @property
    def driver(self) -> str:
        """The driver as text, e.g. ``"0.8 face_length + 0.6 face_size"``."""
        text = " + ".join(f"{w:.1f} {k}" for k, w in self.weights.items())
        return text.replace("+ -", "- ")


COUPLED_TRAITS: dict[str, Link] = {
    "vtl_cm": Link(
        {"face_length": 0.8, "face_size": 0.6},
        0.30,
        (0.2, 0.4),
        "Pisanski et al. 2014 (meta-analysis, formants vs height within sex); Fitch & Giedd "
        "1999; Fitch 1997",
        Spread(17.0, 14.5, 0.06, log_scale=True),
    ),
    "f0_hz": Link(
        {"face_size": 1.0},
        -0.12,
        (-0.25, 0.0),
        "Pisanski et al. 2014 (F0 explains < 2 % of height variance within sex); Titze 1994",
        Spread(115.0, 210.0, 2.0 * _SEMITONE, log_scale=True),
    ),
    "nasality": Link(
        {"nose_size": 1.0},
        0.20,
        (0.1, 0.3),
        "Stevens 1998 ch. 6 (mechanism); no published within-sex r: middle of the 0.1-0.3 "
        "voice-body band",
        Spread(0.25, 0.30, 0.12, lo=0.0, hi=1.0),
    ),
}
# Identity noise only, drawn after the coupled traits' e_t in this order.
IDENTITY_TRAITS: dict[str, Spread] = {
    "spectral_tilt_db": Spread(-9.0, -10.5, 1.5, lo=-16.0, hi=-4.0),  # dB/octave
    "breathiness": Spread(0.25, 0.35, 0.12, lo=0.0, hi=1.0),
    "f0_range": Spread(5.0, 6.0, 1.5, lo=1.5, hi=12.0),  # semitones
    "jitter": Spread(0.008, 0.010, 0.3, log_scale=True, lo=0.002, hi=0.03),
    "shimmer": Spread(0.045, 0.050, 0.3, log_scale=True, lo=0.01, hi=0.15),
    "speaking_rate": Spread(4.6, 4.4, 0.5, lo=3.0, hi=6.5),  # syllables per second
}


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
        z_vtl_cm, z_f0_hz, z_nasality: within-gender z-score of each coupled trait (before the
            ±3 clip); see ``trait_z``.

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

    @property
    def trait_z(self) -> dict[str, float]:
        """``{trait: within-gender z}`` for every key of ``COUPLED_TRAITS``."""
        return {name: getattr(self, f"z_{name}") for name in COUPLED_TRAITS}


def link_r(rho: float, coupling: float) -> float:
    """A link's correlation at coupling ``c``: ``sign(ρ) · min(1, c · |ρ|)``."""
    return float(np.sign(rho) * min(1.0, coupling * abs(rho)))


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
    for name, link in COUPLED_TRAITS.items():
        w = np.array([link.weights.get(k, 0.0) for k in ANATOMY_KEYS])  # (7,)
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

    The generator is consumed identically whatever ``coupling`` is (one draw of every trait's
    identity noise, in a fixed order), so one seed gives the same noise at every coupling and a
    coupling sweep changes voices smoothly.

    Args:
        anatomy_z: ``{key: z}`` within-gender z-scores of the true face measurements.
        gender: "male" or "female".
        coupling: scale on every link's literature r, in [0, ``MAX_VOICE_COUPLING``].
        rng: the identity's generator.
        anatomy_corr: optional (7, 7) correlation of the population's z-scores.

    Returns:
        The speaker's ``VoiceIdentity``.
    """
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    if not 0.0 <= coupling <= MAX_VOICE_COUPLING:
        raise ValueError(
            f"voice coupling must lie in [0, {MAX_VOICE_COUPLING:.4g}] (1 / the weakest link's "
            f"literature |r|), got {coupling}"
        )
    drivers = trait_drivers(anatomy_z, anatomy_corr)
    noise = pm.standard_normal(rng, len(COUPLED_TRAITS) + len(IDENTITY_TRAITS))  # fixed order
    coupled_noise, identity_noise = np.split(noise, [len(COUPLED_TRAITS)])
    values = {}
    for (name, link), e in zip(COUPLED_TRAITS.items(), coupled_noise, strict=True):
        r = link_r(link.rho, coupling)
        z = r * drivers[name] + np.sqrt(max(0.0, 1.0 - r * r)) * float(e)
        values[f"z_{name}"] = float(z)
        values[name] = link.spread.value(gender, z)
    for (name, spread), e in zip(IDENTITY_TRAITS.items(), identity_noise, strict=True):
        values[name] = spread.value(gender, float(e))
    return VoiceIdentity(gender=gender, **values)


def _check_keys(anatomy_z: Mapping[str, object]) -> None:
    missing = [k for k in ANATOMY_KEYS if k not in anatomy_z]
    if missing:
        raise KeyError(f"anatomy_z lacks {missing}; it needs every key of {ANATOMY_KEYS}")
