"""Compiled kernel of :func:`metacore.pool_batch` (numba).

numpy alone passes over the whole (m, k) array a few hundred times for REML (Newton steps
and the scan for several maxima). Compiled, the rows are taken in blocks laid out as
(studies x rows), and each step is a loop over rows inside a loop over studies, which
the compiler vectorises across meta-analyses; the blocks run on threads. Each step
mirrors :mod:`metacore.models.tau2` (same start, same safeguarded Newton, same stopping rule,
same scan), so rows stay equal to :func:`metacore.pool`; rows the kernel cannot settle
(several likelihood maxima, no convergence) are flagged and refitted one by one by the
caller.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from metacore.batch import vecmath as _vm
from metacore.models.tau2 import _GRID, _NEWTON_TOL

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
def _scan_setup_block(yt, vt, nb, reml, on, scan, ss):
    """Set up the score scan of tau2._global_maximum for the rows of a block with ``on``
    set, up to the grid points that need a pass over the studies (:func:`_scan_block`).

    The grid is pool's (0, then 48 log-spaced points). Points at the ends whose sign is
    certain are not evaluated. At large tau^2: S / (min v + t)^2 + 1 / (min v + t) <
    k / (max v + t), with S bounding sum (y - mu)^2, makes the score negative. Near 0:
    with t <= delta min v every weight lies in [w0 / (1 + delta), w0] and the weighted
    mean moves by at most delta (1 + delta) sum w0 |r0| / sum w0, so the score is bounded
    from both sides by sums at t = 0; where both bounds share a sign, so does the score
    (delta = 0.1, else 0.01, else no cut). Column r of ``scan`` receives: the first grid
    value, the grid ratio, the first certainly negative point, the first point to
    evaluate, (scratch), the sign before that point and the count of candidate maxima up
    to it. The sums run as loops over rows inside loops over studies (vectorised; absent
    studies are masked or weigh 0), the short per-row searches after; ``ss`` is
    (20 x rows) scratch."""
    ymin, ymax, vmin, vmax, slo, shi = ss[0], ss[1], ss[2], ss[3], ss[4], ss[5]
    s1, s2, sy, sabs, mu = ss[6], ss[7], ss[8], ss[9], ss[10]
    lo1, hi1, lo2, hi2 = ss[11], ss[12], ss[13], ss[14]
    sw, swy, sw2, sw2y, sw2y2 = ss[15], ss[16], ss[17], ss[18], ss[19]
    for r in range(nb):
        ymin[r] = vmin[r] = math.inf
        ymax[r] = vmax[r] = -math.inf
        slo[r] = shi[r] = s1[r] = s2[r] = sy[r] = sabs[r] = 0.0
        lo1[r] = hi1[r] = lo2[r] = hi2[r] = 0.0
        sw[r] = swy[r] = sw2[r] = sw2y[r] = sw2y2[r] = 0.0
    for j in range(yt.shape[0]):
        yj, vj = yt[j], vt[j]
        for r in range(nb):
            here = vj[r] < math.inf
            ymin[r] = min(ymin[r], yj[r] if here else math.inf)
            ymax[r] = max(ymax[r], yj[r] if here else -math.inf)
            vmin[r] = min(vmin[r], vj[r])
            vmax[r] = max(vmax[r], vj[r] if here else -math.inf)
            w = 1.0 / vj[r]
            s1[r] += w
            s2[r] += w * w
            sy[r] += w * yj[r]
            w2y = w * w * yj[r]
            sw2y[r] += w2y
            sw2y2[r] += w2y * yj[r]
    for r in range(nb):
        mu[r] = sy[r] / s1[r]
    d1, d2 = 0.1 * 1.1, 0.01 * 1.01          # delta (1 + delta) for the two deltas
    for j in range(yt.shape[0]):
        yj, vj = yt[j], vt[j]
        for r in range(nb):
            here = vj[r] < math.inf
            a = yj[r] - ymin[r]
            b = yj[r] - ymax[r]
            slo[r] += a * a if here else 0.0
            shi[r] += b * b if here else 0.0
            sabs[r] += abs(yj[r] - mu[r]) / vj[r]
    for r in range(nb):
        sabs[r] /= s1[r]
    for j in range(yt.shape[0]):
        yj, vj = yt[j], vt[j]
        for r in range(nb):
            w2 = 1.0 / (vj[r] * vj[r])
            e = abs(yj[r] - mu[r])
            m1 = max(0.0, e - d1 * sabs[r])
            m2 = max(0.0, e - d2 * sabs[r])
            lo1[r] += w2 * m1 * m1
            hi1[r] += w2 * (e + d1 * sabs[r]) * (e + d1 * sabs[r])
            lo2[r] += w2 * m2 * m2
            hi2[r] += w2 * (e + d2 * sabs[r]) * (e + d2 * sabs[r])
    extra = 1.0 if reml else 0.0
    for r in range(nb):
        if not on[r]:
            continue
        n = 0.0
        for j in range(yt.shape[0]):
            n += 1.0 if vt[j, r] < math.inf else 0.0
        upper = 10.0 * ((ymax[r] - ymin[r]) ** 2 + vmax[r])
        lower = max(1e-4 * vmin[r], upper * 1e-16)
        ratio = math.exp(math.log(upper / lower) / (_GRID - 1))
        smax = max(slo[r], shi[r])
        top = _GRID + 1
        t = lower * ratio ** (_GRID - 1)
        while top > 1:
            a = vmin[r] + t
            if smax / (a * a) + extra / a < 0.999999 * n / (vmax[r] + t):
                top -= 1
                t /= ratio
            else:
                break
        # the low end: the first delta whose bounds share a sign
        low_sign, cut = True, 0.0
        margin = 1e-9 * (s1[r] + s2[r] / s1[r])
        for delta, lo, hi in ((0.1, lo1[r], hi1[r]), (0.01, lo2[r], hi2[r])):
            g = 1.0 + delta
            lo = lo / (g * g) - s1[r]
            hi = hi - s1[r] / g
            if reml:
                lo += s2[r] / (g * g) / s1[r]
                hi += s2[r] * g / s1[r]
            if lo > margin:
                low_sign, cut = True, delta * vmin[r]
                break
            if hi < -margin:
                low_sign, cut = False, delta * vmin[r]
                break
        first = 1
        t = lower
        while first < top and t <= cut:
            first += 1
            t *= ratio
        # the score at 0 from the same sums (weights 1 / v)
        m0 = sy[r] / s1[r]
        f0 = sw2y2[r] - 2.0 * m0 * sw2y[r] + m0 * m0 * s2[r] - s1[r]
        if reml:
            f0 += s2[r] / s1[r]
        at0 = 1.0 if f0 > 0 else 0.0
        low = 1.0 if low_sign else 0.0
        scan[0, r] = lower
        scan[1, r] = ratio
        scan[2, r] = top
        scan[3, r] = first
        scan[5, r] = low if first > 1 else at0
        scan[6, r] = (1.0 - at0) + (at0 * (1.0 - low) if first > 1 else 0.0)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _scan_block(yt, vt, nb, reml, scan, on, sums):
    """Finish the scans set up by :func:`_scan_setup_block` for the rows with ``on`` set: the
    points from each row's first to evaluate up to its first certainly negative one; the
    count of candidate maxima ends in scan[6].

    A grid point most rows of the block need is evaluated for all of them at once (one
    vectorised pass over the studies, ~8 ns a row); one few rows need, for those rows
    alone (~30 ns a row): a row needs ~19 of the 48 points, a block's rows together ~40.
    """
    hi = 0
    for r in range(nb):
        if on[r]:
            hi = max(hi, int(scan[2, r]))
    t, band, pos = sums[5], sums[4], sums[3]
    prev, count = scan[5], scan[6]
    sw, swy, sw2, sw2y = sums[0], sums[1], sums[2], scan[4]
    for r in range(nb):
        t[r] = scan[0, r]
    for g in range(1, min(hi, _GRID + 1)):
        need = 0
        for r in range(nb):
            inside = on[r] & (scan[3, r] <= g) & (g < scan[2, r])
            band[r] = 1.0 if inside else 0.0
            need += inside
        if 4 * need >= nb:
            for r in range(nb):
                sw[r] = swy[r] = sw2[r] = sw2y[r] = pos[r] = 0.0
            for j in range(yt.shape[0]):
                yj, vj = yt[j], vt[j]
                for r in range(nb):
                    w = 1.0 / (vj[r] + t[r])
                    w2 = w * w
                    sw[r] += w
                    swy[r] += w * yj[r]
                    sw2[r] += w2
                    sw2y[r] += w2 * yj[r]
                    pos[r] += w2 * yj[r] * yj[r]
            for r in range(nb):
                mu = swy[r] / sw[r]
                f = pos[r] - 2.0 * mu * sw2y[r] + mu * mu * sw2[r] - sw[r]
                if reml:
                    f += sw2[r] / sw[r]
                pos[r] = 1.0 if f > 0 else 0.0
        elif need:
            for r in range(nb):
                if band[r] > 0:
                    pos[r] = 1.0 if _score_sign_column(yt, vt, r, t[r], reml) else 0.0
        if need:
            for r in range(nb):            # rows outside their band keep their sign
                now = pos[r] if band[r] > 0 else prev[r]
                count[r] += prev[r] * (1.0 - now)
                prev[r] = now
        for r in range(nb):
            t[r] *= scan[1, r]
    # point top (when on the grid) is the first certainly negative one: it closes a last
    # positive stretch
    for r in range(nb):
        if on[r] and scan[2, r] <= _GRID:
            count[r] += prev[r]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _score_sign_column(yt, vt, r, t, reml):
    """Is the ML/REML score positive at t? For column r of a block (absent studies weigh
    0); one pass, sum w^2 (y - mu)^2 expanded."""
    sw = swy = sw2 = sw2y = sw2y2 = 0.0
    for j in range(yt.shape[0]):
        w = 1.0 / (vt[j, r] + t)
        w2 = w * w
        y = yt[j, r]
        sw += w
        swy += w * y
        sw2 += w2
        sw2y += w2 * y
        sw2y2 += w2 * y * y
    mu = swy / sw
    f = sw2y2 - 2.0 * mu * sw2y + mu * mu * sw2 - sw
    if reml:
        f += sw2 / sw
    return f > 0


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _wsums(yt, vt, nb, t, sw, swy):
    """sw = sum 1 / (v + t) and swy = sum y / (v + t) for every row of a block, each row at
    its own t (absent studies weigh 0)."""
    for r in range(nb):
        sw[r] = swy[r] = 0.0
    for j in range(yt.shape[0]):
        yj, vj = yt[j], vt[j]
        for r in range(nb):
            w = 1.0 / (vj[r] + t[r])
            sw[r] += w
            swy[r] += w * yj[r]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _eq_block(kind, yt, vt, nb, x, inv_target, f, d, acc):
    """The estimating equation and its derivative at x[r] for every row of a block at
    once (the sums of :func:`_lik` / :func:`_qeq`, vectorised across rows)."""
    sw, swy, a, b, c, sw2, sw3 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6]
    _wsums(yt, vt, nb, x, sw, swy)
    for r in range(nb):
        a[r] = b[r] = c[r] = sw2[r] = sw3[r] = 0.0
        swy[r] /= sw[r]                      # the weighted mean from here on
    if kind < 2:
        for j in range(yt.shape[0]):
            yj, vj = yt[j], vt[j]
            for r in range(nb):
                w = 1.0 / (vj[r] + x[r])
                wr = w * (yj[r] - swy[r])
                a[r] += wr * wr
                b[r] += w * wr
                c[r] += wr * w * wr
                sw2[r] += w * w
                sw3[r] += w * w * w
        for r in range(nb):
            da = -2.0 * c[r] + 2.0 * b[r] * b[r] / sw[r]
            if kind == 1:
                f[r] = a[r] - sw[r] + sw2[r] / sw[r]
                d[r] = (da + sw2[r] - 2.0 * sw3[r] / sw[r]
                        + sw2[r] * sw2[r] / (sw[r] * sw[r]))
            else:
                f[r] = a[r] - sw[r]
                d[r] = da + sw2[r]
    else:
        for j in range(yt.shape[0]):
            yj, vj = yt[j], vt[j]
            for r in range(nb):
                w = 1.0 / (vj[r] + x[r])
                wr = w * (yj[r] - swy[r])
                a[r] += wr * yj[r]
                b[r] += wr * wr
        for r in range(nb):
            q = a[r]
            f[r] = inv_target[r] - 1.0 / q if q > 0 else -math.inf
            d[r] = -b[r] / (q * q) if q > 0 else -1.0


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _solve_block(kind, yt, vt, nb, on, t, ok, st, y1, v1):
    """:func:`_solve` for every row of a block with ``on`` set, in lock-step: each round
    evaluates the equation for all rows at once and moves each row's own safeguarded
    Newton one step (same start, steps, brackets and stopping rule); the last few slow
    rows are solved one by one. The roots replace the starts in ``t``; ``ok`` says which
    converged. ``st`` is (16 x rows) scratch, ``y1``/``v1`` one row's studies."""
    lo, hi, x, f, d, inv, phase, it = st[7], st[8], st[9], st[10], st[11], st[12], st[13], \
        st[14]
    acc = st[:7]
    live = 0
    for r in range(nb):
        lo[r], hi[r], it[r] = 0.0, math.inf, 0.0
        ok[r] = True
        # phase: 0 evaluate at the start, 1 at 0, 2 at the Newton iterate, 3 done
        if not on[r]:
            phase[r] = 3.0
        else:
            phase[r] = 0.0 if t[r] > 0 else 1.0
            x[r] = t[r] if t[r] > 0 else 0.0
            live += 1
        inv[r] = 1.0 / (yt.shape[0] - 1)      # replaced below for PM/EB
    if kind == 2:
        for r in range(nb):
            k = 0.0
            for j in range(yt.shape[0]):
                k += 1.0 if vt[j, r] < math.inf else 0.0
            inv[r] = 1.0 / (k - 1.0) if k > 1 else 0.0
    start = st[15]
    for r in range(nb):
        start[r] = t[r]
    while live:
        if 4 * live < nb:
            # a few slow rows left: each on its own (a round costs the whole block)
            for r in range(nb):
                if phase[r] != 3.0:
                    k = 0
                    for j in range(yt.shape[0]):
                        if vt[j, r] < math.inf:
                            y1[k] = yt[j, r]
                            v1[k] = vt[j, r]
                            k += 1
                    t[r], ok[r] = _solve(kind, y1, v1, k, inv[r], start[r])
            return
        _eq_block(kind, yt, vt, nb, x, inv, f, d, acc)
        for r in range(nb):
            ph = phase[r]
            if ph == 3.0:
                continue
            step = True                        # take a Newton step from (x, f, d)?
            if ph == 0.0:
                if f[r] > 0:
                    lo[r] = x[r]
                elif f[r] == 0:
                    phase[r], step = 3.0, False
                else:
                    hi[r] = x[r]
                    x[r], phase[r], step = 0.0, 1.0, False
            elif ph == 1.0:
                if f[r] <= 0:
                    t[r], phase[r], step = 0.0, 3.0, False
                    live -= 1
                    continue
            else:
                if f[r] == 0:
                    phase[r], step = 3.0, False
                else:
                    if f[r] > 0:
                        lo[r] = x[r]
                    else:
                        hi[r] = x[r]
                    if math.isfinite(hi[r]) and hi[r] - lo[r] <= _EPS4 * hi[r]:
                        phase[r], step = 3.0, False
            if step:
                if it[r] >= 100:
                    ok[r] = False
                    phase[r] = 3.0
                else:
                    it[r] += 1.0
                    nxt = x[r] - f[r] / d[r] if d[r] < 0 else math.nan
                    if not (lo[r] < nxt < hi[r]):
                        nxt = 0.5 * (lo[r] + hi[r]) if math.isfinite(hi[r]) else \
                            max(4.0 * x[r], 1e-4)
                        x[r], phase[r] = nxt, 2.0
                    elif abs(nxt - x[r]) <= _NEWTON_TOL * nxt:
                        x[r], phase[r] = nxt, 3.0
                    else:
                        x[r], phase[r] = nxt, 2.0
            if phase[r] == 3.0:
                t[r] = x[r]
                live -= 1


