"""pool_glmm against metafor's rma.glmm (lme4, nAGQ = 7) and against direct integration.

References: tests/reference/outcomes_reference.json["glmm"], written by
tests/reference/make_outcomes.R, which also gives the exact log-likelihood at metafor's own
estimates (R's integrate over each study's random effect).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import metacore as mc
from metacore.models import glmm
from tests.test_outcomes import outcomes, ref_table

CASES = outcomes()["glmm"]


def _fit(case: dict, **kw) -> mc.GlmmResult:
    return mc.pool_glmm(ref_table(case["dataset"]), case["measure"], **kw)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_matches_rma_glmm_within_its_convergence(case):
    # metafor: rma.glmm(...) as in case["call"]; lme4's optimiser stops near, not at, the
    # optimum, so ours must reach at least its exact log-likelihood ...
    res = _fit(case)
    assert res.k == case["k"]
    assert res.converged
    assert res.loglik >= case["loglik_exact_at_metafor"] - 1e-6
    # ... and the τ² = 0 fit is the GLM metafor starts from (R's glm logLik)
    assert res.loglik_fe == pytest.approx(case["loglik_fe"], abs=1e-6)
    assert res.lrt >= case["lrt_at_metafor"] - 2e-6
    if res.loglik - case["loglik_exact_at_metafor"] > 1e-3:
        # lme4 stopped short (props_edge: τ ≈ 7 with 0% and 100% studies); ours is higher
        assert case["dataset"] == "props_edge"
        return
    assert res.estimate == pytest.approx(case["estimate"], abs=1e-3)
    assert res.se == pytest.approx(case["se"], rel=2e-3)
    assert res.tau2 == pytest.approx(case["tau2"], abs=1e-3)
    assert res.ci_low == pytest.approx(case["ci_low"], abs=2e-3)
    assert res.ci_high == pytest.approx(case["ci_high"], abs=2e-3)
    assert res.pvalue == pytest.approx(case["pvalue"], rel=2e-2, abs=1e-10)


def _quad(f) -> float:
    # beyond |z| = 38 the normal density is below 1e-300: nothing is left out
    with np.errstate(all="ignore"):
        return integrate.quad(f, -38, 38, epsabs=0, epsrel=1e-12, limit=1000, points=[0])[0]


def _quad_loglik(res: mc.GlmmResult, table: pd.DataFrame) -> float:
    """The marginal log-likelihood at ``res`` by scipy's adaptive quad, study by study."""
    tau, beta = res.tau, res.estimate
    total = 0.0
    tab = table.reset_index(drop=True)
    if res.measure in ("PLO", "IRLN"):
        for _, row in tab.iterrows():
            if res.measure == "PLO":
                def f(z, row=row):
                    return stats.binom.pmf(row["events"], row["n"], special.expit(beta + tau * z)) \
                        * stats.norm.pdf(z)
            else:
                def f(z, row=row):
                    return stats.poisson.pmf(row["events"], row["time"] * np.exp(beta + tau * z)) \
                        * stats.norm.pdf(z)
            total += math.log(_quad(f))
        return total
    used = tab[tab["study"].isin(res.study)].reset_index(drop=True)
    for alpha, (_, row) in zip(res.study_effects, used.iterrows(), strict=True):
        if res.measure == "OR":
            def f(z, row=row, alpha=alpha):
                return (stats.binom.pmf(row["events_t"], row["n_t"],
                                        special.expit(alpha + beta + tau * z / 2))
                        * stats.binom.pmf(row["events_c"], row["n_c"],
                                          special.expit(alpha - tau * z / 2)) * stats.norm.pdf(z))
        else:
            def f(z, row=row, alpha=alpha):
                return (stats.poisson.pmf(row["events_t"], row["time_t"] *
                                          np.exp(alpha + beta + tau * z / 2))
                        * stats.poisson.pmf(row["events_c"], row["time_c"] *
                                            np.exp(alpha - tau * z / 2)) * stats.norm.pdf(z))
        total += math.log(_quad(f))
    return total


