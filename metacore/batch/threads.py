"""Threads for the batch engines: one kept executor, work cut into stretches."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[int, ThreadPoolExecutor] = {}


def cores() -> int:
    """The threads to use: the cores this process may run on, or fewer where
    NUMBA_NUM_THREADS or OMP_NUM_THREADS says so (Dask's workers get OMP_NUM_THREADS=1,
    so batches on a cluster do not oversubscribe its cores)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:                      # not on Linux
        n = os.cpu_count() or 1
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return min(n, int(value))
    return n


def pool(threads: int) -> ThreadPoolExecutor:
    """One executor per thread count, kept: starting threads on every call costs more than
    a small batch."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="metacore-batch")
    return _POOLS[threads]


def run_stretches(work: Callable[[int, int], None], n: int, step: int,
                  threads: int | None = None) -> None:
    """``work(first, last)`` over [0, n) in stretches of whole steps, on ``threads``
    (default: every core); sixteen stretches per thread, so a slow stretch (or a thread
    the machine pauses) does not hold up the rest."""
    threads = threads or cores()
    steps = -(-n // step)
    parts = min(steps, 16 * threads)
    if threads == 1 or parts <= 1:
        work(0, n)
        return
    bounds = [min(n, (p * steps // parts) * step) for p in range(parts + 1)]
    list(pool(threads).map(lambda p: work(bounds[p], bounds[p + 1]), range(parts)))
