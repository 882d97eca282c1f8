"""Bayesian pooling against an independent brute-force 2-D quadrature over (mu, tau)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import metacore as mc
from metacore.models import priors as P


def brute_force(yi, vi, tau_prior, mu_prior=None, level=0.95):
    """Joint posterior on a dense (mu, log tau) grid: no analytic step, no mixture."""
    scale = max(np.sqrt(np.mean(vi)), np.std(yi))
    lo = np.log(max(tau_prior.lower, scale * 1e-7)) if tau_prior.lower > 0 else \
        np.log(scale * 1e-7)
    hi = np.log(min(tau_prior.upper, scale * 1e5))
    u = np.linspace(lo, hi, 1500)
    tau = np.clip(np.exp(u), tau_prior.lower, tau_prior.upper)   # exp(log b) may exceed b
    center = float(np.average(yi, weights=1 / vi))
    t = np.linspace(-9, 9, 2401)
    c = scale
    mu = center + c * np.sinh(t)
    jac_mu = c * np.cosh(t)
    logp = np.empty((tau.size, mu.size))
    for j, tj in enumerate(tau):
        s2 = vi + tj**2
        logp[j] = (-0.5 * (((yi[None, :] - mu[:, None]) ** 2) / s2).sum(1)
                   - 0.5 * np.log(s2).sum())
    logp += (tau_prior.logpdf(tau) + u)[:, None]
    if mu_prior is not None:
        logp += stats.norm.logpdf(mu, mu_prior.mean, mu_prior.sd)[None, :]
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    dens = np.exp(logp - logp.max()) * jac_mu[None, :]
    du, dt = u[1] - u[0], t[1] - t[0]
    mu_marg = np.trapezoid(dens, dx=du, axis=0)        # density in t
    tau_marg = np.trapezoid(dens, dx=dt, axis=1)       # density in u

    def quantiles(x, f, dx):
        cdf = np.concatenate([[0], np.cumsum((f[1:] + f[:-1]) / 2 * dx)])
        cdf /= cdf[-1]
        a = 1 - level
        return np.interp([a / 2, 0.5, 1 - a / 2], cdf, x), cdf

    mq, mcdf = quantiles(mu, mu_marg, dt)
    tq, _ = quantiles(tau, tau_marg, du)
    p_pos = 1 - np.interp(0.0, mu, mcdf)
    return mq, tq, p_pos


CASES = [
    ("seed002", "MD", P.HalfNormal(2.0), None),
    ("seed002", "MD", P.HalfCauchy(1.0), None),
    ("seed002", "MD", P.InvGamma(0.001, 0.001), None),       # Lambert L1
    ("seed002", "MD", P.LogUniformTau2(-10, 10), None),      # Lambert L3
    ("seed002", "MD", P.Uniform(100), P.Normal(0, 1)),       # Lambert L9, psi^2 = 1
    ("bcg", "RR", P.HalfNormal(0.5), None),
    ("bcg", "RR", P.HalfT(0.5, 3), P.Normal(0, 10)),
    ("bcg_k2", "RR", P.HalfCauchy(0.5), None),               # k = 2
    ("seed000", "GEN", P.HalfNormal(0.5), None),             # tau^2 = 0 by DL
    ("seed000", "GEN", P.Uniform(2.0), None),
    ("bcg_k2", "RR", P.HalfCauchy(0.5), P.Normal(0, 1)),
]


def _effects(name, measure):
    table = mc.datasets.load("bcg").iloc[:2] if name == "bcg_k2" else mc.datasets.load(name)
    return mc.compute_effects(table, measure)


@pytest.mark.parametrize("name, measure, tau_prior, mu_prior", CASES,
                         ids=[f"{c[0]}-{c[2].label}-{c[3]}" for c in CASES])
def test_posterior_matches_brute_force_quadrature(name, measure, tau_prior, mu_prior):
    eff = _effects(name, measure)
    res = mc.bayes_pool(eff, tau_prior=tau_prior, mu_prior=mu_prior)
    mq, tq, p_pos = brute_force(eff.yi, eff.vi, tau_prior, mu_prior)
    width_mu = res.mu_high - res.mu_low
    np.testing.assert_allclose([res.mu_low, res.mu_median, res.mu_high], mq,
                               atol=1e-3 * width_mu)
    width_tau = res.tau_high - res.tau_low
    np.testing.assert_allclose([res.tau_low, res.tau_median, res.tau_high], tq,
                               atol=1e-3 * width_tau)
    assert res.prob_mu_positive == pytest.approx(p_pos, abs=1e-3)


def test_fixed_tau_is_the_conditional_normal():
    eff = _effects("seed002", "MD")
    res = mc.bayes_pool(eff, tau_prior=P.Fixed(1.0))
    w = 1 / (eff.vi + 1.0)
    mean, sd = w @ eff.yi / w.sum(), np.sqrt(1 / w.sum())
    assert res.mu_median == pytest.approx(mean)
    assert res.mu_high == pytest.approx(mean + 1.959963984540054 * sd)


def test_fixed_tau_zero_with_flat_mu_is_the_common_effect():
    eff = _effects("seed000", "GEN")
    res = mc.bayes_pool(eff, tau_prior=P.Fixed(0.0))
    fe = mc.pool(eff, model="common")
    assert res.mu_median == pytest.approx(fe.estimate)
    assert res.mu_low == pytest.approx(fe.ci_low) and res.mu_high == pytest.approx(fe.ci_high)


def test_shrunken_study_effects_lie_between_data_and_mean():
    eff = _effects("seed002", "MD")
    res = mc.bayes_pool(eff, tau_prior=P.HalfNormal(2.0))
    lo = np.minimum(eff.yi, res.mu_mean)
    hi = np.maximum(eff.yi, res.mu_mean)
    assert np.all((res.theta_mean >= lo - 1e-9) & (res.theta_mean <= hi + 1e-9))
    assert np.all(res.theta_low < res.theta_mean) and np.all(res.theta_mean < res.theta_high)
    assert res.pred_low < res.mu_low and res.pred_high > res.mu_high


def test_bayes_factors_only_where_priors_are_proper():
    eff = _effects("seed000", "GEN")
    flat = mc.bayes_pool(eff, tau_prior=P.HalfNormal(0.5))
    assert np.isnan(flat.bf_mu0) and flat.bf_tau0 > 1      # homogeneous data favour tau = 0
    proper = mc.bayes_pool(eff, tau_prior=P.HalfNormal(0.5), mu_prior=P.Normal(0, 1))
    assert proper.bf_mu0 < 0.05                             # evidence against mu = 0
    lambert = mc.bayes_pool(eff, tau_prior=P.InvGamma(0.001, 0.001))
    assert np.isnan(lambert.bf_tau0)


def test_improper_combinations_are_refused():
    one = mc.compute_effects(pd.DataFrame({"yi": [0.2], "vi": [0.01]}), "GEN")
    with pytest.raises(mc.OptionError, match="improper"):
        mc.bayes_pool(one, tau_prior=P.Jeffreys())
    with pytest.raises(mc.OptionError):
        mc.bayes_pool(one, tau_prior="half-normal")
    with pytest.raises(mc.OptionError):
        mc.bayes_pool(one, tau_prior=P.HalfNormal(-1))


def test_threshold_probability():
    eff = _effects("bcg", "RR")
    res = mc.bayes_pool(eff, tau_prior=P.HalfNormal(0.5), threshold=np.log(0.8))
    assert res.prob_mu_beyond < res.prob_mu_positive + 1 and 0 < res.prob_mu_beyond < 0.2
    assert res.prob_mu_positive < 0.01


def test_seed002_prior_sensitivity_pattern():
    # seed 002: priors matter for mu far more than for beta_F (whose posterior under a flat
    # prior does not involve tau at all).
    eff = _effects("seed002", "MD")
    widths = []
    for tau2 in (0.25, 1, 25, 100):
        for psi2 in (0.1, 1, 1000):
            r = mc.bayes_pool(eff, tau_prior=P.Fixed(np.sqrt(tau2)),
                              mu_prior=P.Normal(0, np.sqrt(psi2)))
            widths.append((tau2, psi2, r.mu_median, r.mu_high - r.mu_low))
    medians = [m for *_, m, _ in widths]
    assert max(medians) - min(medians) > 1.5              # mu moves a lot with the prior
    fe = mc.pool(eff, model="common")
    assert fe.ci_high - fe.ci_low < 1                     # beta_F stays put: -2.04 [-2.45, -1.64]


def test_shortest_intervals_are_no_wider_than_equal_tailed():
    eff = _effects("bcg", "RR")
    r = mc.bayes_pool(eff, tau_prior=P.HalfCauchy(0.5))
    assert r.mu_short_high - r.mu_short_low <= r.mu_high - r.mu_low + 1e-9
    assert r.tau_short_high - r.tau_short_low <= r.tau_high - r.tau_low + 1e-9
    assert r.pred_short_high - r.pred_short_low <= r.pred_high - r.pred_low + 1e-3
    assert r.tau_short_low < r.tau_low    # tau's posterior is right-skewed


def _adaptive_reference(yi, vi, upper):
    """mu's mean and quantiles under tau ~ U(0, upper), flat mu, by adaptive quadrature in tau
    (mu | tau, y is normal), independent of the engine's grids."""
    import math

    from scipy import integrate, optimize, special

    def parts(t):
        w = 1 / (vi + t * t)
        sw = w.sum()
        m = (w @ yi) / sw
        ll = -0.5 * np.log(vi + t * t).sum() - 0.5 * np.log(sw) - 0.5 * (w * (yi - m) ** 2).sum()
        return ll, m, 1 / sw

    top = max(parts(t)[0] for t in np.linspace(0, upper, 2001))
    dens = lambda t: math.exp(parts(t)[0] - top)  # noqa: E731
    quad = lambda f: integrate.quad(f, 0, upper, epsabs=0, epsrel=1e-11, limit=500)[0]  # noqa: E731
    z = quad(dens)
    mean = quad(lambda t: dens(t) * parts(t)[1]) / z

    def cdf(q):
        return quad(lambda t: dens(t) * special.ndtr((q - parts(t)[1]) / math.sqrt(parts(t)[2])))

    qs = [optimize.brentq(lambda q, p=p: cdf(q) / z - p, yi.min() - 50, yi.max() + 50,
                          xtol=1e-10) for p in (0.025, 0.5, 0.975)]
    return mean, qs


