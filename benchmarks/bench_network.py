"""Network meta-analysis speed, side by side with metafor's rma.mv (through Rscript).

Targets (issue 27): ``mc.network`` at least 20x faster than ``rma.mv`` and under 0.1 s for
30 studies / 10 treatments; also 300 studies / 40 treatments. Both fit the same REML model
(random = ~ comp | study, rho = 1/2); the script prints the largest difference between
the two sets of estimates and tau^2 as a check that the same model was timed. metacore's
time includes reading the arm table; metafor's is the rma.mv call alone (the contrasts
and V are built before the clock starts). The what-if line times what the Network page
recomputes when a study is left out: the fit, P-scores, netsplit and decomp_design.

Run: ``.venv/bin/python benchmarks/bench_network.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The network's matrices are small (p = treatments - 1): OpenBLAS threads only add contention
# on the 2 shared cores (3-5x slower at 300/40 when left on), as in bench_batch.py. R's
# reference BLAS is single-threaded too. Set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402

R_FIT = r"""
suppressMessages(library(metafor))
arms <- read.csv(ARMS, stringsAsFactors = FALSE)
reference <- "T01"
treatments <- c(reference, sort(setdiff(unique(arms$treatment), reference)))
rows <- list(); blocks <- list()
for (s in unique(arms$study)) {
  a <- arms[arms$study == s, ]
  cc <- if (any(a$events == 0 | a$events == a$n)) 0.5 else 0
  x <- a$events + cc; nx <- a$n - a$events + cc
  g <- log(x / nx); v <- 1 / x + 1 / nx; m <- nrow(a) - 1
  rows[[s]] <- data.frame(study = s, base = a$treatment[1], treat = a$treatment[-1],
                          yi = g[-1] - g[1])
  B <- matrix(v[1], m, m); diag(B) <- v[-1] + v[1]; blocks[[s]] <- B
}
dat <- do.call(rbind, rows); V <- bldiag(blocks)
dat$comp <- paste(dat$base, dat$treat)
others <- treatments[-1]
X <- sapply(others, function(t) (dat$treat == t) - (dat$base == t))
fit <- function() rma.mv(dat$yi, V, mods = X, intercept = FALSE, random = ~ comp | study,
                         rho = 1/2, data = dat, method = "REML")
res <- fit()
times <- replicate(REPS, system.time(fit())[["elapsed"]])
cat(jsonlite::toJSON(list(seconds = min(times), tau2 = res$tau2,
                          estimate = as.numeric(res$beta), treatments = others),
                     digits = NA, auto_unbox = TRUE), "\n")
"""


def simulate(k: int, n_treat: int, seed: int = 27) -> pd.DataFrame:
    """A connected binary network: the first n_treat - 1 studies form a random spanning
    tree; 10% of studies have three arms; log odds ratios with tau = 0.3."""
    rng = np.random.default_rng(seed)
    names = [f"T{i + 1:02d}" for i in range(n_treat)]
    effect = np.concatenate([[0.0], rng.normal(0, 0.5, n_treat - 1)])
    rows = []
    for s in range(k):
        if s < n_treat - 1:
            arms = [int(rng.integers(0, s + 1)), s + 1]
        else:
            size = 3 if rng.random() < 0.1 else 2
            arms = list(rng.choice(n_treat, size, replace=False))
        base = rng.normal(-1.0, 0.5)
        u = rng.normal(0, 0.3 / np.sqrt(2), len(arms))
        for j, t in enumerate(arms):
            n = int(rng.integers(40, 400))
            p = 1 / (1 + np.exp(-(base + effect[t] + u[j])))
            rows.append({"study": f"S{s + 1:03d}", "treatment": names[t],
                         "events": int(rng.binomial(n, p)), "n": n})
    return pd.DataFrame(rows)


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def metafor(arms: pd.DataFrame, reps: int) -> dict | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arms.csv"
        arms.to_csv(path, index=False)
        code = R_FIT.replace("ARMS", json.dumps(str(path))).replace("REPS", str(reps))
        script = Path(tmp) / "fit.R"
        script.write_text(code)
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                             timeout=3600)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(out.stderr[-2000:])
        return None


def main() -> None:
    print("machine: 2 cores shared; best of 20 runs (5 at 300/40; metafor: best of 10, "
          "1 at 300/40)\n")
    for k, n_treat in ((30, 10), (300, 40)):
        arms = simulate(k, n_treat)
        res = mc.network(arms, "OR", "T01")
        ours = best_of(lambda a=arms: mc.network(a, "OR", "T01"), 20 if k < 100 else 5)
        line = (f"network, {k} studies / {n_treat} treatments ({res.k} contrasts, REML): "
                f"metacore {ours * 1e3:.1f} ms")
        r = metafor(arms, 10 if k < 100 else 1)
        if r is not None:
            est = res.estimates.set_index("treatment").loc[r["treatments"], "estimate"]
            diff = max(float(np.max(np.abs(est.to_numpy() - np.array(r["estimate"])))),
                       abs(res.tau2 - r["tau2"]))
            line += (f", metafor rma.mv {r['seconds'] * 1e3:.0f} ms "
                     f"({r['seconds'] / ours:.0f}x); max |difference| {diff:.1e}")
        print(line)

        def what_if(a=arms):
            nm = mc.network(a, "OR", "T01")
            nm.pscores()
            mc.netsplit(nm)
            mc.decomp_design(nm)

        print(f"  what-if (fit + P-scores + netsplit + decomposition): "
              f"{best_of(what_if) * 1e3:.1f} ms")
        if k < 100:
            print(f"  rank probabilities (100,000 draws): "
                  f"{best_of(lambda r=res: r.rank_probabilities()) * 1e3:.1f} ms; "
                  f"leave-one-study-out ({k} refits): "
                  f"{best_of(lambda r=res: mc.network_leave_one_out(r, 'T02', 'T01'), 3):.2f} s")


if __name__ == "__main__":
    main()
