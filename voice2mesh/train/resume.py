"""The training loop's resume states: written at every evaluation, read back only when they
match (``train.loop`` module docstring). A state records the fingerprint it was saved with; one
of another configuration is ignored with a warning, never half-used."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice2mesh.checkpoint import read_state, save_state

if TYPE_CHECKING:
    from voice2mesh.train.loop import Schedule, Task

log = logging.getLogger(__name__)


def restore(task: Task, schedule: Schedule) -> tuple[int, list[dict]]:
    """``(start step, history)`` from a matching resume state, else ``(0, [])``."""
    path = schedule.state_path
    if not schedule.resume or path is None or not Path(path).is_file():
        return 0, []
    state = read_state(path)
    saved, wanted = flat(state.get("fingerprint") or {}), flat(schedule.fingerprint(task))
    if saved != wanted:
        keys = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        log.warning(
            "%s was saved by another configuration (%s differ); starting at step 0",
            path,
            ", ".join(keys[:6]) + (" ..." if len(keys) > 6 else ""),
        )
        return 0, []
    step = int(state["step"])
    if step > schedule.iterations:
        log.warning(
            "%s is at step %d, past iterations = %d; starting at step 0",
            path,
            step,
            schedule.iterations,
        )
        return 0, []
    for name, module in task.modules().items():
        module.load_state_dict(state["modules"][name])
    for name, optimizer in task.optimizers().items():
        optimizer.load_state_dict(state["optimizers"][name])
    log.info("%s: resuming at step %d of %d", path, step, schedule.iterations)
    return step, list(state["history"])


def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"config": {"lr": 1}}`` -> ``{"config.lr": 1}`` (lists kept as values)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= flat(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return out


def save(task: Task, schedule: Schedule, step: int, history: list[dict]) -> None:
    save_state(
        schedule.state_path,
        {
            "fingerprint": schedule.fingerprint(task),
            "step": step,
            "history": history,
            "modules": {k: m.state_dict() for k, m in task.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in task.optimizers().items()},
        },
    )
