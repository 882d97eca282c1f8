"""The global-maximum scan made cheap (issue 23, item 17): cells of the score grid proven to
keep one sign are not evaluated point by point; the sign pattern, hence the maxima found,
are those of the full scan."""

from __future__ import annotations

import numpy as np
import pytest

import metacore as mc
from metacore.models import tau2


def _random_case(rng, k):
    vi = rng.uniform(0.001, 0.5, k) ** rng.uniform(0.5, 3)
    yi = rng.normal(0, rng.uniform(0.05, 1), k) + rng.normal(0, np.sqrt(vi))
    if rng.random() < 0.4:          # a precise, discordant cluster: several maxima possible
        m = int(k * rng.uniform(0.05, 0.4))
        yi[:m] += rng.normal(0, 2)
        vi[:m] *= 10 ** -rng.uniform(1, 3)
    return yi, vi


@pytest.mark.parametrize("reml", [True, False])
def test_bounded_scan_has_the_full_scans_signs(reml):
    rng = np.random.default_rng(23)
    for _ in range(150):
        yi, vi = _random_case(rng, int(rng.integers(tau2._BOUND_K, 1500)))
        grid = tau2.score_grid(yi, vi)
        full = tau2._score_vector(grid, yi, vi, reml)
        fast = tau2._grid_signs(grid, yi, vi, reml)
        np.testing.assert_array_equal(fast > 0, full > 0)


def test_several_maxima_at_large_k_still_found():
    # 366 imprecise, widely spread studies and 34 precise ones agreeing elsewhere: the
    # restricted likelihood has maxima at 0 and near 0.57; the highest must win, as a
    # brute-force search over tau^2 confirms, and the note must name both.
    rng = np.random.default_rng(0)
    k, m = 400, int(rng.integers(2, 40))
    vi = np.r_[np.full(k - m, rng.uniform(0.5, 5)), np.full(m, 10 ** -rng.uniform(2, 5))]
    yi = np.r_[rng.normal(0, rng.uniform(0.5, 3), k - m),
               np.full(m, rng.uniform(0.5, 3)) + rng.normal(0, 0.01, m)]
    fit = tau2.estimate_tau2(yi, vi, "REML")
    assert "more than one maximum" in fit.note
    grid = np.concatenate([[0.0], np.geomspace(1e-9, 50, 40001)])
    ll = tau2._loglik(grid, yi, vi, True)
    assert fit.tau2 == pytest.approx(grid[int(np.argmax(ll))], rel=1e-3)
    assert tau2._loglik(np.array([fit.tau2]), yi, vi, True)[0] >= ll.max() - 1e-9
    res = mc.pool(mc.EffectSizes(yi=yi, vi=vi, study=tuple(map(str, range(k))),
                                 measure="GEN"), tau2_method="REML")
    assert res.tau2 == pytest.approx(fit.tau2, rel=1e-12)
