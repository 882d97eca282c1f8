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

    y, v = np.ascontiguousarray(y), np.ascontiguousarray(v)
    hksj = ci_method == "hksj"
    alpha = 1 - level
    crit_z = float(special.ndtri(1 - alpha / 2))
    # t quantiles once per df, looked up by the kernel (the t functions are slow per row)
    tcrit = special.stdtrit(np.arange(1, max(y.shape[1], 2)), 1 - alpha / 2) if hksj \
        else np.zeros(1)
    common = model == "common"
    out, ko, code, flag = _kernel.rows(y, v, _kernel.METHOD_CODES[tau2_method], common, hksj,
                                       crit_z, np.ascontiguousarray(tcrit, dtype=float))
    refit = np.flatnonzero(flag & (code == 0))
    if refit.size:
        # several likelihood maxima (or no convergence): pool's global search, row by row
        t2 = np.empty(refit.size)
        for j, i in enumerate(refit):
            keep = np.isfinite(y[i]) & np.isfinite(v[i])
            t2[j] = estimate_tau2(y[i][keep], v[i][keep], tau2_method).tau2
        _kernel.refit(y, v, refit, t2, common, hksj, crit_z, tcrit, out)
    p = out[4]
    if hksj:
        # the kernel leaves the t statistic; its p-value with k - 1 df (z rows: k = 1)
        stat = p.copy()
        df = np.maximum(ko - 1, 1).astype(float)
        with np.errstate(invalid="ignore"):
            p = np.where(ko > 1, 2 * special.stdtr(df, -np.abs(stat)),
                         special.erfc(np.abs(stat) / np.sqrt(2)))
    qp = out[11]
    far = np.flatnonzero(np.isnan(qp) & (ko > 1) & (code == 0))
    if far.size:     # chi-square tails beyond the series' range
        qp[far] = special.chdtrc(ko[far] - 1, out[10][far])
    if hksj:
        out[4] = np.where(code == 0, p, np.nan)
    # one float block (a view of the kernel's output), then the count and the reason
    frame = pd.DataFrame(out.T, columns=list(BATCH_COLUMNS[:12]), copy=False)
    frame["k"] = ko
    frame["reason"] = pd.Categorical.from_codes(code.astype(np.int64),
                                                ["", "a variance is not positive",
                                                 "no studies"])
    return frame
