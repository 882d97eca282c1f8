"""Many meta-analyses at once: metacore.pool_batch against PyMARE's vectorised estimators.

Targets (issue 13): DL at least 5x PyMARE's DerSimonianLaird on 200,000 x 10; REML at
least 20x PyMARE's VarianceBasedLikelihoodEstimator(method="REML"). Memory: the peak per
million meta-analyses (tracemalloc, numpy buffers included).

Fair by construction: PyMARE gets its own layout (studies x datasets, C-contiguous, made
before timing); the two run in alternating rounds, each after a write of twice the
last-level cache (at least 128 MB) that evicts both inputs from the caches (a batch's
data arrive from disk or another step, not hot in L3), and the ratio is of medians over
the rounds. OpenBLAS is held to one thread:
its idle threads spin for a while after each call and would take the cores from whatever
runs next (pool_batch was 40% slower right after a PyMARE call before this), and PyMARE's
DL is no faster with more BLAS threads.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--rows 200000] [--rounds 15]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # before numpy loads OpenBLAS
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metacore.batch.pool import pool_batch  # noqa: E402


def data(m: int, k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.normal(0.1, 0.3, (m, k)) + rng.normal(0, 0.2, (m, 1))
    v = rng.uniform(0.01, 0.2, (m, k))
    return y, v


def _l3_bytes() -> int:
    """The largest cache's size (Linux sysfs), 32 MB where it cannot be read."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * scale)
    return max(sizes, default=32 * 2**20)


# twice the last-level cache (at least 128 MB): a cloud VM's L3 can be hundreds of MB
_EVICT = np.ones(max(2 * _l3_bytes(), 2**27) // 8)


def cold(fn) -> float:
    """Seconds for one call of fn after evicting its inputs from the caches."""
    _EVICT.fill(2.0)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pymare_fit(method: str, y, v):
    """A call fitting PyMARE's estimator on (datasets x studies) arrays, or None."""
    try:
        from pymare import estimators
    except ImportError:
        return None
    est = estimators.DerSimonianLaird() if method == "DL" else \
        estimators.VarianceBasedLikelihoodEstimator(method="REML")
    yt, vt = np.ascontiguousarray(y.T), np.ascontiguousarray(v.T)   # PyMARE's own layout
    X = np.ones((y.shape[1], 1))

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(y=yt, v=vt, X=X)
    return fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    y, v = data(args.rows, args.k)
    print(f"machine: {os.cpu_count()} cores; {args.rows:,} meta-analyses x {args.k} studies; "
          f"{args.rounds} alternating rounds, caches evicted before each call; medians "
          "(best in brackets). PyMARE's REML is timed on 5,000 rows and scaled.")
    for method in ("DL", "REML"):
        pool_batch(y[:1000], v[:1000], tau2_method=method)      # load the compiled kernel
        # PyMARE's REML optimises each dataset in turn: a slice, scaled to the full run
        n_p = args.rows if method == "DL" else min(args.rows, 5_000)
        theirs = pymare_fit(method, y[:n_p], v[:n_p])
        if theirs is not None:
            theirs()                                              # warm-up, as for ours
        ours_t, theirs_t = [], []
        for _ in range(args.rounds if method == "DL" else max(3, args.rounds // 5)):
            ours_t.append(cold(lambda m=method: pool_batch(y, v, tau2_method=m)))
            if theirs is not None:
                theirs_t.append(cold(theirs) * args.rows / n_p)
        ours = float(np.median(ours_t))
        line = (f"{method:>4}: metacore {ours:.4f} s [{min(ours_t):.4f}] "
                f"({args.rows / ours:,.0f} per s)")
        if theirs_t:
            med = float(np.median(theirs_t))
            note = "" if n_p == args.rows else " (scaled)"
            line += (f"; PyMARE {med:.4f} s [{min(theirs_t):.4f}]{note} -> {med / ours:.1f}x "
                     f"(best vs best {min(theirs_t) / min(ours_t):.1f}x)")
        print(line)
    from metacore.batch.cluster import cluster_meta_batch
    from metacore.models.cluster import distances_from

    rng = np.random.default_rng(2)
    D = distances_from(rng.normal(size=(5, 2)))
    yy, ss = rng.normal(0.1, 0.2, (20_000, 5)), rng.uniform(0.05, 0.2, (20_000, 5))
    cluster_meta_batch(yy[:10], ss[:10], D)                     # compile
    secs = min(cold(lambda: cluster_meta_batch(yy, ss, D)) for _ in range(2))
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