@pytest.mark.parametrize("case", [c for c in CASES if c["dataset"] in
                                  ("pritz1997", "props_edge", "hart1999_c", "bcg",
                                   "nielweise2008")],
                         ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_loglik_equals_direct_integration_at_the_optimum(case):
    res = _fit(case)
    assert res.loglik == pytest.approx(_quad_loglik(res, ref_table(case["dataset"])),
                                       abs=1e-8)


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[7]],
                         ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_estimate_is_stable_when_the_nodes_are_doubled(case, monkeypatch):
    res = _fit(case)
    monkeypatch.setattr(glmm, "_NODES", 2 * res.nodes)
    more = _fit(case)
    assert more.nodes >= 2 * res.nodes
    assert more.estimate == pytest.approx(res.estimate, abs=1e-6)
    assert more.tau2 == pytest.approx(res.tau2, abs=1e-6)


def test_t_interval_and_natural_scale():
    case = CASES[1]                      # pritz1997, PLO
    z = _fit(case)
    t = _fit(case, ci_method="t", level=0.9)
    assert t.df == z.k - 1 and t.estimate == z.estimate
    crit = stats.t.ppf(0.95, z.k - 1)
    assert t.ci_low == pytest.approx(z.estimate - crit * z.se, abs=1e-12)
    assert t.pvalue == pytest.approx(2 * stats.t.sf(abs(z.estimate / z.se), z.k - 1))
    nat = z.natural()
    assert nat["estimate"] == pytest.approx(special.expit(z.estimate))
    assert nat["pi_high"] == pytest.approx(
        special.expit(z.estimate + stats.norm.ppf(0.975) * math.hypot(z.se, z.tau)))
    odds = _fit(CASES[7])                # bcg, OR
    assert odds.natural()["ci_low"] == pytest.approx(math.exp(odds.ci_low))
    assert "τ² = 0: χ²" in z.summary() and f"{z.nodes} nodes" in z.summary()
    frame = z.to_frame().set_index("statistic")
    assert frame.loc["lrt", "value"] == pytest.approx(z.lrt)
    assert z.lrt_pvalue == pytest.approx(0.5 * stats.chi2.sf(z.lrt, 1))


def test_boundary_tau_is_said():
    res = _fit(next(c for c in CASES if c["dataset"] == "hart1999"))
    assert res.boundary and res.tau2 == 0 and res.lrt == pytest.approx(0, abs=1e-8)
    assert any("boundary" in n for n in res.notes)


def test_double_zero_studies_leave_the_two_group_models_only():
    tab = pd.DataFrame({"study": ["A", "B", "C", "D"], "events_t": [0, 3, 5, 8],
                        "n_t": [30, 40, 50, 60], "events_c": [0, 6, 9, 15],
                        "n_c": [30, 41, 52, 58]})
    res = mc.pool_glmm(tab, "OR")
    assert res.k == 3 and res.excluded[0].study == "A"
    assert "no events (or only events) in both groups" in res.excluded[0].reason
    single = pd.DataFrame({"events": [0, 0, 4, 9], "n": [20, 25, 30, 28]})
    assert mc.pool_glmm(single, "PLO").k == 4       # 0% studies stay in


def test_bad_input_gets_a_clear_message():
    with pytest.raises(mc.DataError, match="No study has any event"):
        mc.pool_glmm(pd.DataFrame({"events": [0, 0], "n": [10, 12]}), "PLO")
    with pytest.raises(mc.MeasureError, match="GLMM"):
        mc.pool_glmm(pd.DataFrame({"events": [1, 2], "n": [10, 12]}), "PFT")
    with pytest.raises(mc.OptionError):
        mc.pool_glmm(pd.DataFrame({"events": [1, 2], "n": [10, 12]}), "PLO", ci_method="hksj")
    tab = pd.DataFrame({"study": ["A", "B", "C"], "events": [3, 14, 5], "n": [10, 12, 20]})
    res = mc.pool_glmm(tab, "PLO")
    assert res.k == 2 and "events (14) is larger than n (12)" in res.excluded[0].reason
