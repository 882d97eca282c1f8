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
# Fast-math without the no-NaN / no-infinity assumptions: absent studies are NaN cells and
# must stay visible to isfinite. Reassociation changes sums in the last bits only (rows
# still equal pool's within 2e-12, measured on 400 random tables).
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
METHOD_CODES = {"DL": 0, "HE": 1, "HS": 2, "SJ": 3, "ML": 4, "REML": 5, "EB": 6, "PM": 7}


@njit(cache=True, fastmath=_FAST, error_model="numpy")
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


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _wmean(y, v, n, t):
    """(sum of weights, weighted mean) with weights 1 / (v + t)."""
    sw = swy = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        sw += w
        swy += w * y[i]
    return sw, swy / sw


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _qeq(t, y, v, n, inv_target):
    _, mu = _wmean(y, v, n, t)
    q = d = 0.0
    for i in range(n):
        w = 1.0 / (v[i] + t)
        wr = w * (y[i] - mu)
        q += wr * y[i]
        d += wr * wr
    if not q > 0:
        return -math.inf, -1.0
    return inv_target - 1.0 / q, -d / (q * q)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _eq(kind, t, y, v, n, inv_target):
    if kind == 0:
        return _lik(t, y, v, n, False)
    if kind == 1:
        return _lik(t, y, v, n, True)
    return _qeq(t, y, v, n, inv_target)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
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
@njit(cache=True, fastmath=_FAST, error_model="numpy")
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


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _low_end(y, v, n, reml, vmin):
    """(sign, t_cut): the score's sign is provably that of t = 0 for every t <= t_cut.

    With t <= delta * min v every weight lies in [w0 / (1 + delta), w0] and the weighted
    mean moves by at most delta (1 + delta) sum w0 |r0| / sum w0; the score is then
    bounded from both sides by sums at t = 0. t_cut = 0 when no delta certifies it.
    """
    s1 = s2 = sy = 0.0
    for i in range(n):
        w = 1.0 / v[i]
        s1 += w
        s2 += w * w
        sy += w * y[i]
    mu = sy / s1
    sabs = 0.0
    for i in range(n):
        sabs += abs(y[i] - mu) / v[i]
    for delta in (0.1, 0.01):
        d = delta * (1.0 + delta) * sabs / s1
        lo = hi = 0.0
        for i in range(n):
            w2 = 1.0 / (v[i] * v[i])
            r = abs(y[i] - mu)
            m = max(0.0, r - d)
            lo += w2 * m * m
            hi += w2 * (r + d) * (r + d)
        g = 1.0 + delta
        lo = lo / (g * g) - s1
        hi = hi - s1 / g
        if reml:
            lo += s2 / (g * g) / s1
            hi += s2 * g / s1
        # a margin for rounding in the bounds themselves
        if lo > 1e-9 * (s1 + s2 / s1):
            return True, delta * vmin
        if hi < -1e-9 * (s1 + s2 / s1):
            return False, delta * vmin
    return True, 0.0


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _several_maxima(y, v, n, reml, acc):
    """The score scan of tau2._global_maximum: more than one candidate maximum?

    The grid is pool's (0, then 48 log-spaced points). Points at the ends whose sign is
    certain are not evaluated: near 0 by :func:`_low_end`, and at large tau^2, where
    S / (min v + t)^2 + 1 / (min v + t) < k / (max v + t) (S bounding sum (y - mu)^2) makes
    the score negative. Only the points between cost a pass over the studies.
    """
    ymin = ymax = y[0]
    vmin = vmax = v[0]
    for i in range(1, n):
        ymin, ymax = min(ymin, y[i]), max(ymax, y[i])
        vmin, vmax = min(vmin, v[i]), max(vmax, v[i])
    upper = 10.0 * ((ymax - ymin) ** 2 + vmax)
    lower = max(1e-4 * vmin, upper * 1e-16)
    ratio = math.exp(math.log(upper / lower) / (_GRID - 1))
    smax_lo = smax_hi = 0.0
    for i in range(n):
        smax_lo += (y[i] - ymin) ** 2
        smax_hi += (y[i] - ymax) ** 2
    smax = max(smax_lo, smax_hi)
    g = _GRID + 1
    ts = acc[0]
    ts[0] = 0.0
    ts[1] = lower
    for j in range(2, g):
        ts[j] = ts[j - 1] * ratio
    top = g          # points from top on are certainly negative
    extra = 1.0 if reml else 0.0
    while top > 1:
        t = ts[top - 1]
        a = vmin + t
        if smax / (a * a) + extra / a < 0.999999 * n / (vmax + t):
            top -= 1
        else:
            break
    low_sign, cut = _low_end(y, v, n, reml, vmin)
    count = 0
    prev = True
    for j in range(g):
        t = ts[j]
        if j >= top:
            now = False
        elif j == 0 or t <= cut:
            now = low_sign if j > 0 else _score_sign(0.0, y, v, n, reml)
        else:
            now = _score_sign(t, y, v, n, reml)
        if j == 0:
            count = 0 if now else 1
        elif prev and not now:
            count += 1
        prev = now
    return count > 1


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def chi2_sf(x, df):
    """P(chi^2_df > x) for a whole df, by the finite series (NaN where it would underflow).

    Even df: e^(-x/2) sum_j (x/2)^j / j!; odd df: erfc(sqrt(x/2)) plus the same kind of
    sum; every term is positive, so the relative error stays a few ulps.
    """
    if not x > 0:
        return 1.0
    h = 0.5 * x
    if h > 700.0:
        return math.nan
    if df % 2 == 0:
        term = s = 1.0
        for j in range(1, df // 2):
            term *= h / j
            s += term
        return math.exp(-h) * s
    s = math.erfc(math.sqrt(h))
    if df > 1:
        term = math.sqrt(2.0 * x / math.pi) * math.exp(-h)
        s += term
        for j in range(2, (df - 1) // 2 + 1):
            term *= x / (2 * j - 1)
            s += term
    return s


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _fixed(y, v, n, w0):
    """Fixed-effect sums of one row: (sum w, sum w - sum w^2 / sum w, min v, Q); ``w0``
    receives the weights 1 / v."""
    a = b = bb = 0.0
    vm = math.inf
    for i in range(n):
        w = 1.0 / v[i]
        w0[i] = w
        a += w
        b += w * y[i]
        bb += w * w
        vm = min(vm, v[i])
    fixed = b / a
    qq = 0.0
    for i in range(n):
        qq += (y[i] - fixed) ** 2 * w0[i]
    return a, a - bb / a, vm, qq


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _tau2(y, v, n, method, common, acc, w0):
    """tau^2 of one row (and whether pool's global search must refit it), plus Q and
    the fixed-effect sums; ``w0`` receives the fixed-effect weights 1 / v."""
    a, c0, vm, qq = _fixed(y, v, n, w0)
    t = 0.0
    flag = False
    if not common and n > 1:
        dl = max(0.0, (qq - (n - 1)) / c0)
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
                    _, mu = _wmean(y, v, n, tau0)
                    qg = 0.0
                    for i in range(n):
                        qg += (y[i] - mu) ** 2 / (v[i] + tau0)
                    t = tau0 * qg / (n - 1)
        elif method == 2:
            t = max(0.0, (qq - n) / a)
        else:
            kind = 1 if method == 5 else (0 if method == 4 else 2)
            t, ok = _solve(kind, y, v, n, 1.0 / (n - 1), dl)
            if not ok or (kind < 2 and _several_maxima(y, v, n, kind == 1, acc)):
                flag = True
    return t, flag, qq, c0, vm


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _finish(y, v, n, t, qq, c0, vm, common, hksj, crit_z, tcrit, r, out, w0):
    """Every output column of row r from its tau^2 (the formulas of pool); ``w0`` holds
    1 / v and is overwritten with the weights 1 / (v + tau^2)."""
    s = sy = 0.0
    for i in range(n):
        w = w0[i] if t == 0.0 else 1.0 / (v[i] + t)
        w0[i] = w
        s += w
        sy += w * y[i]
    mu = sy / s
    res = 0.0
    for i in range(n):
        res += (y[i] - mu) ** 2 * w0[i]
    hk = hksj and n > 1
    se = math.sqrt(res / (n - 1) / s) if hk else math.sqrt(1.0 / s)
    crit = tcrit[n - 2] if hk else crit_z
    if se > 0:
        stat = mu / se
    else:
        stat = math.copysign(math.inf, mu) if mu != 0 else 0.0
    pi_se = math.sqrt(se * se + t)
    vt = (n - 1) / c0 if n > 1 and c0 > 0 else vm
    out[0, r] = mu
    out[1, r] = se
    out[2, r] = mu - crit * se
    out[3, r] = mu + crit * se
    out[4, r] = stat if hksj else math.erfc(abs(stat) / math.sqrt(2.0))
    out[5, r] = mu - crit * pi_se
    out[6, r] = mu + crit * pi_se
    out[7, r] = t
    if not common:
        out[8, r] = 100.0 * t / (t + vt)
        out[9, r] = (t + vt) / vt
    else:
        out[8, r] = max(0.0, 100.0 * (qq - (n - 1)) / qq) if n > 1 and qq > 0 else 0.0
        out[9, r] = qq / (n - 1) if n > 1 else 1.0
    out[10, r] = qq
    out[11, r] = chi2_sf(qq, n - 1) if n > 1 else math.nan


_CHUNK = 1024


@njit(parallel=True, cache=True, fastmath=_FAST, error_model="numpy")
def rows(Y, V, method, common, hksj, crit_z, tcrit):
    """Every output column of pool_batch for each row of (m, k) arrays (NaN cell =
    absent study), in ``out`` (12 x m: estimate, se, ci_low, ci_high, p (the t statistic
    under HKSJ), pi_low, pi_high, tau2, i2, h2, q, q_pvalue), with the number of studies,
    a reason code (0 fine, 1 a variance is not positive, 2 no studies) and a flag for rows
    pool's global likelihood search must refit.

    Rows are taken in chunks so each thread allocates its scratch once, not per row.
    """
    m, kmax = Y.shape
    out = np.empty((12, m))      # rows that cannot be pooled are set to NaN below
    K = np.zeros(m, dtype=np.int64)
    code = np.zeros(m, dtype=np.int8)
    flag = np.zeros(m, dtype=np.bool_)
    for c in prange((m + _CHUNK - 1) // _CHUNK):
        y = np.empty(kmax)
        v = np.empty(kmax)
        acc = np.empty((1, _GRID + 1))
        w0 = np.empty(kmax)
        for r in range(c * _CHUNK, min(m, (c + 1) * _CHUNK)):
            n = 0
            bad = False
            for j in range(kmax):
                yy, vv = Y[r, j], V[r, j]
                if math.isfinite(yy) and math.isfinite(vv):
                    if vv > 0:
                        y[n] = yy
                        v[n] = vv
                        n += 1
                    else:
                        bad = True
                elif math.isfinite(yy) and vv <= 0:
                    bad = True
            if bad:
                code[r] = 1
                cnt = 0
                for j in range(kmax):
                    if math.isfinite(Y[r, j]) and math.isfinite(V[r, j]):
                        cnt += 1
                K[r] = cnt
                out[:, r] = math.nan
                continue
            K[r] = n
            if n == 0:
                code[r] = 2
                out[:, r] = math.nan
                continue
            t, f, qq, c0, vm = _tau2(y, v, n, method, common, acc, w0)
            flag[r] = f
            _finish(y, v, n, t, qq, c0, vm, common, hksj, crit_z, tcrit, r, out, w0)
    return out, K, code, flag


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def refit(Y, V, rows_, tau2, common, hksj, crit_z, tcrit, out):
    """Recompute the outputs of the given rows from tau^2 values found elsewhere."""
    kmax = Y.shape[1]
    y = np.empty(kmax)
    v = np.empty(kmax)
    w0 = np.empty(kmax)
    for idx in range(rows_.size):
        r = rows_[idx]
        n = 0
        for j in range(kmax):
            if math.isfinite(Y[r, j]) and math.isfinite(V[r, j]) and V[r, j] > 0:
                y[n] = Y[r, j]
                v[n] = V[r, j]
                n += 1
        _, c0, vm, qq = _fixed(y, v, n, w0)
        _finish(y, v, n, tau2[idx], qq, c0, vm, common, hksj, crit_z, tcrit, r, out, w0)
