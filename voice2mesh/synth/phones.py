"""Phone inventory and random utterance content: phrases → syllables → phone segments.

Formant targets are for a reference vocal tract of ``REF_VTL_CM`` = 17.5 cm (a uniform tube of
that length resonates at 500, 1500, 2500, 3500, 4500 Hz); the synthesizer scales them by
``REF_VTL_CM / vtl_cm``. Vowel F1–F3 are Peterson & Barney's (1952) adult-male averages;
consonant targets are textbook loci (labial F2 ≈ 900, alveolar ≈ 1700, velar ≈ 1900 Hz; Kent &
Read, *The Acoustic Analysis of Speech*). Durations are for 4.5 syllables per second and scale
with the speaker's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from voice2mesh import portable as pm

REF_VTL_CM = 17.5
_F45 = (3500.0, 4500.0)  # F4, F5 of the reference tract, shared by all phones
_REF_RATE = 4.5  # syllables / s the base durations are written for

# Post-tract frication noise bands (Hz at the reference tract): name -> (low, high).
FRICATION_BANDS: dict[str, tuple[float, float]] = {
    "s": (3800.0, 7500.0),
    "sh": (2000.0, 5200.0),
    "f": (1000.0, 7500.0),
    "th": (1400.0, 7500.0),
    "burst_p": (300.0, 1600.0),
    "burst_t": (2800.0, 7500.0),
    "burst_k": (1300.0, 3200.0),
}
BAND_INDEX = {name: i for i, name in enumerate(FRICATION_BANDS)}

# Segment kinds (codes in SegmentPlan.kind).
PAUSE, VOWEL, APPROXIMANT, NASAL, FRICATIVE, CLOSURE, BURST, ASPIRATION = range(8)


@dataclass(frozen=True)
class Phone:
    """One phone's targets; ``formants`` None means "take the next vowel's" (h, aspiration)."""

    kind: int
    formants: tuple[float, float, float] | None
    dur_ms: float
    voicing: float = 0.0  # glottal source amplitude
    aspiration: float = 0.0  # noise into the tract
    frication: float = 0.0  # post-tract noise amplitude relative to the vowel RMS
    band: str | None = None
    nasal_zero_hz: float = 0.0  # antiformant of a nasal murmur (0: the speaker's nasality)
    bw_scale: float = 1.0  # oral formant bandwidth multiplier (nasal murmur damping)


VOWELS: dict[str, tuple[float, float, float]] = {  # Peterson & Barney 1952, men
    "iy": (270.0, 2290.0, 3010.0),
    "ih": (390.0, 1990.0, 2550.0),
    "eh": (530.0, 1840.0, 2480.0),
    "ae": (660.0, 1720.0, 2410.0),
    "ah": (520.0, 1190.0, 2390.0),
    "aa": (730.0, 1090.0, 2440.0),
    "ao": (570.0, 840.0, 2410.0),
    "uh": (440.0, 1020.0, 2240.0),
    "uw": (300.0, 870.0, 2240.0),
    "er": (490.0, 1350.0, 1690.0),
}
_LABIAL, _ALVEOLAR, _VELAR = (
    (300.0, 900.0, 2100.0),
    (350.0, 1700.0, 2600.0),
    (300.0, 1900.0, 2300.0),
)
CONSONANTS: dict[str, Phone] = {
    "l": Phone(APPROXIMANT, (360.0, 1300.0, 2700.0), 55, voicing=0.6),
    "r": Phone(APPROXIMANT, (310.0, 1060.0, 1380.0), 55, voicing=0.6),
    "w": Phone(APPROXIMANT, (290.0, 610.0, 2150.0), 50, voicing=0.6),
    "j": Phone(APPROXIMANT, (260.0, 2070.0, 3020.0), 50, voicing=0.6),
    "m": Phone(NASAL, (280.0, 900.0, 2200.0), 65, 0.7, nasal_zero_hz=1000.0, bw_scale=2.5),
    "n": Phone(NASAL, (280.0, 1600.0, 2600.0), 60, 0.7, nasal_zero_hz=1600.0, bw_scale=2.5),
    "s": Phone(FRICATIVE, _ALVEOLAR, 95, frication=0.3, band="s"),
    "z": Phone(FRICATIVE, _ALVEOLAR, 75, voicing=0.25, frication=0.2, band="s"),
    "sh": Phone(FRICATIVE, (350.0, 1900.0, 2400.0), 95, frication=0.35, band="sh"),
    "f": Phone(FRICATIVE, _LABIAL, 85, frication=0.06, band="f"),
    "v": Phone(FRICATIVE, _LABIAL, 60, voicing=0.3, frication=0.04, band="f"),
    "th": Phone(FRICATIVE, (350.0, 1400.0, 2600.0), 80, frication=0.04, band="th"),
    "h": Phone(ASPIRATION, None, 60, aspiration=0.35),
}
# Stops: place locus, burst band, voiced?
STOPS: dict[str, tuple[tuple[float, float, float], str, bool]] = {
    "p": (_LABIAL, "burst_p", False),
    "t": (_ALVEOLAR, "burst_t", False),
    "k": (_VELAR, "burst_k", False),
    "b": (_LABIAL, "burst_p", True),
    "d": (_ALVEOLAR, "burst_t", True),
    "g": (_VELAR, "burst_k", True),
}
_ONSETS = (
    "p",
    "t",
    "k",
    "b",
    "d",
    "g",
    "f",
    "th",
    "s",
    "sh",
    "h",
    "v",
    "z",
    "m",
    "n",
    "l",
    "r",
    "w",
    "j",
)
_CODAS = ("p", "t", "k", "d", "g", "f", "s", "sh", "z", "m", "n", "l", "r")
_CLUSTER_1, _CLUSTER_2 = ("p", "t", "k", "b", "g", "f", "s"), ("l", "r", "w")
_VOWEL_NAMES = tuple(VOWELS)


