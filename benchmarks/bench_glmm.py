"""pool_glmm against metafor's rma.glmm (lme4, nAGQ = 7) at k = 20 and k = 200.

Simulated tables (fixed seed) for each model: binomial-normal (PLO), Poisson-normal
(IRLN), UM.FS for OR and IRR. Both sides are timed on the same tables, each as the fastest
of several runs inside its own process (the minimum: the machine is shared, and load only
ever adds time) (R's time excludes starting R and loading the
packages), and reported as a ratio; the log-likelihoods of both fits are printed
side by side, both exact (ours at our optimum; metafor's by R's integrate() at lme4's
estimates, outside the timing), so the higher one is the better maximum. lme4 needs
many minutes for UM.FS at k = 200 (200 fixed study effects); R runs are stopped after
R_TIMEOUT seconds and the ratio is then a lower bound. Target: >= 50x faster, and under
50 ms at k = 20.

Run: ``.venv/bin/python benchmarks/bench_glmm.py [k ...]`` (default 20 200; needs Rscript
with metafor and lme4).
"""

from __future__ import annotations

import json
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

R_SCRIPT = r"""
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(TRUE); tab <- read.csv(args[1]); m <- args[2]; reps <- as.integer(args[3])
fit <- function() suppressWarnings(switch(m,
  PLO = rma.glmm(measure = "PLO", xi = tab$events, ni = tab$n, retfit = TRUE),
  IRLN = rma.glmm(measure = "IRLN", xi = tab$events, ti = tab$time, retfit = TRUE),
  OR = rma.glmm(measure = "OR", ai = tab$events_t, n1i = tab$n_t, ci = tab$events_c,
                n2i = tab$n_c, model = "UM.FS", retfit = TRUE),
  IRR = rma.glmm(measure = "IRR", x1i = tab$events_t, t1i = tab$time_t, x2i = tab$events_c,
                 t2i = tab$time_c, model = "UM.FS", retfit = TRUE)))
t1 <- system.time(res <- fit())[["elapsed"]]
times <- if (reps > 1) c(t1, replicate(reps - 1, system.time(fit())[["elapsed"]])) else t1
# the exact marginal log-likelihood at metafor's estimates (integrate over each study's
# random effect; full density), comparable with metacore's
tau <- sqrt(res$tau2); b <- as.numeric(res$beta)
one <- function(f) log(integrate(f, -Inf, Inf, rel.tol = 1e-10)$value)
ll <- if (m %in% c("PLO", "IRLN")) sum(sapply(seq_len(nrow(tab)), function(i) one(
    if (m == "PLO") function(z) dbinom(tab$events[i], tab$n[i], plogis(b + tau * z)) * dnorm(z)
    else function(z) dpois(tab$events[i], tab$time[i] * exp(b + tau * z)) * dnorm(z)))) else {
  a <- as.numeric(lme4::fixef(res$res.ML)[-1])
  keep <- !(tab[[1]] == 0 & tab[[3]] == 0)
  tk <- tab[keep, ]
  sum(sapply(seq_len(nrow(tk)), function(i) one(
    if (m == "OR") function(z) dbinom(tk$events_t[i], tk$n_t[i], plogis(a[i] + b + tau * z / 2)) *
      dbinom(tk$events_c[i], tk$n_c[i], plogis(a[i] - tau * z / 2)) * dnorm(z)
    else function(z) dpois(tk$events_t[i], tk$time_t[i] * exp(a[i] + b + tau * z / 2)) *
      dpois(tk$events_c[i], tk$time_c[i] * exp(a[i] - tau * z / 2)) * dnorm(z))))
}
cat(toJSON(list(time = min(times), estimate = b, tau2 = res$tau2, ll = ll),
           auto_unbox = TRUE, digits = NA))
"""


def simulate(measure: str, k: int, seed: int = 26) -> pd.DataFrame:
    rng = np.random.default_rng(seed + k)
    if measure == "PLO":
        n = rng.integers(20, 300, k)
        p = 1 / (1 + np.exp(-(-1.0 + rng.normal(0, 0.8, k))))
        return pd.DataFrame({"events": rng.binomial(n, p), "n": n})
    if measure == "IRLN":
        t = rng.uniform(100, 5000, k)
        return pd.DataFrame({"events": rng.poisson(t * np.exp(-5 + rng.normal(0, 0.6, k))),
                             "time": t})
    if measure == "OR":
        n1, n2 = rng.integers(30, 400, k), rng.integers(30, 400, k)
        base = rng.normal(-1.5, 0.7, k)
        eff = -0.4 + rng.normal(0, 0.3, k)
        p2 = 1 / (1 + np.exp(-base))
        p1 = 1 / (1 + np.exp(-(base + eff)))
        return pd.DataFrame({"events_t": rng.binomial(n1, p1), "n_t": n1,
                             "events_c": rng.binomial(n2, p2), "n_c": n2})
    t1, t2 = rng.uniform(200, 4000, k), rng.uniform(200, 4000, k)
    base = -4.5 + rng.normal(0, 0.5, k)
    eff = -0.3 + rng.normal(0, 0.25, k)
    return pd.DataFrame({"events_t": rng.poisson(t1 * np.exp(base + eff)), "time_t": t1,
                         "events_c": rng.poisson(t2 * np.exp(base)), "time_c": t2})


def ours(table: pd.DataFrame, measure: str, reps: int) -> tuple[float, mc.GlmmResult]:
    res = mc.pool_glmm(table, measure)
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        mc.pool_glmm(table, measure)
        runs.append(time.perf_counter() - t0)
    return min(runs), res


R_TIMEOUT = 150


def metafor(table: pd.DataFrame, measure: str, reps: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "t.csv", Path(tmp) / "b.R"
        table.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        try:
            out = subprocess.run(["Rscript", str(script), str(csv), measure, str(reps)],
                                 capture_output=True, text=True, timeout=R_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"time": float(R_TIMEOUT), "estimate": float("nan"), "tau2": float("nan"),
                    "ll": float("nan"), "timeout": True}
    if out.returncode != 0:
        print(out.stderr[-500:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: tuple[int, ...] = (20, 200)) -> None:
    print(f"{'model':6s} {'k':>4s} {'metacore':>10s} {'metafor':>10s} {'ratio':>7s}   "
          f"{'estimate (ours / metafor)':>28s}   {'exact loglik ours / at metafor':>36s}",
          flush=True)
    for measure in ("PLO", "IRLN", "OR", "IRR"):
        for k in sizes:
            table = simulate(measure, k)
            t_ours, res = ours(table, measure, reps=100 if k == 20 else 20)
            r = metafor(table, measure, reps=5 if k == 20 else 1)
            if r is None:
                print(f"{measure:6s} {k:4d} {t_ours * 1e3:8.1f}ms   (Rscript unavailable)",
                      flush=True)
                continue
            more = ">" if r.get("timeout") else " "
            print(f"{measure:6s} {k:4d} {t_ours * 1e3:8.1f}ms {more}{r['time'] * 1e3:7.0f}ms "
                  f"{more}{r['time'] / t_ours:5.0f}x   {res.estimate:12.6f} / {r['estimate']:12.6f}"
                  f"   {res.loglik:16.5f} / {r['ll']:16.5f}", flush=True)


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (20, 200))
