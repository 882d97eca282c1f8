"""MANTRA-type clustering against a slow, obviously-correct brute force: a loop over every
centre set, the k x k covariance of y written out, and adaptive quadrature over tau^2."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

import metacore as mc
from metacore.models.cluster import cluster_meta, distances_from


def brute_force(y, v, D, rate, mu_sd):
    k = y.size
    sets, post, partitions = [], [], []
    for c in range(1, k + 1):
        prior_c = 0.5 if c == 1 else 2.0**-c * 2 ** (k - 1) / (2 ** (k - 1) - 1)
        for S in itertools.combinations(range(k), c):
            assign = [min(S, key=lambda j: (D[i, j], S.index(j))) for i in range(k)]
            Z = np.array([[a == s for s in S] for a in assign], float)

            def ml(t2, Z=Z):
                cov = np.diag(v) + t2 * Z @ Z.T
                if mu_sd is None:
                    inv = np.linalg.inv(cov)
                    one = np.ones(k)
                    a, b = one @ inv @ one, one @ inv @ y
                    return math.exp(-0.5 * (k - 1) * math.log(2 * math.pi)
                                    - 0.5 * np.linalg.slogdet(cov)[1] - 0.5 * math.log(a)
                                    - 0.5 * (y @ inv @ y - b * b / a))
                return stats.multivariate_normal(np.zeros(k), cov + mu_sd**2).pdf(y)

            f = lambda t2, ml=ml: rate * math.exp(-rate * t2) * ml(t2)  # noqa: E731
            val = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0]
            sets.append((S, assign))
            post.append(prior_c / math.comb(k, c) * val)
            partitions.append(assign)
    post = np.array(post)
    z = post.sum()
    p = post / z
    prob_c = np.array([p[[len(S) == c for S, _ in sets]].sum() for c in range(1, k + 1)])
    cocl = sum(pi * np.equal.outer(a, a) for pi, (_, a) in zip(p, sets, strict=True))
    center = np.zeros((k, k))
    for pi, (_, a) in zip(p, sets, strict=True):
        center[np.arange(k), a] += pi
    null = np.prod(stats.norm.pdf(y, 0, np.sqrt(v)))
    one = [i for i, (S, _) in enumerate(sets) if len(S) == 1][0]
    bf = math.log10(z / null) if mu_sd is not None else float("nan")
    bf1 = math.log10(post[one] / 0.5 * k / null) if mu_sd is not None else float("nan")
    return prob_c, cocl, center, bf, bf1


CASES = {
    "k2": (np.array([0.1, 0.5]), np.array([0.01, 0.02]), np.array([0.0, 1.0])),
    "null": (np.array([0.01, -0.02, 0.0, 0.015]), np.array([0.01, 0.02, 0.015, 0.01]),
             np.array([0.0, 1.0, 2.0, 3.0])),
    "homogeneous": (np.array([0.30, 0.31, 0.29, 0.30]), np.array([0.01, 0.01, 0.02, 0.015]),
                    np.array([0.0, 0.5, 1.0, 4.0])),
    "two_clusters": (np.array([0.1, 0.12, 0.6, 0.58, 0.61]),
                     np.array([0.004, 0.005, 0.004, 0.006, 0.005]),
                     np.array([[0, 0], [0.1, 0], [3, 1], [3.1, 1.2], [2.9, 0.9]])),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mu_sd", [0.5, None])
def test_exact_enumeration_matches_brute_force(name, mu_sd):
    y, v, coords = CASES[name]
    D = distances_from(coords)
    eff = mc.EffectSizes(yi=y, vi=v, study=tuple(f"S{i}" for i in range(y.size)),
                         measure="GEN")
    res = cluster_meta(eff, D, tau2_prior_rate=1.0, mu_prior_sd=mu_sd)
    prob_c, cocl, center, bf, bf1 = brute_force(y, v, D, 1.0, mu_sd)
    np.testing.assert_allclose(res.prob_c, prob_c, atol=1e-6)
    np.testing.assert_allclose(res.coclustering, cocl, atol=1e-6)
    np.testing.assert_allclose(res.center_prob, center, atol=1e-6)
    if mu_sd is None:
        assert math.isnan(res.log10_bf) and math.isnan(res.log10_bf_c1)
    else:
        assert res.log10_bf == pytest.approx(bf, abs=1e-6)
        assert res.log10_bf_c1 == pytest.approx(bf1, abs=1e-6)


def test_clusters_are_found_and_the_prior_is_right():
    y, v, coords = CASES["two_clusters"]
    eff = mc.EffectSizes(yi=y, vi=v, study=tuple("ABCDE"), measure="GEN")
    res = cluster_meta(eff, distances_from(coords))
    assert res.prob_heterogeneous > 0.9
    assert res.coclustering[0, 1] > 0.9 and res.coclustering[0, 2] < 0.1
    assert res.map_partition == (0, 0, 1, 1, 1)
    assert res.theta_mean[0] < 0.2 < 0.5 < res.theta_mean[3]
    # The prior alone (uninformative data: huge variances) gives back P(C = c).
    flat = mc.EffectSizes(yi=np.zeros(4), vi=np.full(4, 1e8), study=tuple("abcd"),
                          measure="GEN")
    prior = cluster_meta(flat, distances_from(np.arange(4.0))).prob_c
    expected = [0.5] + [2.0**-c * 8 / 7 for c in range(2, 5)]
    np.testing.assert_allclose(prior, expected, atol=1e-6)


def test_sixteen_studies_are_exact():
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(0.1, 0.03, 8), rng.normal(0.4, 0.03, 8)])
    eff = mc.EffectSizes(yi=y, vi=np.full(16, 0.002), study=tuple(map(str, range(16))),
                         measure="GEN")
    res = cluster_meta(eff, distances_from(np.r_[np.zeros(8), np.ones(8)]
                                           + rng.normal(0, 0.01, 16)))
    assert res.prob_c.sum() == pytest.approx(1.0)
    assert res.prob_heterogeneous > 0.99 and res.exact


def test_bad_distances():
    eff = mc.EffectSizes(yi=np.zeros(3), vi=np.ones(3), study=tuple("abc"), measure="GEN")
    with pytest.raises(mc.OptionError, match="3 x 3"):
        cluster_meta(eff, np.zeros((2, 2)))


def test_beyond_the_exact_limit_importance_sampling_agrees_within_its_error(monkeypatch):
    import metacore.models.cluster as cluster

    rng = np.random.default_rng(5)
    k = 11
    y = np.r_[rng.normal(0.1, 0.05, 6), rng.normal(0.3, 0.05, 5)]
    eff = mc.EffectSizes(yi=y, vi=np.full(k, 0.01), study=tuple(map(str, range(k))),
                         measure="GEN")
    D = distances_from(np.r_[np.zeros(6), np.ones(5)] + rng.normal(0, 0.05, k))
    exact = cluster_meta(eff, D)
    monkeypatch.setattr(cluster, "EXACT_LIMIT", 8)
    approx = cluster_meta(eff, D, samples=40_000, seed=1)
    assert exact.exact and not approx.exact
    assert any("importance sampling" in n for n in approx.notes)
    se = approx.mc_se
    assert abs(approx.log10_bf - exact.log10_bf) < 5 * se["log10_bf"] + 1e-3
    assert abs(approx.prob_heterogeneous - exact.prob_heterogeneous) < \
        5 * se["prob_heterogeneous"] + 1e-3
    assert np.abs(approx.coclustering - exact.coclustering).max() < 0.05


def test_seventeen_studies_are_sampled_not_refused():
    rng = np.random.default_rng(2)
    eff = mc.EffectSizes(yi=rng.normal(0.2, 0.1, 17), vi=np.full(17, 0.01),
                         study=tuple(map(str, range(17))), measure="GEN")
    res = cluster_meta(eff, distances_from(rng.normal(size=(17, 2))), samples=5_000)
    assert not res.exact and res.prob_c.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["k2", "two_clusters"])
def test_posterior_mean_effects_match_brute_force(name):
    y, v, coords = CASES[name]
    D = distances_from(coords)
    k, sd = y.size, 0.5
    eff = mc.EffectSizes(yi=y, vi=v, study=tuple(map(str, range(k))), measure="GEN")
    res = cluster_meta(eff, D, mu_prior_sd=sd)
    num, den = np.zeros(k), 0.0
    for c in range(1, k + 1):
        prior_c = 0.5 if c == 1 else 2.0**-c * 2 ** (k - 1) / (2 ** (k - 1) - 1)
        for S in itertools.combinations(range(k), c):
            Z = np.array([[min(S, key=lambda j: (D[i, j], S.index(j))) == s for s in S]
                          for i in range(k)], float)

            def parts(t2, Z=Z):
                cb = t2 * np.eye(Z.shape[1]) + sd**2
                cov = Z @ cb @ Z.T + np.diag(v)
                dens = stats.multivariate_normal(np.zeros(k), cov).pdf(y)
                return dens, Z @ cb @ Z.T @ np.linalg.solve(cov, y)

            def f(t2, i=None, parts=parts):
                dens, mean = parts(t2)
                return math.exp(-t2) * dens * (1.0 if i is None else mean[i])

            p_s = prior_c / math.comb(k, c)
            den += p_s * integrate.quad(f, 0, np.inf, epsrel=1e-11, limit=400)[0]
            for i in range(k):
                num[i] += p_s * integrate.quad(lambda t, i=i: f(t, i), 0, np.inf,
                                               epsrel=1e-11, limit=400)[0]
    np.testing.assert_allclose(res.theta_mean, num / den, atol=1e-6)


def test_one_cluster_with_tau2_near_zero_is_the_common_effect_bayesian_analysis():
    # tau^2 ~ Exp(1e7): tau^2 is about 1e-7, so the one-cluster model is the common-effect
    # model with mu ~ N(0, 0.5^2); its Bayes factor against mu = 0 is the Savage-Dickey one
    # of metacore.bayes_pool with tau fixed at 0.
    y, v, coords = CASES["homogeneous"]
    eff = mc.EffectSizes(yi=y, vi=v, study=tuple("abcd"), measure="GEN")
    res = cluster_meta(eff, distances_from(coords), tau2_prior_rate=1e7, mu_prior_sd=0.5)
    bay = mc.bayes_pool(eff, tau_prior=mc.priors.Fixed(0.0), mu_prior=mc.priors.Normal(0, 0.5))
    assert res.log10_bf_c1 == pytest.approx(-math.log10(bay.bf_mu0), abs=1e-4)
    one = np.flatnonzero((res.partitions == 0).all(1))[0]
    assert res.partition_prob[one] > 0.5


# 1e-31: SEs so small that the product behind log det underflows (the sum-of-logs path)
@pytest.mark.parametrize("scale", [1.0, 1e-31])
def test_batch_rows_equal_cluster_meta(scale):
    rng = np.random.default_rng(8)
    k = 5
    D = distances_from(rng.normal(size=(k, 2)))
    Y, S = rng.normal(0.1, 0.2, (40, k)) * scale, rng.uniform(0.05, 0.2, (40, k)) * scale
    out = mc.cluster_meta_batch(Y, S, D)           # chunks of 10 rows: four of them
    for i in range(0, 40, 7):
        r = cluster_meta(mc.EffectSizes(yi=Y[i], vi=S[i] ** 2, study=tuple("abcde"),
                                        measure="GEN"), D)
        assert out["prob_heterogeneous"][i] == pytest.approx(r.prob_heterogeneous, abs=1e-12)
        assert out["log10_bf"][i] == pytest.approx(r.log10_bf, abs=1e-10)
        np.testing.assert_allclose(out["prob_c"][i], r.prob_c, atol=1e-12)
