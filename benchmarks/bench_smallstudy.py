"""GOSH and influence speed, side by side with metafor (through Rscript, where installed).

Targets (issue 9): all 65,535 subsets of a 16-study table in under 1 s; influence
diagnostics for k = 100 in under 50 ms.

Run: ``.venv/bin/python benchmarks/bench_smallstudy.py`` (``make bench``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_of  # noqa: E402

import metacore as mc  # noqa: E402


def table(k: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"yi": rng.normal(0.2, 0.3, k), "vi": rng.uniform(0.01, 0.1, k)})



def metafor_seconds(code: str) -> float | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write("suppressMessages(library(metafor))\n" + code)
    out = subprocess.run(["Rscript", f.name], capture_output=True, text=True, timeout=1800)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def main() -> None:
    print("machine: 2 cores; best of 5 runs\n")
    for k, model in ((16, "common"), (16, "random"), (20, "common")):
        eff = mc.compute_effects(table(k), "GEN")
        secs = best_of(lambda e=eff, m=model: mc.gosh(e, model=m, tau2_method="DL"), 3)
        print(f"GOSH, k = {k} ({2**k - 1:,} subsets, {model}): {secs:.3f} s "
              f"({1e6 * secs / (2**k - 1):.2f} µs per subset)")
    t = table(12)
    r = metafor_seconds(
        f"yi <- c({','.join(map(str, t.yi))}); vi <- c({','.join(map(str, t.vi))})\n"
        "res <- rma(yi, vi, method = 'FE')\n"
        "cat(system.time(gosh(res, progbar = FALSE))[['elapsed']], '\\n')\n")
    eff12 = mc.compute_effects(t, "GEN")
    ours12 = best_of(lambda: mc.gosh(eff12, model="common"), 3)
    if r is not None:
        print(f"GOSH, k = 12 (4,095 subsets): metacore {ours12 * 1e3:.1f} ms, metafor "
              f"{r:.2f} s ({r / ours12:,.0f}x)")
    for k in (20, 100):
        eff = mc.compute_effects(table(k), "GEN")
        secs = best_of(lambda e=eff: mc.influence(e, model="random", tau2_method="REML"))
        t = table(k)
        r = metafor_seconds(
            f"yi <- c({','.join(map(str, t.yi))}); vi <- c({','.join(map(str, t.vi))})\n"
            "res <- rma(yi, vi)\n"
            "cat(min(replicate(5, system.time(influence(res))[['elapsed']])), '\\n')\n")
        ratio = f", metafor {r * 1e3:.0f} ms ({r / secs:.0f}x)" if r else ""
        print(f"influence, k = {k} (REML): metacore {secs * 1e3:.1f} ms{ratio}")


if __name__ == "__main__":
    main()
