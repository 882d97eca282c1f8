"""Many meta-analyses at once: :func:`pool` vectorised over the rows of (m, k) arrays.

One meta-analysis per row, NaN where a study is absent. Every τ² estimator and both
interval methods give, row by row, what :func:`metacore.pool` gives on that row's studies
(closed forms exactly; ML, REML, PM and EB by the same safeguarded Newton iterations run
on all rows together, with the same scan for several likelihood maxima — the rare rows
that have them are refitted one by one). Rows that cannot be pooled get NaN and a reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import OptionError
from metacore.pooling import CI_METHODS, MODELS
from metacore.tau2 import _GRID, _NEWTON_TOL, ESTIMATORS, estimate_tau2

__all__ = ["BATCH_COLUMNS", "pool_batch"]

#: Columns of :func:`pool_batch`'s result, in order.
BATCH_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "pvalue", "pi_low", "pi_high", "tau2",
                 "i2", "h2", "q", "q_pvalue", "k", "reason")


def _sums(w: np.ndarray, y: np.ndarray):
    sw = w.sum(1)
    mu = (w * y).sum(1) / np.where(sw > 0, sw, 1.0)
    return sw, mu


def _likelihood_score(t: np.ndarray, y, v, present, reml: bool):
    """ML/REML score (up to 1/2) and its derivative at tau^2 = t (one value per row)."""
    w = np.where(present, 1.0 / (v + t[:, None]), 0.0)
    w2 = w * w
    sw = w.sum(1)
    mu = (w * y).sum(1) / sw
    r = np.where(present, y - mu[:, None], 0.0)
    wr = w * r
    a = (wr * wr).sum(1)
    b = (w2 * r).sum(1)
    da = -2.0 * (wr * w * wr).sum(1) + 2.0 * b * b / sw
    sw2 = w2.sum(1)
    if not reml:
        return a - sw, da + sw2
    sw3 = (w2 * w).sum(1)
    return a - sw + sw2 / sw, da + sw2 - 2.0 * sw3 / sw + sw2 * sw2 / (sw * sw)


def _q_equation(target: np.ndarray):
    def equation(t, y, v, present):
        w = np.where(present, 1.0 / (v + t[:, None]), 0.0)
        sw = w.sum(1)
        mu = (w * y).sum(1) / sw
        wr = w * np.where(present, y - mu[:, None], 0.0)
        q = (wr * np.where(present, y, 0.0)).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(q > 0, 1.0 / target - 1.0 / q, -np.inf)
            d = np.where(q > 0, -(wr * wr).sum(1) / (q * q), -1.0)
        return f, d
    return equation


def _newton(equation, y, v, present, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`metacore.tau2._solve_decreasing`: a root in tau^2 >= 0 of an
    equation positive at 0 and negative for large tau^2, per row; (root, converged)."""
    m = len(start)
    lo, hi = np.zeros(m), np.full(m, np.inf)
    x = np.zeros(m)
    done = np.zeros(m, dtype=bool)
    root = np.zeros(m)
    f, d = equation(start, y, v, present)
    pos = (start > 0) & (f > 0)
    zero = (start > 0) & (f == 0)
    lo[pos], x[pos] = start[pos], start[pos]
    hi[(start > 0) & (f < 0)] = start[(start > 0) & (f < 0)]
    root[zero], done[zero] = start[zero], True
    at0 = ~pos & ~zero
    if at0.any():
        f0, d0 = equation(np.zeros(m), y, v, present)
        f = np.where(at0, f0, f)
        d = np.where(at0, d0, d)
        neg0 = at0 & (f0 <= 0)
        root[neg0], done[neg0] = 0.0, True
    for _ in range(100):
        act = ~done
        if not act.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(d < 0, x - f / d, np.nan)
        out = ~((lo < step) & (step < hi))
        fallback = np.where(np.isfinite(hi), 0.5 * (lo + hi), np.maximum(4.0 * x, 1e-4))
        conv = act & ~out & (np.abs(step - x) <= _NEWTON_TOL * step)
        root[conv], done[conv] = step[conv], True
        step = np.where(out, fallback, step)
        act = ~done
        x = np.where(act, step, x)
        f_new, d_new = equation(x, y, v, present)
        f, d = np.where(act, f_new, f), np.where(act, d_new, d)
        hit = act & (f == 0)
        root[hit], done[hit] = x[hit], True
        lo = np.where(act & (f > 0), x, lo)
        hi = np.where(act & (f < 0), x, hi)
        tight = act & ~hit & np.isfinite(hi) & (hi - lo <= 4 * np.finfo(float).eps * hi)
        root[tight], done[tight] = x[tight], True
    root[~done] = x[~done]
    return root, done


