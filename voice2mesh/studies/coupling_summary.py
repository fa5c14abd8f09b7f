"""The coupling dose–response study, summarised: effect, uncertainty and the protocol's power.

Input: the per-identity scores of every point (``coupling.score_point``: one row per world
seed, training seed, reference kind and test identity). For each coupling, metric (ARE, NME,
RMSE) and reference kind (the true faces; the fitted references the paper scores against):

* **effect**: the paired difference supervised − gender-from-voice mean face, averaged over
  identities and training seeds (negative: the model is better). Identities of all world seeds
  are pooled; a world seed's identities are different people.
* **95 % CI and p**: the evaluation's two-level bootstrap (``evaluation.stats``): identities
  resampled with replacement, and the training seeds of each resample drawn with replacement,
  so the interval carries both identity and seed variance; p is the two-sided bootstrap p of
  the same resamples.
* **power of the paper's protocol**: the paper trains one model and compares it with a
  baseline on its test speakers. One draw here does the same: a world seed and a training seed
  at random, ``protocol_size`` test identities (76 by default) drawn with replacement from
  that world, and Wilcoxon's signed-rank test on their paired
  differences; the power is the share of draws significant at 0.05 (two-sided). At coupling 0
  it is the protocol's false-positive rate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from voice2mesh.evaluation.stats import bootstrap_indices, seed_bootstrap_summary
from voice2mesh.studies.names import COMPARATOR, METRICS, SUPERVISED

REFERENCE_KINDS = ("truth", "reference")  # the headline is the true face: what the voice holds


def coupling_key(coupling: float) -> str:
    """The coupling as written in params (``0``, ``0.5``, ``1``, ``8``): the JSON key."""
    return format(float(coupling), "g")


def differences(scores: pd.DataFrame, metric: str, reference: str) -> dict[int, np.ndarray]:
    """``{world_seed: (n_train_seeds, S) supervised − comparator}`` of one metric and reference.

    Raises:
        ValueError: a world's training seeds do not all score the same identities.
    """
    out = {}
    rows = scores[scores.reference == reference]
    for world, frame in rows.groupby("world_seed"):
        diff = frame[f"{metric}_{SUPERVISED}"] - frame[f"{metric}_{COMPARATOR}"]
        table = frame.assign(diff=diff).pivot(index="train_seed", columns="identity", values="diff")
        if table.isna().any().any():
            raise ValueError(
                f"world seed {world}: the training seeds scored different test identities"
            )
        out[int(world)] = table.to_numpy(np.float64)
    return out


def protocol_power(
    diffs: Mapping[int, np.ndarray],
    protocol_size: int,
    n_draws: int,
    rng: np.random.Generator,
    alpha: float = 0.05,
) -> float:
    """Share of one-model, ``protocol_size``-identity draws whose paired test has p < alpha."""
    worlds = sorted(diffs)
    pick_world = rng.integers(0, len(worlds), n_draws)
    samples = np.empty((n_draws, protocol_size))
    for d, w in enumerate(pick_world):
        values = diffs[worlds[w]]  # (n_seeds, S)
        seed = rng.integers(0, values.shape[0])
        samples[d] = values[seed, rng.integers(0, values.shape[1], protocol_size)]
    nonzero = np.any(samples != 0, axis=1)
    p = np.ones(n_draws)
    if nonzero.any():
        p[nonzero] = stats.wilcoxon(samples[nonzero], zero_method="wilcox", axis=1).pvalue
    return float(np.mean(p < alpha))


def summarise_coupling(
    scores: pd.DataFrame,
    *,
    n_resamples: int,
    n_draws: int,
    protocol_size: int,
    confidence: float,
    seed: int,
) -> dict:
    """``{reference: {metric: {mean, ci_low, ci_high, p, power}}}`` for one coupling's scores."""
    out: dict = {}
    for reference in REFERENCE_KINDS:
        out[reference] = {}
        for metric in METRICS:
            diffs = differences(scores, metric, reference)
            pooled = np.concatenate([diffs[w] for w in sorted(diffs)], axis=1)  # (n_seeds, S)
            idx = bootstrap_indices(pooled.shape[1], n_resamples, seed)
            summary = seed_bootstrap_summary(
                pooled, idx, np.random.default_rng([seed, 1]), confidence
            )
            rng = np.random.default_rng([seed, 2])
            summary["power"] = protocol_power(diffs, protocol_size, n_draws, rng)
            out[reference][metric] = summary
    return out


def summarise_study(
    scores: pd.DataFrame,
    links: Mapping[str, Mapping[str, float]],
    *,
    n_resamples: int = 2000,
    n_draws: int = 2000,
    protocol_size: int = 76,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """``metrics/coupling.json``: per coupling key, ARE/NME/RMSE against the true faces (the
    issue's layout), the same against the references under ``vs_reference``, the measured
    voice–face correlation of every trait (mean over world seeds) and the counts.

    Args:
        scores: every point's per-identity scores.
        links: ``{coupling key: {trait: measured r}}`` averaged over world seeds.
    """
    out = {}
    for coupling, frame in scores.groupby("coupling", sort=True):
        key = coupling_key(coupling)
        summary = summarise_coupling(
            frame,
            n_resamples=n_resamples,
            n_draws=n_draws,
            protocol_size=protocol_size,
            confidence=confidence,
            seed=seed,
        )
        truth = frame[frame.reference == "truth"]
        out[key] = summary["truth"] | {
            "vs_reference": summary["reference"],
            "voice_face_r": dict(links.get(key, {})),
            "counts": {
                "world_seeds": int(truth.world_seed.nunique()),
                "train_seeds": int(truth.groupby("world_seed").train_seed.nunique().min()),
                "test_identities": int(truth.groupby("world_seed").identity.nunique().sum()),
            },
        }
    return out
