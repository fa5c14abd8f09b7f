"""One training stage, several seeds: a folder of models, one metrics file, one curve file.

Every network row is trained once per seed of ``Params.train_seeds``; seed ``k`` of a stage
reads seed ``k``'s models of the stages before it. A stage

    trains seed after seed in one process (``train_seeds``), the models going to
        <out>/seed_<k>.pt             a folder built aside and renamed in whole, so the files of
                                      seeds an earlier run had and this one has not vanish
    writes (``write_summary``)
        metrics/<stage>.json          {"seeds": {"<k>": seed k's metrics, ...},
                                       "mean": {each numeric metric: its mean over the seeds},
                                       "n_seeds": n}
        reports/plots/<stage>.csv     every seed's history rows, with a leading ``seed`` column

Under several processes (``train.distributed``) every rank trains every seed, and only rank 0
builds the folder and writes the summary; the stage saves a model only on rank 0 (``is_main``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from voice2mesh.config.training import SEED_FILES, seed_file
from voice2mesh.io import atomic_dir, write_json, write_rows
from voice2mesh.train.distributed import is_main
from voice2mesh.train.loop import Trained


def train_seeds(
    seeds: Sequence[int], folder: Path | str, train: Callable[[int, Path], Trained]
) -> dict[int, Trained]:
    """Run ``train(seed, model_file)`` for every seed; the folder of their models replaces
    ``folder`` whole once every seed is done.

    Args:
        seeds: the seeds, in order (``Params.train_seeds``).
        folder: the stage's model folder (the section's ``out``); anything in it but
            ``seed_*.pt`` files is refused before any training.
        train: trains one seed and saves its model at ``model_file`` (``seed_<seed>.pt`` in
            the folder under construction) when ``is_main()``; on the other ranks
            ``model_file`` is the final path, which they must not write.

    Returns:
        Each seed's ``Trained``, in ``seeds`` order.
    """
    if not is_main():
        return {seed: train(seed, Path(folder) / seed_file(seed)) for seed in seeds}
    runs: dict[int, Trained] = {}
    with atomic_dir(folder, owns=SEED_FILES) as tmp:
        for seed in seeds:
            runs[seed] = train(seed, tmp / seed_file(seed))
    return runs


def over_seeds(metrics: Mapping[int, dict]) -> dict:
    """``{"seeds": {"<seed>": metrics}, "mean": {key: mean}, "n_seeds": n}``.

    ``mean`` holds the keys whose value is a number (not a bool) for every seed.
    """
    per_seed = list(metrics.values())
    numeric = [
        key
        for key in (per_seed[0] if per_seed else {})
        if all(
            isinstance(m.get(key), int | float) and not isinstance(m[key], bool) for m in per_seed
        )
    ]
    return {
        "seeds": {str(seed): m for seed, m in metrics.items()},
        "mean": {key: sum(m[key] for m in per_seed) / len(per_seed) for key in numeric},
        "n_seeds": len(per_seed),
    }


def seed_rows(histories: Mapping[int, list[dict]]) -> list[dict]:
    """Every seed's history rows, seed after seed, each with a leading ``seed`` value."""
    return [{"seed": seed} | row for seed, history in histories.items() for row in history]


def write_summary(
    runs: Mapping[int, Trained],
    metrics: Path | str,
    plot: Path | str,
    columns: list[str],
    pooled: Mapping[str, object] | None = None,
) -> dict:
    """Write ``over_seeds`` of the runs' metrics to ``metrics`` and their curves to ``plot``
    (``seed`` then ``columns``); return the metrics written. ``pooled``: measures over all the
    seeds together, written beside ``mean`` under their own keys. Other ranks than 0 only
    return them."""
    out = over_seeds({seed: trained.metrics for seed, trained in runs.items()})
    clash = sorted(set(pooled or {}) & set(out))
    if clash:
        raise ValueError(f"write_summary: pooled keys {clash} would replace the summary's own")
    out |= dict(pooled or {})
    if not is_main():
        return out
    write_json(metrics, out)
    write_rows(plot, seed_rows({seed: t.history for seed, t in runs.items()}), ["seed", *columns])
    return out
