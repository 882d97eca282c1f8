"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time


def best_of(fn, n: int = 5) -> float:
    """The fastest of ``n`` calls of ``fn``, in seconds (the least disturbed by the rest
    of the machine)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