def _multimodal(y, v, present, k, reml: bool) -> np.ndarray:
    """Rows whose (restricted) likelihood may have more than one maximum: the score scan
    of :func:`metacore.tau2._score_grid` finds more than one candidate."""
    ymax = np.nanmax(np.where(present, y, np.nan), axis=1)
    ymin = np.nanmin(np.where(present, y, np.nan), axis=1)
    vmax = np.nanmax(np.where(present, v, np.nan), axis=1)
    vmin = np.nanmin(np.where(present, v, np.nan), axis=1)
    upper = 10.0 * ((ymax - ymin) ** 2 + vmax)
    lower = np.maximum(1e-4 * vmin, upper * 1e-16)
    unit = np.concatenate([[0.0], np.linspace(0.0, 1.0, _GRID)])
    grid = np.exp(unit[None, :] * np.log(upper / lower)[:, None]) * lower[:, None]
    grid[:, 0] = 0.0
    signs = np.empty(grid.shape, dtype=bool)
    for j in range(grid.shape[1]):
        f, _ = _likelihood_score(grid[:, j], y, v, present, reml)
        signs[:, j] = f > 0
    brackets = (signs[:, :-1] & ~signs[:, 1:]).sum(1)
    return (brackets + ~signs[:, 0]) > 1


def _tau2(method: str, y, v, present, k, w0, sw0, q):
    """tau^2 per row by ``method`` (rows with k = 1 get 0)."""
    kf = k.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = sw0 - (w0 * w0).sum(1) / sw0
        dl = np.maximum(0.0, (q - (kf - 1)) / c)
        if method == "DL":
            return dl
        ybar = np.where(present, y, 0.0).sum(1) / kf
        dev = np.where(present, (y - ybar[:, None]) ** 2, 0.0).sum(1)
        if method == "HE":
            return np.maximum(0.0, dev / (kf - 1) - np.where(present, v, 0.0).sum(1) / kf)
        if method == "HS":
            return np.maximum(0.0, (q - kf) / sw0)
        if method == "SJ":
            tau0 = dev / kf
            w = np.where(present, 1.0 / (v + tau0[:, None]), 0.0)
            sw, mu = _sums(w, np.where(present, y, 0.0))
            qg = (w * np.where(present, y - mu[:, None], 0.0) ** 2).sum(1)
            return np.where(tau0 > 0, tau0 * qg / (kf - 1), 0.0)
    start = np.nan_to_num(dl)
    if method in ("ML", "REML"):
        reml = method == "REML"
        root, ok = _newton(lambda t, *a: _likelihood_score(t, *a, reml), y, v, present, start)
        # Rows with several maxima are refitted one by one with the global search of pool.
        suspect = _multimodal(y, v, present, k, reml)
        for i in np.flatnonzero(suspect | ~ok):
            root[i] = estimate_tau2(y[i][present[i]], v[i][present[i]], method).tau2
        return root
    root, ok = _newton(_q_equation(np.maximum(kf - 1, 1.0)), y, v, present, start)
    for i in np.flatnonzero(~ok):
        root[i] = estimate_tau2(y[i][present[i]], v[i][present[i]], method).tau2
    return root


