"""Speed of a full random-effects analysis, side by side with peers, as ratios.

A full metacore analysis is ``pool(model="random", tau2_method="REML",
ci_method="hksj")``: REML tau^2, HKSJ interval, prediction interval, Q-profile
interval for tau^2 (and I^2, H^2), Q test, weights. Peers, where installed:

* PyMARE: ``VarianceBasedLikelihoodEstimator(method="REML").fit_dataset`` (REML only)
* statsmodels: ``combine_effects(method_re="iterated", use_t=True)`` (Paule-Mandel,
  no tau^2 interval)
* metafor (through Rscript, timed inside R): ``rma(method="REML", test="knha")``,
  ``predict`` and ``confint``

Run: ``.venv/bin/python benchmarks/bench_engine.py`` (``make bench`` runs all benchmarks).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402

warnings.filterwarnings("ignore")


def _data(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(k)
    vi = rng.uniform(0.01, 0.2, k)
    return rng.normal(0.3, np.sqrt(vi + 0.05)), vi


def _per_call(fn, budget: float = 1.0) -> float:
    """Median seconds per call over repeated batches within a time budget."""
    fn()
    n, t0 = 1, time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        fn()
        n += 1
    batch = max(1, n // 5)
    times = []
    t_end = time.perf_counter() + budget
    while time.perf_counter() < t_end or len(times) < 5:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - t0) / batch)
    return float(np.median(times))


def _metafor_seconds(yi: np.ndarray, vi: np.ndarray, reps: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        pd.DataFrame({"yi": yi, "vi": vi}).to_csv(path, index=False)
        script = (f"suppressPackageStartupMessages(library(metafor)); d <- read.csv('{path}');"
                  f"f <- function() {{ r <- rma(yi, vi, data=d, method='REML', test='knha');"
                  f" predict(r); confint(r) }}; f();"
                  f"t <- system.time(for (i in 1:{reps}) f())[['elapsed']]; cat(t / {reps})")
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             timeout=600)
        try:
            return float(out.stdout.strip().split()[-1])
        except (ValueError, IndexError):
            return None


def main() -> None:
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        combine_effects = None
    try:
        from pymare import Dataset
        from pymare.estimators import VarianceBasedLikelihoodEstimator
    except ImportError:
        Dataset = None

    print("Full random-effects analysis (REML + HKSJ + prediction + Q-profile tau^2 CI)")
    print(f"{'k':>6} {'metacore':>11} {'statsmodels':>12} {'PyMARE':>11} {'metafor':>11}"
          f"  {'vs statsmodels':>14} {'vs PyMARE':>10} {'vs metafor':>10}")
    for k in (20, 1000, 20000):
        yi, vi = _data(k)
        eff = mc.compute_effects(pd.DataFrame({"yi": yi, "vi": vi}), "GEN")
        ours = _per_call(lambda eff=eff: mc.pool(eff, model="random", tau2_method="REML",
                                                 ci_method="hksj"))
        sm = _per_call(lambda yi=yi, vi=vi: combine_effects(
            yi, vi, method_re="iterated", use_t=True)) if combine_effects else None
        pm = _per_call(lambda yi=yi, vi=vi: VarianceBasedLikelihoodEstimator(
            method="REML").fit_dataset(Dataset(yi, vi)), budget=0.5) if Dataset else None
        # metafor builds k x k matrices: at k = 20,000 one fit would need ~3 GB and minutes.
        mf = _metafor_seconds(yi, vi, reps=200 if k <= 20 else 3) if k <= 1000 else None

        def ms(x):
            return f"{x * 1e3:9.3f}ms" if x else f"{'n/a':>11}"

        def ratio(x, ours=ours):
            return f"{x / ours:9.1f}x" if x else f"{'n/a':>10}"
        print(f"{k:>6} {ms(ours):>11} {ms(sm):>12} {ms(pm):>11} {ms(mf):>11}"
              f"  {ratio(sm):>14} {ratio(pm):>10} {ratio(mf):>10}")
    t0 = time.perf_counter()
    yi, vi = _data(20000)
    table = pd.DataFrame({"yi": yi, "vi": vi})
    res = mc.pool(mc.compute_effects(table, "GEN"), model="random", tau2_method="REML",
                  ci_method="hksj")
    print(f"\n20,000 studies from a table to a full result: "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms (tau^2 = {res.tau2:.4f})")


if __name__ == "__main__":
    main()