def test_uniform_prior_whose_posterior_piles_up_at_the_bound():
    # normand1999 (stroke) MD, tau ~ U(0, 2): the mass next to tau = 2 must not be lost
    eff = mc.compute_effects(mc.datasets.load("stroke"), "MD")
    res = mc.bayes_pool(eff, tau_prior=P.Uniform(2.0))
    mean, (lo, med, hi) = _adaptive_reference(eff.yi, eff.vi, 2.0)
    assert mean == pytest.approx(-7.1325, abs=1e-4)          # the dense quadrature
    width = hi - lo
    assert abs(res.mu_mean - mean) < 1e-5 * width
    np.testing.assert_allclose([res.mu_low, res.mu_median, res.mu_high], [lo, med, hi],
                               atol=1e-5 * width)


@pytest.mark.parametrize("prior, mu_prior, k, proper", [
    (P.HalfCauchy(0.5), None, 2, True),        # likelihood ~ tau^-1, prior ~ tau^-2
    (P.HalfCauchy(0.5), None, 1, True),        # the posterior is the prior
    (P.Jeffreys(), None, 1, False),            # ~ tau^-1 alone: improper
    (P.Jeffreys(), None, 2, True),
    (P.InvGamma(0.001, 0.001), None, 1, False),        # tau^-1.002: proper only in name
    (P.InvGamma(0.001, 0.001), P.Normal(0, 31.6), 1, True),
    (P.HalfT(0.5, 3), None, 2, True),
])
def test_propriety_is_decided_from_the_tails(prior, mu_prior, k, proper):
    eff = mc.compute_effects(mc.datasets.load("bcg").iloc[:k], "RR")
    if proper:
        res = mc.bayes_pool(eff, tau_prior=prior, mu_prior=mu_prior)
        assert np.isfinite(res.mu_median) and np.isfinite(res.tau_high)
    else:
        with pytest.raises(mc.OptionError, match="improper|heavy"):
            mc.bayes_pool(eff, tau_prior=prior, mu_prior=mu_prior)


def test_two_studies_half_cauchy_flat_mu_matches_brute_force():
    eff = mc.compute_effects(mc.datasets.load("bcg").iloc[:2], "RR")
    res = mc.bayes_pool(eff, tau_prior=P.HalfCauchy(0.5))
    mq, tq, _ = brute_force(eff.yi, eff.vi, P.HalfCauchy(0.5))
    np.testing.assert_allclose([res.mu_low, res.mu_median, res.mu_high], mq,
                               atol=2e-3 * (mq[2] - mq[0]))
