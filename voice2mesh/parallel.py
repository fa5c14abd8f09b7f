"""Ordered process-parallel map for the data stages.

Workers are forked (they share the parent's loaded model and compiled kernels) and each keeps
a single BLAS thread: with one worker per core, multi-threaded BLAS inside every worker only
oversubscribes the cores (measured: 2 workers were no faster than 1 on the 2-core machine).
Results come back in input order, so outputs never depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threadpoolctl import threadpool_limits

_LIMITS: list = []


def _init(initializer: Callable[..., None] | None, args: tuple) -> None:
    _LIMITS.append(threadpool_limits(1))  # kept alive for the worker's lifetime
    if initializer is not None:
        initializer(*args)


def ordered_map(
    function: Callable[[Any], Any],
    items: Iterable[Any],
    workers: int,
    *,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    chunksize: int = 4,
) -> Iterator[Any]:
    """``map(function, items)`` over ``workers`` forked processes (in this one when ≤ 1).

    ``initializer(*initargs)`` runs once per worker (or once here when ``workers <= 1``).
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, items)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init, initargs=(initializer, initargs)) as pool:
        yield from pool.imap(function, items, chunksize=chunksize)
