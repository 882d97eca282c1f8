"""Many meta-analyses at once: :func:`pool` vectorised over the rows of (m, k) arrays.

One meta-analysis per row, NaN where a study is absent. Every τ² estimator and both
interval methods give, row by row, what :func:`metacore.pool` gives on that row's studies
(closed forms exactly; ML, REML, PM and EB by the same safeguarded Newton iterations and
the same scan for several likelihood maxima, compiled per row in
:mod:`metacore._batch_kernel` — the rare rows with several maxima are refitted one by one).
Rows that cannot be pooled get NaN and a reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import OptionError
from metacore.pooling import CI_METHODS, MODELS
from metacore.tau2 import ESTIMATORS, estimate_tau2

__all__ = ["BATCH_COLUMNS", "pool_batch"]

#: Columns of :func:`pool_batch`'s result, in order.
BATCH_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "pvalue", "pi_low", "pi_high", "tau2",
                 "i2", "h2", "q", "q_pvalue", "k", "reason")


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
    # Imported here: numba takes a while to load, and the dashboard rarely needs it.
    from metacore import _batch_kernel as _kernel

    # A row with a non-positive variance cannot be pooled; NaN cells are absent studies.
    bad_v = (np.isfinite(y) & (v <= 0)).any(1)
    t2, q, sw0, c0, vmin, est, sw, s2, flag, ko = _kernel.rows(
        np.ascontiguousarray(y), np.ascontiguousarray(v), _kernel.METHOD_CODES[tau2_method],
        model == "common")
    ok = ~bad_v & (ko > 0)
    for i in np.flatnonzero(flag & ok):
        # Several likelihood maxima (or no convergence): the global search of pool.
        keep = np.isfinite(y[i]) & np.isfinite(v[i])
        yi_, vi_ = y[i][keep], v[i][keep]
        t2[i] = estimate_tau2(yi_, vi_, tau2_method).tau2
        w = 1.0 / (vi_ + t2[i])
        sw[i], est[i] = w.sum(), float(w @ yi_ / w.sum())
        s2[i] = float(w @ (yi_ - est[i]) ** 2) / max(ko[i] - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kf = ko.astype(float)
        alpha = 1 - level
        hk = (ci_method == "hksj") & (ko > 1)
        se = np.where(hk, np.sqrt(s2 / sw), np.sqrt(1.0 / sw))
        df = np.maximum(kf - 1, 1)
        # t quantiles once per distinct df (the t functions are slow per element).
        crit = np.full(len(est), float(special.ndtri(1 - alpha / 2)))
        stat = np.where(se > 0, est / se, np.where(est != 0, np.inf * np.sign(est), 0.0))
        p = 2 * special.ndtr(-np.abs(stat))
        if hk.any():
            table = special.stdtrit(np.arange(1, int(df.max()) + 1), 1 - alpha / 2)
            crit[hk] = table[df[hk].astype(int) - 1]
            p[hk] = 2 * special.stdtr(df[hk], -np.abs(stat[hk]))
        pi_se = np.sqrt(se * se + t2)
        vt = np.where((ko > 1) & (c0 > 0), (kf - 1) / c0, vmin)
        if model == "random":
            i2 = 100 * t2 / (t2 + vt)
            h2 = (t2 + vt) / vt
        else:
            i2 = np.where((ko > 1) & (q > 0), np.maximum(0.0, 100 * (q - (kf - 1)) / q), 0.0)
            h2 = np.where(ko > 1, q / df, 1.0)
        qp = np.where(ko > 1, special.chdtrc(df, q), np.nan)
    out = {}
    for col, val in (("estimate", est), ("se", se), ("ci_low", est - crit * se),
                     ("ci_high", est + crit * se), ("pvalue", p),
                     ("pi_low", est - crit * pi_se), ("pi_high", est + crit * pi_se),
                     ("tau2", t2), ("i2", i2), ("h2", h2), ("q", q), ("q_pvalue", qp)):
        out[col] = np.where(ok, val, np.nan)
    out["k"] = np.where(bad_v, (np.isfinite(y) & np.isfinite(v)).sum(1), ko)
    codes = np.where(bad_v, 1, np.where(ko == 0, 2, 0))
    out["reason"] = pd.Categorical.from_codes(codes, ["", "a variance is not positive",
                                                      "no studies"])
    return pd.DataFrame(out)