@dataclass(frozen=True)
class SegmentPlan:
    """An utterance's phone segments, contiguous from sample 0 to the end (S segments).

    Attributes:
        start: (S,) int64 first sample of each segment.
        length: (S,) int64 samples (≥ 1).
        kind: (S,) int64 segment kind code (PAUSE, VOWEL, ...).
        formants: (S, 5) reference-tract formant targets, Hz.
        bw_scale: (S,) oral bandwidth multiplier.
        voicing: (S,) glottal source amplitude.
        aspiration: (S,) tract-noise amplitude.
        frication: (S,) post-tract noise amplitude (relative to the vowel RMS).
        band: (S,) int64 index into ``FRICATION_BANDS``; −1 for none.
        nasal_zero: (S,) nasal antiformant at the reference tract (Hz); 0 = speaker default.
        stress: (S,) 1.0 on stressed vowels, else 0.0.
        phrase: (S,) int64 phrase index; −1 for pauses.
    """

    start: np.ndarray
    length: np.ndarray
    kind: np.ndarray
    formants: np.ndarray
    bw_scale: np.ndarray
    voicing: np.ndarray
    aspiration: np.ndarray
    frication: np.ndarray
    band: np.ndarray
    nasal_zero: np.ndarray
    stress: np.ndarray
    phrase: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.start[-1] + self.length[-1])


def _syllable(rng: np.random.Generator, stressed: bool) -> list[tuple[str, Phone]]:
    """Phones of one (C)(C)V(C) syllable; stops expand to closure + burst (+ aspiration)."""
    onset: list[str] = []
    u = rng.random()
    if u < 0.15:
        onset = [_pick(rng, _CLUSTER_1), _pick(rng, _CLUSTER_2)]
    elif u < 0.9:
        onset = [_pick(rng, _ONSETS)]
    vowel = _pick(rng, _VOWEL_NAMES)
    coda = [_pick(rng, _CODAS)] if rng.random() < 0.4 else []
    phones: list[tuple[str, Phone]] = []
    for name in onset:
        phones += _expand(name, before_vowel=True)
    phones.append((vowel, _vowel(vowel, stressed)))
    for name in coda:
        phones += _expand(name, before_vowel=False)
    return phones


@cache
def _vowel(name: str, stressed: bool) -> Phone:
    """The vowel's phone (cached: phones are immutable)."""
    return Phone(VOWEL, VOWELS[name], 140.0 if stressed else 100.0, voicing=1.0)


def _pick(rng: np.random.Generator, names: tuple[str, ...]) -> str:
    """A uniform draw of one name: ``rng.choice(names)``'s draw without its array conversion."""
    return names[int(rng.integers(len(names)))]


