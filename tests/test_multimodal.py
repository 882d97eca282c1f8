"""ML and REML return the global maximum of the (restricted) likelihood over tau^2 >= 0.

References: tests/reference/make_multimodal.R (metafor's fit, and the global maximum of
metafor's own profile log-likelihood over a dense grid refined by optimize()).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.models.tau2 import _loglik
from tests.conftest import REF_DIR

REF = json.loads((REF_DIR / "multimodal_reference.json").read_text())
CASES = REF["cases"]


def _effects(case: dict) -> mc.EffectSizes:
    table = pd.read_csv(REF_DIR / f"{case['data']}.csv").drop(index=case["drop"] - 1)
    return mc.compute_effects(table, case["measure"])


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_global_maximum_as_found_by_a_dense_profile(case):
    res = mc.pool(_effects(case), tau2_method=case["method"])
    # metafor: global maximum of logLik(rma(..., tau2 = t)) over a dense grid + optimize()
    assert res.tau2 == pytest.approx(case["global_tau2"], rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_never_below_metafor_likelihood_and_the_second_maximum_is_named(case):
    eff = _effects(case)
    res = mc.pool(eff, tau2_method=case["method"])
    reml = case["method"] == "REML"
    ours = _loglik(res.tau2, eff.yi, eff.vi, reml)[0]
    theirs = _loglik(case["metafor_tau2"], eff.yi, eff.vi, reml)[0]
    assert ours >= theirs - 1e-9
    two_maxima = case["drop"] in (6, 32) or case["method"] == "ML"
    assert any("more than one maximum" in n for n in res.notes) == two_maxima


def test_egger2001_where_metafor_is_wrong():
    case = next(c for c in CASES if c["data"] == "egger2001" and c["method"] == "ML")
    eff = _effects(case)
    res = mc.pool(eff, tau2_method="ML")
    assert case["metafor_tau2"] == 0.0                     # metafor stops at the boundary
    gain = _loglik(res.tau2, eff.yi, eff.vi, False)[0] - _loglik(0.0, eff.yi, eff.vi, False)[0]
    assert gain == pytest.approx(case["global_loglik"] - case["metafor_loglik"], rel=1e-6)
    assert gain > 9.7


def test_leave_one_out_refits_use_the_global_maximum():
    table = pd.read_csv(REF_DIR / "lau1992.csv")
    eff = mc.compute_effects(table, "RD")
    l1o = mc.leave_one_out(eff, model="random", tau2_method="REML")
    row = l1o.iloc[5]                                      # trial 6 left out
    alone = mc.pool(_effects(CASES[0]), tau2_method="REML")
    assert alone.tau2 == 0.0
    assert row["tau2"] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_reach_the_brute_force_maximum(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 12))
    # clusters of precise studies far apart: the shape that makes several maxima
    yi = np.concatenate([rng.normal(0, 0.05, k), rng.normal(rng.uniform(0.5, 2), 0.05, 2)])
    vi = np.concatenate([rng.uniform(0.001, 0.05, k), rng.uniform(1e-4, 1e-3, 2)])
    grid = np.concatenate([[0.0], np.geomspace(1e-9, 50, 20000)])
    for method in ("ML", "REML"):
        reml = method == "REML"
        tau2 = mc.tau2.estimate_tau2(yi, vi, method).tau2
        best = _loglik(grid, yi, vi, reml).max()
        assert _loglik(tau2, yi, vi, reml)[0] >= best - 1e-7
