"""Classical random effects versus causal for 1,000 meta-analyses of ~10 studies each.

Target: well under a second for the whole collection (``causal_many``), which computes
effect sizes once, the causal estimates as segment sums, and one REML fit per
meta-analysis. Run: ``.venv/bin/python benchmarks/bench_causal.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402


def collection(m: int = 1000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(m):
        k = int(rng.integers(5, 16))          # about 10 studies on average
        base = rng.uniform(0.05, 0.4)
        for _ in range(k):
            n1, n0 = (int(x) for x in rng.integers(30, 500, 2))
            p0 = float(np.clip(base * np.exp(rng.normal(0, 0.4)), 0.005, 0.9))
            p1 = float(np.clip(p0 * np.exp(rng.normal(-0.2, 0.2)), 0.001, 0.95))
            rows.append((f"MA{i}", rng.binomial(n1, p1), n1, rng.binomial(n0, p0), n0))
    return pd.DataFrame(rows, columns=["meta_id", "events_t", "n_t", "events_c", "n_c"])


def main() -> None:
    table = collection()
    times = {}
    for method in ("DL", "REML"):
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            out = mc.causal_many(table, "RR", tau2_method=method)
            runs.append(time.perf_counter() - t0)
        times[method] = statistics.median(runs)
    print(f"{out['meta_id'].nunique():,} meta-analyses, {len(table):,} studies "
          f"({len(table) / out['meta_id'].nunique():.1f} per meta-analysis)")
    for method, t in times.items():
        print(f"  classical ({method}) vs causal, all of them: {t * 1e3:.0f} ms")
    print(f"  discordant: {int(out['discordant'].sum())}")


if __name__ == "__main__":
    main()
