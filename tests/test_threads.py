"""The thread helper both batch engines run on."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from metacore.batch import threads as _threads


@pytest.mark.parametrize("n, step, threads", [(0, 5, 2), (1, 5, 2), (10, 5, 2), (11, 5, 2),
                                              (1000, 7, 2), (1000, 7, 1), (95, 1, 3)])
def test_stretches_cover_every_step_once_on_whole_steps(n, step, threads):
    seen = np.zeros(n, dtype=int)
    lock = threading.Lock()
    names = set()

    def work(first, last):
        assert first % step == 0 and (last % step == 0 or last == n)
        with lock:
            seen[first:last] += 1
            names.add(threading.current_thread().name)

    _threads.run_stretches(work, n, step, threads)
    assert (seen == 1).all()
    if threads > 1 and -(-n // step) > 1:
        assert all(name.startswith("metacore-batch") for name in names)


def test_thread_count_follows_the_environment(monkeypatch):
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")          # what Dask gives its workers
    assert _threads.cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    assert _threads.cores() == 1
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _threads.cores() >= 1
