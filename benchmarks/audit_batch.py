"""A long randomised check that every row of ``pool_batch`` equals ``pool``, too slow for
``make test`` (whose tests check the same on fewer, shaped tables).

Tables of 1 to 25 studies, variances over many orders of magnitude, one in ten with all
estimates identical; every τ² estimator, z and HKSJ; estimate, SE, CI, p, τ², I² and Q
compared at 1e-9 (closed forms) and 1e-6 (iterative estimators). Prints the mismatches and
exits non-zero if there are any.

Run: ``.venv/bin/python benchmarks/audit_batch.py [--seeds 1 2 3] [--rows 600]``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import metacore as mc  # noqa: E402
from metacore.batch.pool import pool_batch  # noqa: E402

COLUMNS = ("estimate", "se", "tau2", "ci_low", "ci_high", "pvalue", "i2", "q")
METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


def tables(seed: int, m: int, kmax: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, (m, kmax)) * rng.choice([0.01, 0.3, 3], (m, 1)) \
        + rng.normal(0, 0.5, (m, 1))
    v = np.exp(rng.normal(-2, rng.choice([0.1, 1.5, 4], (m, 1)), (m, kmax)))
    ks = rng.integers(1, kmax + 1, m)
    for i, k in enumerate(ks):
        y[i, k:] = v[i, k:] = np.nan
        if rng.uniform() < 0.1:
            y[i, :k] = y[i, 0]
    return y, v, ks


def audit(seed: int, m: int) -> list[str]:
    y, v, ks = tables(seed, m)
    bad = []
    for method in METHODS:
        tol = 1e-9 if method in ("DL", "HE", "HS") else 1e-6
        for ci in ("z", "hksj"):
            out = pool_batch(y, v, model="random", tau2_method=method, ci_method=ci)
            for i, k in enumerate(ks):
                eff = mc.EffectSizes(yi=y[i, :k], vi=v[i, :k],
                                     study=tuple(map(str, range(k))), measure="GEN")
                try:
                    ref = mc.pool(eff, model="random", tau2_method=method, ci_method=ci)
                except mc.MetacoreError:
                    if np.isfinite(out["estimate"][i]):
                        bad.append(f"{method} {ci} row {i}: pool refused, batch pooled")
                    continue
                for name in COLUMNS:
                    a, b = out[name][i], getattr(ref, name)
                    if not (np.isclose(a, b, rtol=tol, atol=tol * 1e-3)
                            or (np.isnan(a) and np.isnan(b))):
                        bad.append(f"{method} {ci} row {i} (k={k}) {name}: {a!r} vs {b!r}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--rows", type=int, default=600)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    total = 0
    for seed in args.seeds:
        bad = audit(seed, args.rows)
        total += len(bad)
        print(f"seed {seed}: {args.rows} tables x {len(METHODS)} estimators x 2 intervals, "
              f"{len(bad)} mismatches")
        for line in bad[:20]:
            print("  " + line)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
