"""pool_batch: every row equals pool on that row's studies."""

from __future__ import annotations

import numpy as np
import pytest

import metacore as mc
from metacore.batch.pool import pool_batch

METHODS = ["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(7)
    m, k = 120, 9
    y = rng.normal(0.2, 0.4, (m, k)) + rng.normal(0, 0.3, (m, 1))
    v = rng.uniform(0.005, 0.3, (m, k))
    y[rng.random((m, k)) < 0.3] = np.nan
    y[0] = np.nan                                   # no study
    y[1, 1:], y[1, 0] = np.nan, 0.3                 # one study
    y[2, :3], v[2, :3] = [0.5, 0.5, 0.5], 0.01       # identical estimates
    v[3, 2] = -0.1                                  # a non-positive variance
    # two precise clusters: a likelihood with two maxima (refitted one by one)
    y[4], v[4] = np.r_[np.full(7, 0.0), 1.0, 1.02], np.r_[np.full(7, 0.02), 1e-4, 1e-4]
    return y, v


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ci", ["z", "hksj"])
def test_every_row_equals_pool(arrays, method, ci):
    y, v = arrays
    out = pool_batch(y, v, tau2_method=method, ci_method=ci)
    rtol = 1e-6 if method in ("ML", "REML", "EB", "PM") else 1e-9
    for i in range(len(y)):
        if out.loc[i, "reason"]:
            continue
        keep = np.isfinite(y[i])
        eff = mc.EffectSizes(yi=y[i][keep], vi=v[i][keep], study=tuple(map(str, range(
            keep.sum()))), measure="GEN")
        r = mc.pool(eff, tau2_method=method, ci_method=ci)
        cols = ["estimate", "se", "ci_low", "ci_high", "pvalue", "pi_low", "pi_high", "tau2",
                "i2", "h2", "q", "q_pvalue"]
        np.testing.assert_allclose(out.loc[i, cols].to_numpy(float),
                                   [getattr(r, c) for c in cols], rtol=rtol, atol=1e-12,
                                   err_msg=f"row {i}")
        assert out.loc[i, "k"] == r.k


def test_rows_that_cannot_be_pooled_say_why(arrays):
    y, v = arrays
    out = pool_batch(y, v)
    assert out.loc[0, "reason"] == "no studies" and np.isnan(out.loc[0, "estimate"])
    assert out.loc[3, "reason"] == "a variance is not positive"
    assert out.loc[1, "k"] == 1 and out.loc[1, "tau2"] == 0.0
    assert (out["reason"] == "").sum() == len(y) - 2


def test_common_effect_and_options():
    y = np.array([[0.1, 0.3, 0.2]])
    v = np.array([[0.01, 0.02, 0.015]])
    out = pool_batch(y, v, model="common")
    r = mc.pool(mc.EffectSizes(yi=y[0], vi=v[0], study=("a", "b", "c"), measure="GEN"),
                model="common")
    assert out.loc[0, "estimate"] == pytest.approx(r.estimate) and out.loc[0, "tau2"] == 0
    with pytest.raises(mc.OptionError):
        pool_batch(y, v, tau2_method="XX")
    with pytest.raises(mc.OptionError, match="same shape"):
        pool_batch(y, v[:, :2])


def _pool_row(y, v, method, ci="z"):
    keep = np.isfinite(y)
    eff = mc.EffectSizes(yi=y[keep], vi=v[keep], study=tuple(map(str, range(keep.sum()))),
                         measure="GEN")
    return mc.pool(eff, tau2_method=method, ci_method=ci)


@pytest.mark.parametrize("method", ["DL", "REML"])
def test_wide_ragged_tables_and_far_tails(method):
    """Blocks of another size (300 studies a row), a last partial block, rows of 1 to 300
    studies, p-values beyond the fast functions' ranges (|z| > 36.8, Q > 1400) and several
    rows refitted for two likelihood maxima at positions that are not consecutive."""
    rng = np.random.default_rng(11)
    m, k = 1003, 300
    y = rng.normal(0.1, 0.3, (m, k))
    v = rng.uniform(0.01, 0.2, (m, k))
    sizes = rng.integers(1, k + 1, m)
    y[np.arange(k)[None, :] >= sizes[:, None]] = np.nan
    y[5, :40], v[5, :40] = 3.0 + rng.normal(0, 0.01, 40), 1e-4        # |z| huge
    y[5, 40:] = np.nan
    y[6, :60], v[6, :60] = np.r_[np.zeros(30), np.full(30, 2.0)], 1e-3  # Q huge
    y[6, 60:] = np.nan
    two = np.r_[np.full(7, 0.0), 1.0, 1.02], np.r_[np.full(7, 0.02), 1e-4, 1e-4]
    for row in (100, 102, 700):
        y[row], v[row] = np.nan, 0.1
        y[row, :9], v[row, :9] = two
    out = pool_batch(y, v, tau2_method=method)
    cols = ["estimate", "se", "ci_low", "pvalue", "pi_high", "tau2", "i2", "h2", "q",
            "q_pvalue"]
    assert out.loc[5, "pvalue"] < 1e-290 and out.loc[6, "q_pvalue"] < 1e-290
    rows = [0, 5, 6, 100, 102, 700, 1002] + list(rng.choice(m, 40, replace=False))
    for i in rows:
        r = _pool_row(y[i], v[i], method)
        np.testing.assert_allclose(out.loc[i, cols].to_numpy(float),
                                   [getattr(r, c) for c in cols],
                                   rtol=1e-9 if method == "DL" else 1e-6, atol=1e-300,
                                   err_msg=f"row {i}")
        assert out.loc[i, "k"] == r.k


def test_fast_elementary_functions_match_scipy():
    """exp, erfc and the chi-square tail of the batch kernel against scipy, over every range
    the kernel uses them in (the kernel itself takes libm beyond)."""
    from scipy import special

    from metacore.batch import vecmath as vm

    u = np.r_[np.linspace(0, vm.EXP_MAX, 200_001), 1e-300, 0.5 * np.log(2)]
    out, bits = np.empty(u.size), np.empty(u.size, dtype=np.int64)
    vm.exp_neg(u, u.size, out, bits)
    assert np.max(np.abs(out / np.exp(-u) - 1)) < 1e-15
    x = np.r_[np.linspace(0, vm.ERFC_MAX, 200_001), 1e-12, 0.5, 4.0 / 3]
    e, sq, bits = np.empty(x.size), np.empty(x.size), np.empty(x.size, dtype=np.int64)
    vm.erfc_pos(x, x.size, e, sq, bits, vm.TABLE)
    assert np.max(np.abs(e / special.erfc(x) - 1)) < 1e-14
    q = np.r_[np.geomspace(1e-6, 1500, 400), 0.0, -1.0, np.nan]
    for df in [1, 2, 3, 8, 9, 40, 299]:
        d = np.full(q.size, df, dtype=np.int64)
        p, sc = np.empty(q.size), np.empty((6, q.size))
        bits = np.empty(q.size, dtype=np.int64)
        vm.chi2_tail(q, d, q.size, p, sc, bits, vm.TABLE)
        ref = special.chdtrc(df, np.where(np.isnan(q), 1.0, q))
        normal = (q > 0) & (q / 2 <= 700) & (ref > 1e-300)
        # the series' terms each carry a rounding or two: up to 150 terms at df = 299
        np.testing.assert_allclose(p[normal], ref[normal], rtol=5e-13, err_msg=f"df {df}")
        assert np.isnan(p[q / 2 > 700]).all() and np.isnan(p[-1])
        assert (p[(q <= 0)] == 1.0).all()
    d = np.zeros(3, dtype=np.int64)
    p = np.empty(3)
    vm.chi2_tail(np.ones(3), d, 3, p, np.empty((6, 3)), np.empty(3, dtype=np.int64), vm.TABLE)
    assert np.isnan(p).all()                                 # df 0: no test


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_rows_with_several_likelihood_maxima_get_the_global_one(method):
    """Tables shaped to have several ML/REML maxima (precise clusters far apart), 600 of
    them in one batch with 4 to 41 studies: the block scan must flag every row whose
    likelihood has more than one maximum, so each row's tau^2 is pool's global maximum."""
    rng = np.random.default_rng(5)
    m, kmax = 600, 42
    y = np.full((m, kmax), np.nan)
    v = np.full((m, kmax), np.nan)
    for i in range(m):
        small = i % 3 != 0           # few studies, tight clusters: several maxima likelier
        k = int(rng.integers(2, 8)) if small else int(rng.integers(1, 40))
        sd = 0.02 if small else 0.05
        a = rng.normal(0, sd, k)
        b = rng.normal(rng.uniform(0.3, 2), sd, 2)
        y[i, :k + 2] = np.concatenate([a, b])
        v[i, :k + 2] = np.concatenate([rng.uniform(0.001, 0.05, k), rng.uniform(1e-4, 1e-3, 2)])
    out = pool_batch(y, v, tau2_method=method)
    several = 0
    for i in range(m):
        keep = np.isfinite(y[i])
        fit = mc.tau2.estimate_tau2(y[i][keep], v[i][keep], method)
        several += "more than one maximum" in fit.note
        assert out.loc[i, "tau2"] == pytest.approx(fit.tau2, rel=1e-6, abs=1e-12), f"row {i}"
    assert several >= 10                  # the shape does give several maxima (ML 27, REML 13)
