"""Compiled row kernel of :func:`metacore.pool_batch` (numba).

numpy alone passes over the whole (m, k) array a few hundred times for REML (Newton steps
and the scan for several maxima); compiled, each row is one short loop over its own
studies, run in parallel over rows. Each step mirrors :mod:`metacore.tau2` exactly
(same start, same safeguarded Newton, same stopping rule, same scan), so rows stay equal to
:func:`metacore.pool`; rows the kernel cannot settle (several likelihood maxima, no
convergence) are flagged and refitted one by one by the caller.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from metacore.tau2 import _GRID, _NEWTON_TOL

_EPS4 = 4 * np.finfo(float).eps
METHOD_CODES = {"DL": 0, "HE": 1, "HS": 2, "SJ": 3, "ML": 4, "REML": 5, "EB": 6, "PM": 7}


@njit(cache=True)
def _lik(t, y, v, n, reml):
    sw = sw2 = sw3 = swy = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        sw += w
        swy += w * y[i]
    mu = swy / sw
    a = b = c = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        r = y[i] - mu
        wr = w * r
        a += wr * wr
        b += w * w * r
        c += wr * w * wr
        sw2 += w * w
        sw3 += w * w * w
    da = -2.0 * c + 2.0 * b * b / sw
    if reml:
        return a - sw + sw2 / sw, da + sw2 - 2.0 * sw3 / sw + sw2 * sw2 / (sw * sw)
    return a - sw, da + sw2


@njit(cache=True)
def _qeq(t, y, v, n, inv_target):
    sw = swy = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        sw += w
        swy += w * y[i]
    mu = swy / sw
    q = d = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        wr = w * (y[i] - mu)
        q += wr * y[i]
        d += wr * wr
    if not q > 0:
        return -math.inf, -1.0
    return inv_target - 1.0 / q, -d / (q * q)


@njit(cache=True)
def _eq(kind, t, y, v, n, inv_target):
    if kind == 0:
        return _lik(t, y, v, n, False)
    if kind == 1:
        return _lik(t, y, v, n, True)
    return _qeq(t, y, v, n, inv_target)


@njit(cache=True)
def _solve(kind, y, v, n, inv_target, start):
    """Scalar copy of tau2._solve_decreasing (without its Brent fallback): (root, ok)."""
    lo, hi, x = 0.0, math.inf, 0.0
    f = d = 0.0
    if start > 0:
        f, d = _eq(kind, start, y, v, n, inv_target)
        if f > 0:
            lo, x = start, start
        elif f == 0:
            return start, True
        else:
            hi = start
    if x == 0.0:
        f, d = _eq(kind, 0.0, y, v, n, inv_target)
        if f <= 0:
            return 0.0, True
    for _ in range(100):
        step = x - f / d if d < 0 else math.nan
        if not (lo < step < hi):
            step = 0.5 * (lo + hi) if math.isfinite(hi) else max(4.0 * x, 1e-4)
        elif abs(step - x) <= _NEWTON_TOL * step:
            return step, True
        x = step
        f, d = _eq(kind, x, y, v, n, inv_target)
        if f == 0:
            return x, True
        if f > 0:
            lo = x
        else:
            hi = x
        if math.isfinite(hi) and hi - lo <= _EPS4 * hi:
            return x, True
    return x, False


# fastmath only in the scan: it decides whether a row may have several maxima (a flagged
# row is refitted exactly by pool's own search), never the value of tau^2 itself.
@njit(cache=True, fastmath=True)
def _score_sign(t, y, v, n, reml):
    """Is the ML/REML score positive at t? One pass: sum w^2 (y - mu)^2 expanded."""
    sw = swy = sw2 = sw2y = sw2y2 = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        w2 = w * w
        sw += w
        swy += w * y[i]
        sw2 += w2
        sw2y += w2 * y[i]
        sw2y2 += w2 * y[i] * y[i]
    mu = swy / sw
    f = sw2y2 - 2.0 * mu * sw2y + mu * mu * sw2 - sw
    if reml:
        f += sw2 / sw
    return f > 0


@njit(cache=True, fastmath=True)
def _several_maxima(y, v, n, reml):
    """The score scan of tau2._global_maximum: more than one candidate maximum?"""
    ymin = ymax = y[0]
    vmin = vmax = v[0]
    for i in range(1, n):
        ymin, ymax = min(ymin, y[i]), max(ymax, y[i])
        vmin, vmax = min(vmin, v[i]), max(vmax, v[i])
    upper = 10.0 * ((ymax - ymin) ** 2 + vmax)
    lower = max(1e-4 * vmin, upper * 1e-16)
    span = math.log(upper / lower)
    prev = _score_sign(0.0, y, v, n, reml)
    count = 0 if prev else 1
    for j in range(_GRID):
        t = math.exp(span * j / (_GRID - 1)) * lower
        now = _score_sign(t, y, v, n, reml)
        if prev and not now:
            count += 1
        prev = now
    return count > 1


@njit(parallel=True, cache=True)
def rows(Y, V, method, common):
    """Per row of (m, k) arrays (NaN or a non-positive variance = absent): tau^2, Q, the
    fixed-effect sums, the pooled estimate, the sum of weights, the HKSJ scale, a flag for
    rows to refit one by one, and the number of studies."""
    m, kmax = Y.shape
    K = np.zeros(m, dtype=np.int64)
    tau2 = np.zeros(m)
    q = np.zeros(m)
    sw0 = np.zeros(m)
    c0 = np.zeros(m)
    vmin = np.zeros(m)
    est = np.zeros(m)
    sw = np.zeros(m)
    s2 = np.zeros(m)
    flag = np.zeros(m, dtype=np.bool_)
    for r in prange(m):
        y = np.empty(kmax)
        v = np.empty(kmax)
        n = 0
        for j in range(kmax):
            if math.isfinite(Y[r, j]) and math.isfinite(V[r, j]) and V[r, j] > 0:
                y[n] = Y[r, j]
                v[n] = V[r, j]
                n += 1
        K[r] = n
        if n == 0:
            continue
        a = b = bb = 0.0
        vm = math.inf
        for i in range(n):
            w = 1.0 / v[i]
            a += w
            b += w * y[i]
            bb += w * w
            vm = min(vm, v[i])
        fixed = b / a
        qq = 0.0
        for i in range(n):
            qq += (y[i] - fixed) ** 2 / v[i]
        q[r], sw0[r], c0[r], vmin[r] = qq, a, a - bb / a, vm
        t = 0.0
        if not common and n > 1:
            dl = max(0.0, (qq - (n - 1)) / (a - bb / a))
            if method == 0:
                t = dl
            elif method in (1, 3):
                ybar = 0.0
                for i in range(n):
                    ybar += y[i]
                ybar /= n
                dev = 0.0
                vs = 0.0
                for i in range(n):
                    dev += (y[i] - ybar) ** 2
                    vs += v[i]
                if method == 1:
                    t = max(0.0, dev / (n - 1) - vs / n)
                else:
                    tau0 = dev / n
                    if tau0 > 0:
                        s = sy = 0.0
                        for i in range(n):
                            w = 1.0 / (v[i] + tau0)
                            s += w
                            sy += w * y[i]
                        mu = sy / s
                        qg = 0.0
                        for i in range(n):
                            qg += (y[i] - mu) ** 2 / (v[i] + tau0)
                        t = tau0 * qg / (n - 1)
            elif method == 2:
                t = max(0.0, (qq - n) / a)
            else:
                kind = 1 if method == 5 else (0 if method == 4 else 2)
                t, ok = _solve(kind, y, v, n, 1.0 / (n - 1), dl)
                if not ok or (kind < 2 and _several_maxima(y, v, n, kind == 1)):
                    flag[r] = True
        tau2[r] = t
        s = sy = 0.0
        for i in range(n):
            w = 1.0 / (v[i] + t)
            s += w
            sy += w * y[i]
        mu = sy / s
        res = 0.0
        for i in range(n):
            res += (y[i] - mu) ** 2 / (v[i] + t)
        est[r], sw[r] = mu, s
        s2[r] = res / (n - 1) if n > 1 else 0.0
    return tau2, q, sw0, c0, vmin, est, sw, s2, flag, K