# Blocks of rows: each quantity of a block is one short vector, and every step is a loop
# over studies (outer) and rows (inner), so the compiler vectorises across meta-analyses
# instead of over ten studies at a time. An absent study is y = 0, v = inf: weight 0.
# Scratch rows of a block (``sc``):
_A, _B, _BB, _VM, _N, _Q, _C0, _T, _S, _SY, _MU, _RES, _STAT, _X, _P = range(15)
_SCRATCH = 15


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _load(Y, V, idx, yt, vt, sc, K, code):
    """Rows ``idx`` into columns of yt / vt; study counts in sc[_N] and K, reason codes
    (1 a variance is not positive) in ``code``."""
    kmax = Y.shape[1]
    nb = idx.size
    r0 = idx[0]
    if idx[nb - 1] - r0 == nb - 1:
        # consecutive rows: when every cell is a usable study (the usual case), a plain
        # transpose, without a test and a branch per cell
        Yb = Y[r0:r0 + nb].reshape(nb * kmax)
        Vb = V[r0:r0 + nb].reshape(nb * kmax)
        ok = 0
        for i in range(nb * kmax):
            ok += (abs(Yb[i]) < math.inf) & (Vb[i] > 0) & (Vb[i] < math.inf)
        if ok == nb * kmax:
            for r in range(nb):
                for j in range(kmax):
                    yt[j, r] = Yb[r * kmax + j]
                    vt[j, r] = Vb[r * kmax + j]
                sc[_N, r] = kmax
                K[r0 + r] = kmax
                code[r0 + r] = 0
            return
    for r in range(nb):
        R = idx[r]
        n = 0
        cnt = 0
        bad = False
        for j in range(kmax):
            yy, vv = Y[R, j], V[R, j]
            fy = math.isfinite(yy)
            if fy and math.isfinite(vv):
                cnt += 1
            if fy and math.isfinite(vv) and vv > 0:
                yt[j, r] = yy
                vt[j, r] = vv
                n += 1
            else:
                bad = bad or (fy and vv <= 0)
                yt[j, r] = 0.0
                vt[j, r] = math.inf
        sc[_N, r] = n
        K[R] = cnt if bad else n
        code[R] = 1 if bad else (2 if n == 0 else 0)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _fixed(yt, vt, wt, nb, sc):
    """Fixed-effect sums: sum w, sum w y, sum w^2, min v, Q and c0 = sum w - sum w^2 / sum w.

    Loops take one study's row of the block at a time (1-D slices): the compiler then
    vectorises across meta-analyses. The weights are kept in ``wt`` for Q's pass: a
    division costs as much as the rest of a cell's arithmetic.
    """
    a, b, bb, vm, q = sc[_A], sc[_B], sc[_BB], sc[_VM], sc[_Q]
    mu = sc[_MU]
    for r in range(nb):
        a[r] = b[r] = bb[r] = q[r] = 0.0
        vm[r] = math.inf
    for j in range(yt.shape[0]):
        yj, vj, wj = yt[j], vt[j], wt[j]
        for r in range(nb):
            w = 1.0 / vj[r]
            wj[r] = w
            a[r] += w
            b[r] += w * yj[r]
            bb[r] += w * w
            vm[r] = min(vm[r], vj[r])
    for r in range(nb):
        mu[r] = b[r] / a[r]
        sc[_C0, r] = a[r] - bb[r] / a[r]
    for j in range(yt.shape[0]):
        yj, wj = yt[j], wt[j]
        for r in range(nb):
            d = yj[r] - mu[r]
            q[r] += d * d * wj[r]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _unweighted(yt, vt, nb, sc):
    """sc[_S] = sum (y - mean y)^2 and sc[_SY] = sum v over the present studies."""
    dev, vs, mean = sc[_S], sc[_SY], sc[_MU]
    for r in range(nb):
        mean[r] = dev[r] = vs[r] = 0.0
    for j in range(yt.shape[0]):
        for r in range(nb):
            mean[r] += yt[j, r]
    for r in range(nb):
        mean[r] /= sc[_N, r]
    for j in range(yt.shape[0]):
        for r in range(nb):
            if vt[j, r] < math.inf:
                d = yt[j, r] - mean[r]
                dev[r] += d * d
                vs[r] += vt[j, r]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _tau2(yt, vt, nb, sc, method, common, idx, flag, y1, v1, scan, scan_on, scan_ok, solve,
          setup, sums):
    """tau^2 of every row of the block in sc[_T] (the formulas of metacore.models.tau2); rows
    pool's global likelihood search must refit are flagged."""
    t, n, q, c0, a = sc[_T], sc[_N], sc[_Q], sc[_C0], sc[_A]
    for r in range(nb):
        t[r] = 0.0
    if common:
        return
    if method == 0 or method >= 4:          # DL, and the start of the iterative ones
        for r in range(nb):
            t[r] = max(0.0, (q[r] - (n[r] - 1)) / c0[r]) if n[r] > 1 else 0.0
    elif method == 2:                       # HS
        for r in range(nb):
            t[r] = max(0.0, (q[r] - n[r]) / a[r]) if n[r] > 1 else 0.0
    else:                                   # HE, SJ
        _unweighted(yt, vt, nb, sc)
        dev, vs = sc[_S], sc[_SY]
        if method == 1:
            for r in range(nb):
                t[r] = max(0.0, dev[r] / (n[r] - 1) - vs[r] / n[r]) if n[r] > 1 else 0.0
        else:
            # tau0 = dev / k, then the generalised Q at tau0 (weighted mean at tau0)
            sw, swy, qg = sc[_SY], sc[_X], sc[_P]
            for r in range(nb):
                t[r] = dev[r] / n[r] if n[r] > 1 else 0.0
                qg[r] = 0.0
            _wsums(yt, vt, nb, t, sw, swy)
            for j in range(yt.shape[0]):
                for r in range(nb):
                    d = yt[j, r] - swy[r] / sw[r]
                    qg[r] += d * d / (vt[j, r] + t[r])
            for r in range(nb):
                t[r] = t[r] * qg[r] / (n[r] - 1) if t[r] > 0 else 0.0
        return
    if method >= 4:
        kind = 1 if method == 5 else (0 if method == 4 else 2)
        on, conv = scan_on, scan_ok
        for r in range(nb):
            on[r] = n[r] > 1
        _solve_block(kind, yt, vt, nb, on, t, conv, solve, y1, v1)
        for r in range(nb):
            if on[r] and not conv[r]:
                flag[idx[r]] = True
            on[r] = on[r] and conv[r] and kind < 2
        if kind < 2:
            _scan_setup_block(yt, vt, nb, kind == 1, on, scan, setup)
            _scan_block(yt, vt, nb, kind == 1, scan, on, sums)
            for r in range(nb):
                if on[r] and scan[6, r] > 1:
                    flag[idx[r]] = True


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _finish(yt, vt, nb, sc, common, hksj, crit_z, tcrit, ob, bits, dfs, table, psc):
    """Every output column of the block's rows from their tau^2 (the formulas of pool),
    into ``ob`` (12 x rows of the block)."""
    t, n, s, sy, mu, res = sc[_T], sc[_N], sc[_S], sc[_SY], sc[_MU], sc[_RES]
    _wsums(yt, vt, nb, t, s, sy)
    for r in range(nb):
        res[r] = 0.0
        mu[r] = sy[r] / s[r]
    se, crit = sc[_RES], sc[_X]
    if hksj:
        for j in range(yt.shape[0]):
            yj, vj = yt[j], vt[j]
            for r in range(nb):
                d = yj[r] - mu[r]
                res[r] += d * d / (vj[r] + t[r])
        for r in range(nb):
            k = int(n[r])
            crit[r] = tcrit[k - 2] if k > 1 else crit_z
            se[r] = math.sqrt(res[r] / (k - 1) / s[r]) if k > 1 else math.sqrt(1.0 / s[r])
    else:
        for r in range(nb):
            crit[r] = crit_z
            se[r] = math.sqrt(1.0 / s[r])
    for r in range(nb):
        m, e, c, tr = mu[r], se[r], crit[r], t[r]
        pi_se = math.sqrt(e * e + tr)
        ob[0, r] = m
        ob[1, r] = e
        ob[2, r] = m - c * e
        ob[3, r] = m + c * e
        ob[5, r] = m - c * pi_se
        ob[6, r] = m + c * pi_se
        ob[7, r] = tr
        ob[10, r] = sc[_Q, r]
    for r in range(nb):
        k, qq, tr = n[r], sc[_Q, r], t[r]
        if not common:
            c0 = sc[_C0, r]
            vt0 = (k - 1) / c0 if k > 1 and c0 > 0 else sc[_VM, r]
            ob[8, r] = 100.0 * tr / (tr + vt0)
            ob[9, r] = (tr + vt0) / vt0
        else:
            ob[8, r] = max(0.0, 100.0 * (qq - (k - 1)) / qq) if k > 1 and qq > 0 else 0.0
            ob[9, r] = qq / (k - 1) if k > 1 else 1.0
    stat, z = sc[_STAT], sc[_P]
    for r in range(nb):
        m, e = mu[r], se[r]
        stat[r] = m / e if e > 0 else (math.copysign(math.inf, m) if m != 0 else 0.0)
        # erfc's argument, kept in its fast range (the rest by libm below)
        zr = abs(stat[r]) / math.sqrt(2.0)
        z[r] = zr if zr <= _vm.ERFC_MAX else 0.0
    if hksj:                                 # the caller turns t into a p-value
        for r in range(nb):
            ob[4, r] = stat[r]
    else:
        _vm.erfc_pos(z, nb, ob[4], psc[0], bits, table)
        for r in range(nb):
            zr = abs(stat[r]) / math.sqrt(2.0)
            if not zr <= _vm.ERFC_MAX:
                ob[4, r] = math.erfc(zr)
    for r in range(nb):
        dfs[r] = int(n[r]) - 1
    _vm.chi2_tail(ob[10], dfs, nb, ob[11], psc, bits, table)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _store(ob, idx, nb, code, out):
    """The block's outputs into their rows of ``out``; NaN for rows that cannot be pooled."""
    r0 = idx[0]
    if idx[nb - 1] - r0 == nb - 1:          # consecutive rows (every block but a refit)
        for c in range(12):
            oc, bc, cd = out[c, r0:r0 + nb], ob[c], code[r0:r0 + nb]
            for r in range(nb):
                oc[r] = bc[r] if cd[r] == 0 else math.nan
        return
    for c in range(12):
        oc, bc = out[c], ob[c]
        for r in range(nb):
            oc[idx[r]] = bc[r] if code[idx[r]] == 0 else math.nan


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _block(Y, V, idx, method, common, hksj, crit_z, tcrit, table, tau2, out, K, code, flag,
           work):
    """One block of rows, start to end; tau^2 from ``tau2`` when it is not empty."""
    yt, vt, wt, sc, psc, ob, bits, dfs, y1, v1, scan, scan_on, scan_ok, solve, setup = work
    nb = idx.size
    _load(Y, V, idx, yt, vt, sc, K, code)
    _fixed(yt, vt, wt, nb, sc)
    if tau2.size:
        for r in range(nb):
            sc[_T, r] = tau2[r]
    else:
        _tau2(yt, vt, nb, sc, method, common, idx, flag, y1, v1, scan, scan_on, scan_ok,
              solve, setup, psc)
    _finish(yt, vt, nb, sc, common, hksj, crit_z, tcrit, ob, bits, dfs, table, psc)
    _store(ob, idx, nb, code, out)