@cache
def _expand(name: str, before_vowel: bool) -> tuple[tuple[str, Phone], ...]:
    """A consonant's phones (cached: phones are immutable)."""
    if name not in STOPS:
        return ((name, CONSONANTS[name]),)
    locus, band, voiced = STOPS[name]
    closure = Phone(CLOSURE, (200.0, *locus[1:]), 55, voicing=0.08 if voiced else 0.0)
    burst = Phone(BURST, locus, 12, frication=0.5 if voiced else 0.8, band=band)
    out = [(name + "_cl", closure), (name + "_b", burst)]
    if before_vowel and not voiced:
        out.append((name + "_h", Phone(ASPIRATION, None, 35, aspiration=0.3)))
    return tuple(out)


def plan_utterance(
    rng: np.random.Generator, duration_s: float, speaking_rate: float, sample_rate: int
) -> SegmentPlan:
    """Random phrases of random syllables separated by pauses, cut to ``duration_s``.

    Args:
        rng: the content generator.
        duration_s: utterance length in seconds.
        speaking_rate: syllables per second.
        sample_rate: Hz.

    Returns:
        The utterance's ``SegmentPlan``; it starts with 0.15–0.4 s of silence and has a
        0.15–0.6 s pause between phrases.
    """
    tempo = _REF_RATE / speaking_rate
    rows: list[tuple[Phone, float, float, int]] = []  # phone, seconds, stress, phrase
    silence = Phone(PAUSE, (500.0, 1500.0, 2500.0), 0.0)
    t, phrase = float(rng.uniform(0.15, 0.4)), 0
    rows.append((silence, t, 0.0, -1))
    while t < duration_s:
        for _ in range(int(rng.integers(4, 13))):
            stressed = rng.random() < 0.35
            syl = _syllable(rng, stressed)
            stretch = pm.exp(0.2 * pm.standard_normal(rng, len(syl))).tolist()
            for (_name, ph), k in zip(syl, stretch, strict=True):
                dur = ph.dur_ms * 1e-3 * k * (1.0 if ph.kind == BURST else tempo)
                rows.append((ph, dur, float(stressed and ph.kind == VOWEL), phrase))
                t += dur
        pause = float(rng.uniform(0.15, 0.6))
        rows.append((silence, pause, 0.0, -1))
        t += pause
        phrase += 1
    return _to_plan(rows, duration_s, sample_rate)


def _to_plan(
    rows: list[tuple[Phone, float, float, int]], duration_s: float, sample_rate: int
) -> SegmentPlan:
    """Resolve "next vowel" formants, round to samples and cut at ``duration_s``."""
    n_total = round(duration_s * sample_rate)
    ends = np.round(np.cumsum([r[1] for r in rows]) * sample_rate).astype(np.int64)
    keep = int(np.searchsorted(ends, n_total, side="left")) + 1  # rows that start before the end
    rows, ends = rows[:keep], np.minimum(ends[:keep], n_total)
    ends[-1] = n_total
    starts = np.concatenate([[0], ends[:-1]])
    formants = np.zeros((len(rows), 5))
    next_vowel = (500.0, 1500.0, 2500.0)
    for i in range(len(rows) - 1, -1, -1):  # backwards so h/aspiration sees its next vowel
        ph = rows[i][0]
        f3 = ph.formants if ph.formants is not None else next_vowel
        if ph.kind == VOWEL:
            next_vowel = ph.formants
        formants[i] = (*f3, *_F45)
    valid = ends > starts  # drop segments that rounded to zero samples
    band = [BAND_INDEX[r[0].band] if r[0].band else -1 for r in rows]

    def col(values: list, dtype: type = np.float64) -> np.ndarray:
        return np.asarray(values, dtype=dtype)[valid]

    return SegmentPlan(
        start=starts[valid],
        length=(ends - starts)[valid],
        kind=col([r[0].kind for r in rows], np.int64),
        formants=formants[valid],
        bw_scale=col([r[0].bw_scale for r in rows]),
        voicing=col([r[0].voicing for r in rows]),
        aspiration=col([r[0].aspiration for r in rows]),
        frication=col([r[0].frication for r in rows]),
        band=col(band, np.int64),
        nasal_zero=col([r[0].nasal_zero_hz for r in rows]),
        stress=col([r[2] for r in rows]),
        phrase=col([r[3] for r in rows], np.int64),
    )
