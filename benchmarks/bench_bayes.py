"""Speed of the exact Bayesian fit and of the 18-prior sensitivity panel.

Targets: a full fit at k = 20 well under 50 ms; the prior-sensitivity panel (seed 002's
12 normal-prior settings + 6 Lambert priors) redrawn in under half a second.
Run: ``.venv/bin/python benchmarks/bench_bayes.py``.
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
from metacore.models import priors as P  # noqa: E402


def _median_ms(fn, n: int = 20) -> float:
    fn()
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1e3


def main() -> None:
    rng = np.random.default_rng(1)
    for k in (6, 20, 100):
        vi = rng.uniform(0.01, 0.1, k)
        eff = mc.compute_effects(pd.DataFrame({"yi": rng.normal(0.2, np.sqrt(vi + 0.04)),
                                               "vi": vi}), "GEN")
        for prior in (P.HalfNormal(0.5), P.HalfCauchy(0.5), P.InvGamma(0.001, 0.001)):
            ms = _median_ms(lambda eff=eff, prior=prior: mc.bayes_pool(eff, tau_prior=prior))
            print(f"k = {k:>3}, {prior.label:<22} full fit: {ms:6.1f} ms")
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    specs = [(P.Fixed(np.sqrt(t2)), P.Normal(0, np.sqrt(p2)))
             for p2 in (0.1, 1, 1000) for t2 in (0.25, 1, 25, 100)]
    specs += [(p, P.Normal(0, np.sqrt(1000))) for p in (
        P.InvGamma(0.001, 0.001), P.LogUniformTau2(-10, 10), P.UniformPrecision(0.001, 1000),
        P.ParetoPrecision(1, 0.001), P.Uniform(100), P.HalfNormal(10))]

    def panel():
        for tau_prior, mu_prior in specs:
            mc.bayes_pool(eff, tau_prior=tau_prior, mu_prior=mu_prior)
    print(f"Prior-sensitivity panel ({len(specs)} priors, seed 002 data): "
          f"{_median_ms(panel, 5):.0f} ms")


if __name__ == "__main__":
    main()