def pool_batch(yi: np.ndarray, vi: np.ndarray, *, model: str = "random",
               tau2_method: str = "REML", ci_method: str = "z",
               level: float = 0.95) -> pd.DataFrame:
    """Pool every row of ``yi``/``vi`` (m x k, NaN where a study is absent).

    Returns
    -------
    DataFrame
        One row per meta-analysis with :data:`BATCH_COLUMNS` (analysis scale); ``reason``
        is "" or why the row gives NaN ("no studies", "a variance is not positive").

    Examples
    --------
    >>> import numpy as np
    >>> out = pool_batch(np.array([[0.1, 0.3, np.nan], [0.2, 0.2, 0.4]]),
    ...                  np.array([[0.01, 0.02, np.nan], [0.01, 0.01, 0.02]]), tau2_method="DL")
    >>> out["k"].tolist(), round(float(out.loc[1, "estimate"]), 4)
    ([2, 3], 0.24)
    """
    if model not in MODELS or tau2_method not in ESTIMATORS or ci_method not in CI_METHODS:
        raise OptionError("model must be 'common' or 'random', tau2_method one of "
                          + ", ".join(ESTIMATORS) + ", ci_method 'z' or 'hksj'.")
    if not 0 < level < 1:
        raise OptionError(f"The confidence level must be between 0 and 1, not {level}.")
    y = np.atleast_2d(np.asarray(yi, float))
    v = np.atleast_2d(np.asarray(vi, float))
    if y.shape != v.shape:
        raise OptionError(f"yi and vi must have the same shape, not {y.shape} and {v.shape}.")
    present = np.isfinite(y) & np.isfinite(v)
    bad_v = (present & (v <= 0)).any(1)
    present &= v > 0
    k = present.sum(1)
    reason = np.where(bad_v, "a variance is not positive", np.where(k == 0, "no studies", ""))
    ok = reason == ""
    # Work only on the usable rows; absent cells get harmless values (masked everywhere).
    yo = np.where(present, y, 0.0)[ok]
    vo = np.where(present, v, 1.0)[ok]
    po = present[ok]
    ko = k[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        w0 = np.where(po, 1.0 / vo, 0.0)
        sw0, fixed = _sums(w0, yo)
        q = (w0 * np.where(po, yo - fixed[:, None], 0.0) ** 2).sum(1)
        t2 = np.zeros(len(yo)) if model == "common" else \
            np.where(ko > 1, _tau2(tau2_method, yo, vo, po, ko, w0, sw0, q), 0.0)
        w = np.where(po, 1.0 / (vo + t2[:, None]), 0.0)
        sw, est = _sums(w, yo)
        se = np.sqrt(1.0 / sw)
        alpha = 1 - level
        kf = ko.astype(float)
        hk = (ci_method == "hksj") & (ko > 1)
        s2 = (w * np.where(po, yo - est[:, None], 0.0) ** 2).sum(1) / np.maximum(kf - 1, 1)
        se = np.where(hk, np.sqrt(s2 / sw), se)
        crit_z = float(special.ndtri(1 - alpha / 2))
        crit = np.where(hk, special.stdtrit(np.maximum(kf - 1, 1), 1 - alpha / 2), crit_z)
        stat = np.where(se > 0, est / se, np.where(est != 0, np.inf * np.sign(est), 0.0))
        p = np.where(hk, 2 * special.stdtr(np.maximum(kf - 1, 1), -np.abs(stat)),
                     2 * special.ndtr(-np.abs(stat)))
        pi_se = np.sqrt(se * se + t2)
        denom = sw0 - (w0 * w0).sum(1) / sw0
        vmin = np.where(po, vo, np.inf).min(1)
        vt = np.where((ko > 1) & (denom > 0), (kf - 1) / denom, vmin)
        if model == "random":
            i2 = 100 * t2 / (t2 + vt)
            h2 = (t2 + vt) / vt
        else:
            i2 = np.where((ko > 1) & (q > 0), np.maximum(0.0, 100 * (q - (kf - 1)) / q), 0.0)
            h2 = np.where(ko > 1, q / np.maximum(kf - 1, 1), 1.0)
        qp = np.where(ko > 1, special.chdtrc(np.maximum(kf - 1, 1), q), np.nan)
    out = pd.DataFrame({c: np.full(len(y), np.nan) for c in BATCH_COLUMNS[:-2]})
    values = {"estimate": est, "se": se, "ci_low": est - crit * se, "ci_high": est + crit * se,
              "pvalue": p, "pi_low": est - crit * pi_se, "pi_high": est + crit * pi_se,
              "tau2": t2, "i2": i2, "h2": h2, "q": q, "q_pvalue": qp}
    for col, val in values.items():
        out.loc[ok, col] = val
    out["k"] = k
    out["reason"] = reason
    return out

