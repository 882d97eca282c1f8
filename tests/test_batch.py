"""pool_batch: every row equals pool on that row's studies."""

from __future__ import annotations

import numpy as np
import pytest

import metacore as mc
from metacore.batch import pool_batch

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
        ours = out.loc[i, ["estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "i2", "q"]]
        np.testing.assert_allclose(ours.to_numpy(float),
                                   [r.estimate, r.se, r.ci_low, r.ci_high, r.pvalue, r.tau2,
                                    r.i2, r.q], rtol=rtol, atol=1e-12, err_msg=f"row {i}")
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