@njit(cache=True, error_model="numpy")
def _work(kmax, B):
    """Scratch for blocks of up to B rows, allocated once per stretch of blocks."""
    return (np.empty((kmax, B)), np.empty((kmax, B)), np.empty((kmax, B)), np.empty((_SCRATCH, B)),
            np.empty((6, B)), np.empty((12, B)), np.empty(B, dtype=np.int64),
            np.empty(B, dtype=np.int64), np.empty(kmax), np.empty(kmax), np.empty((7, B)),
            np.zeros(B, dtype=np.bool_), np.zeros(B, dtype=np.bool_), np.empty((16, B)),
            np.empty((20, B)))


@njit(nogil=True, cache=True, fastmath=_FAST, error_model="numpy")
def rows(Y, V, method, common, hksj, crit_z, tcrit, table, out, K, code, flag, select, tau2,
         part, parts):
    """Every output column of pool_batch for rows of (m, k) arrays (NaN cell = absent
    study): all rows, or only ``select`` with their tau^2 given in ``tau2`` (the rows
    pool's global search refitted); this call takes stretch ``part`` of ``parts``.

    Fills ``out`` (12 x m: estimate, se, ci_low, ci_high, p (the t statistic under HKSJ),
    pi_low, pi_high, tau2, i2, h2, q, q_pvalue; q_pvalue NaN where its series would
    underflow), ``K`` (the number of studies), ``code`` (0 fine, 1 a variance is not
    positive, 2 no studies) and ``flag`` (rows pool's global likelihood search must refit).
    ``table`` is :data:`metacore.batch.vecmath.TABLE`. The caller allocates the outputs (numpy
    asks the kernel for huge pages and numba does not, so a fresh 12 x m array costs a few
    page faults instead of thousands) and runs the stretches on threads: the kernel
    releases the GIL. Threads rather than numba's prange, whose body numba compiles a
    second time, doubling a start-up compile of ~14 s.
    """
    m, kmax = Y.shape
    given = select.size > 0
    n_rows = select.size if given else m
    none = np.empty(0)
    B = _rows_per_block(kmax)
    blocks = (n_rows + B - 1) // B
    work = _work(kmax, B)
    idx = np.empty(B, dtype=np.int64)
    for c in range(part * blocks // parts, (part + 1) * blocks // parts):
        nb = min(B, n_rows - c * B)
        for r in range(nb):
            idx[r] = select[c * B + r] if given else c * B + r
        t2 = tau2[c * B:c * B + nb] if given else none
        _block(Y, V, idx[:nb], method, common, hksj, crit_z, tcrit, table, t2, out, K, code,
               flag, work)


@njit(cache=True)
def _rows_per_block(kmax):
    """Rows per block: the block's three (kmax x rows) arrays stay within ~1.5 MB."""
    return min(256, max(8, (1 << 16) // max(kmax, 1)))


def blocks(m: int, kmax: int) -> int:
    """How many blocks :func:`rows` splits m rows of kmax studies into."""
    b = _rows_per_block(kmax)
    return (m + b - 1) // b
