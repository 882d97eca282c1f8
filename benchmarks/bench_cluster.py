"""Exact clustered-heterogeneity (MANTRA-type) fit time against the number of studies.

The original MANTRA runs reversible-jump MCMC (about 10 minutes per variant); here every
centre set is enumerated. Target (issue 12): k = 16 in under 2 s.

Run: ``.venv/bin/python benchmarks/bench_cluster.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402
from metacore.models.cluster import cluster_meta, distances_from  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(3)
    print("machine: 2 cores; best of 3 runs")
    print(f"{'k':>3} {'centre sets':>12} {'partitions':>11} {'seconds':>9}")
    for k in (2, 4, 6, 8, 10, 12, 14, 16):
        y, v = rng.normal(0.2, 0.2, k), rng.uniform(0.002, 0.02, k)
        eff = mc.EffectSizes(yi=y, vi=v, study=tuple(map(str, range(k))), measure="GEN")
        D = distances_from(rng.normal(size=(k, 2)))
        best, res = float("inf"), None
        for _ in range(3):
            t0 = time.perf_counter()
            res = cluster_meta(eff, D)
            best = min(best, time.perf_counter() - t0)
        print(f"{k:>3} {2**k - 1:>12,} {res.n_partitions:>11,} {best:>9.4f}")


if __name__ == "__main__":
    main()
