"""How strongly a generated world's voices follow its faces, link by link (a report).

For each coupled trait of ``voice_traits.COUPLED_TRAITS`` the synthesize stage reports the
literature's within-sex r, the target ``r_t(c)`` the world was drawn at and the r it actually
has, so ``metrics/synthesize.json`` shows the world matches its documented calibration.
The numbers feed no generated file, but they are metrics that must not move between CPUs
(``.ci/compare_metrics.py``), so they use the portable log and sums rather than BLAS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from voice2mesh import portable as pm
from voice2mesh.synth.anatomy import within_gender_z
from voice2mesh.synth.spec import Identity
from voice2mesh.synth.voice_traits import COUPLED_TRAITS, link_r


def trait_correlations(
    anatomy_z: Mapping[str, np.ndarray],
    genders: np.ndarray,
    traits: Mapping[str, np.ndarray],
    coupling: float,
) -> dict[str, dict]:
    """Each coupled trait's measured correlation with its driver, beside its target.

    ``measured_r`` is the Pearson r, pooled over genders after standardising within each
    gender, between the trait's value (its log for log-scale traits, after clipping) and its
    driver ``a_t`` (any positive scaling of the weighted sum: standardising removes it).

    Args:
        anatomy_z: ``{key: (B,)}`` within-gender anatomy z-scores (every key a driver reads).
        genders: (B,) "male" / "female".
        traits: ``{trait: (B,)}`` values of every key of ``COUPLED_TRAITS``.
        coupling: the ``voice_coupling`` the voices were drawn at.

    Returns:
        ``{trait: {"driver", "literature_r", "literature_range", "target_r", "measured_r",
        "source"}}``, correlations rounded to 4 decimals; ``measured_r`` is None when the
        population is too small to define it.
    """
    genders = np.asarray(genders)
    out = {}
    for name, link in COUPLED_TRAITS.items():
        missing = [k for k in link.weights if k not in anatomy_z]
        if missing:
            raise KeyError(f"anatomy_z lacks {missing}, which drive {name}")
        value = np.asarray(traits[name], np.float64)  # (B,)
        driver = sum(w * np.asarray(anatomy_z[k], np.float64) for k, w in link.weights.items())
        z = within_gender_z(
            {"value": pm.log(value) if link.spread.log_scale else value, "driver": driver},
            genders,
        )
        r = _pearson(z["value"], z["driver"]) if len(value) > 2 else np.nan
        out[name] = {
            "driver": link.driver,
            "literature_r": link.rho,
            "literature_range": list(link.rho_range),
            "target_r": round(link_r(link.rho, coupling), 4),
            "measured_r": round(r, 4) if np.isfinite(r) else None,
            "source": link.source,
        }
    return out


def voice_face_links(
    identities: Sequence[Identity], results: Sequence[dict], coupling: float
) -> dict[str, dict]:
    """``trait_correlations`` over the identities of a generated world that have a voice.

    Args:
        identities: the planned identities (``world.plan_identities``).
        results: ``world.generate_world``'s per-identity results (``"index"``, ``"voice"``:
            the ``VoiceIdentity`` as a dict, None without a voice).
        coupling: the world's ``synth.voice_coupling``.
    """
    voices = {r["index"]: r["voice"] for r in results if r["voice"] is not None}
    voiced = [i for i in identities if i.index in voices]
    keys = {k for link in COUPLED_TRAITS.values() for k in link.weights}
    anatomy = {k: np.array([i.anatomy_z[k] for i in voiced]) for k in sorted(keys)}
    traits = {t: np.array([voices[i.index][t] for i in voiced]) for t in COUPLED_TRAITS}
    genders = np.array([i.gender for i in voiced])
    return trait_correlations(anatomy, genders, traits, coupling)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two (B,) arrays with elementwise sums (np.corrcoef's BLAS product rounds
    differently on different CPUs); NaN when either is constant."""
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else np.nan
