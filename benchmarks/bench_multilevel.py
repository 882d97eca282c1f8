"""Multilevel (rma.mv) and cluster-robust speed, side by side with metafor through Rscript.

Target (issue 28): a three-level REML fit (random = ~ 1 | study/esid) of 100 clusters x 5
effects at least 20 times faster than metafor's ``rma.mv``. Both sides fit the same table
and time the point fit only (no profile intervals); metacore's ``robust`` (CR2) is set
beside metafor's ``robust(..., clubSandwich = TRUE)``.

Run: ``.venv/bin/python benchmarks/bench_multilevel.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402


def table(clusters: int, per: int, seed: int = 28) -> pd.DataFrame:
    """Effects nested in clusters: sigma2 0.05 between clusters, 0.02 within."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(1, clusters + 1), per)
    es = np.tile(np.arange(1, per + 1), clusters)
    vi = rng.uniform(0.01, 0.1, cl.size)
    yi = (0.2 + rng.normal(0, np.sqrt(0.05), clusters)[cl - 1]
          + rng.normal(0, np.sqrt(0.02), cl.size) + rng.normal(0, np.sqrt(vi)))
    return pd.DataFrame({"study": [f"S{c}-{e}" for c, e in zip(cl, es, strict=True)],
                         "cluster": cl, "esid": es, "yi": yi, "vi": vi})


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def metafor_seconds(csv: str, code: str) -> list[float] | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write("suppressMessages({library(metafor); library(clubSandwich)})\n"
                f"dat <- read.csv('{csv}')\n" + code)
    out = subprocess.run(["Rscript", f.name], capture_output=True, text=True, timeout=1800)
    try:
        return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]
    except (ValueError, IndexError):
        return None


def main() -> None:
    print("machine: 2 cores shared; best of 5 runs (metafor: best of 3)\n")
    for clusters, per in ((100, 5), (30, 5)):
        t = table(clusters, per)
        eff = mc.compute_effects(t, "GEN")
        fit = lambda e=eff: mc.multilevel(e, ["cluster", "esid"], profile=False)  # noqa: E731
        ours = best_of(fit)
        res = fit()
        ours_rb = best_of(lambda r=res: mc.robust(r, "cluster"))
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            t.to_csv(f.name, index=False)
        r = metafor_seconds(f.name, (
            "fit <- function() rma.mv(yi, vi, random = ~ 1 | cluster/esid, data = dat)\n"
            "t_fit <- min(replicate(3, system.time(fit())[['elapsed']]))\n"
            "res <- fit()\n"
            "t_rb <- min(replicate(3, system.time(robust(res, cluster = dat$cluster, "
            "clubSandwich = TRUE))[['elapsed']]))\n"
            "cat(t_fit, t_rb, res$beta[1], res$sigma2, '\\n')\n"))
        k = clusters * per
        line = (f"rma.mv REML, {clusters} clusters x {per} effects (k = {k}): metacore "
                f"{ours * 1e3:.1f} ms")
        rline = f"robust CR2 (clubSandwich), same fit: metacore {ours_rb * 1e3:.1f} ms"
        if r is not None:
            line += f", metafor {r[0] * 1e3:.0f} ms ({r[0] / ours:.0f}x)"
            rline += f", metafor + clubSandwich {r[1] * 1e3:.0f} ms ({r[1] / ours_rb:.0f}x)"
            line += (f"\n  same fit: estimate {res.estimate:.6f} vs {r[2]:.6f}, sigma2 "
                     f"{res.sigma2[0]:.6f}/{res.sigma2[1]:.6f} vs {r[3]:.6f}/{r[4]:.6f}")
        print(line)
        print(rline)
    t = table(100, 5)
    eff = mc.compute_effects(t, "GEN")
    full = best_of(lambda: mc.multilevel(eff, ["cluster", "esid"]), 2)
    print(f"\nwith profile-likelihood CIs and LRTs (k = 500): metacore {full * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
