"""Many meta-analyses at once: metacore.pool_batch against PyMARE's vectorised estimators.

Targets (issue 13): DL at least 5x PyMARE's DerSimonianLaird on 200,000 x 10; REML at
least 20x PyMARE's VarianceBasedLikelihoodEstimator(method="REML"). Memory: the peak per
million meta-analyses (tracemalloc, numpy buffers included).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--rows 200000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metacore.batch import pool_batch  # noqa: E402


def data(m: int, k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.normal(0.1, 0.3, (m, k)) + rng.normal(0, 0.2, (m, 1))
    v = rng.uniform(0.01, 0.2, (m, k))
    return y, v


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def pymare_seconds(method: str, y, v) -> float | None:
    try:
        from pymare import estimators
    except ImportError:
        return None
    est = estimators.DerSimonianLaird() if method == "DL" else \
        estimators.VarianceBasedLikelihoodEstimator(method="REML")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = np.ones((y.shape[1], 1))                    # PyMARE: studies x datasets
        est.fit(y=y[:100].T, v=v[:100].T, X=X)          # warm up, as for ours
        return timed(lambda: est.fit(y=y.T, v=v.T, X=X), 5 if method == "DL" else 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    y, v = data(args.rows, args.k)
    print(f"machine: 2 cores; {args.rows:,} meta-analyses x {args.k} studies; best of 5 "
          "runs after a warm-up (PyMARE's REML: one run on a slice, scaled)")
    for method in ("DL", "REML"):
        pool_batch(y[:1000], v[:1000], tau2_method=method)      # load the compiled kernel
        ours = timed(lambda m=method: pool_batch(y, v, tau2_method=m), 5)
        # PyMARE's REML optimises each dataset; time a slice and scale, as a full run
        # would take very long.
        n_p = args.rows if method == "DL" else min(args.rows, 5_000)
        theirs = pymare_seconds(method, y[:n_p], v[:n_p])
        line = f"{method:>4}: metacore {ours:.3f} s ({args.rows / ours:,.0f} per s)"
        if theirs is not None:
            scaled = theirs * args.rows / n_p
            note = "" if n_p == args.rows else f" (timed on {n_p:,} rows, scaled)"
            line += f"; PyMARE {scaled:.3f} s{note} -> {scaled / ours:.1f}x"
        print(line)
    from metacore.cluster import cluster_meta_batch, distances_from

    rng = np.random.default_rng(2)
    D = distances_from(rng.normal(size=(5, 2)))
    yy, ss = rng.normal(0.1, 0.2, (20_000, 5)), rng.uniform(0.05, 0.2, (20_000, 5))
    secs = timed(lambda: cluster_meta_batch(yy, ss, D))
    print(f"MANTRA (exact), k = 5, 20,000 variants: {secs:.1f} s "
          f"({2_500_000 * secs / 20_000 / 60:.0f} min for 2.5 million on this machine)")
    tracemalloc.start()
    pool_batch(y[:100_000], v[:100_000], tau2_method="REML")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak memory: {peak / 2**20 * 10:,.0f} MB per million meta-analyses of "
          f"{args.k} studies (measured on 100,000)")


if __name__ == "__main__":
    main()
