"""Many meta-analyses at once: :func:`pool` vectorised over the rows of (m, k) arrays.

One meta-analysis per row, NaN where a study is absent. Every τ² estimator and both
interval methods give, row by row, what :func:`metacore.pool` gives on that row's studies
(closed forms exactly; ML, REML, PM and EB by the same safeguarded Newton iterations and
the same scan for several likelihood maxima, compiled in :mod:`metacore.batch.kernel`
and run on every core's thread — the rare rows with several maxima are refitted one
by one).
Rows that cannot be pooled get NaN and a reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore._extras import need
from metacore.batch.threads import cores, pool
from metacore.errors import OptionError
from metacore.models.pooling import CI_METHODS, HKSJ_METHODS, MODELS
from metacore.models.tau2 import ESTIMATORS, estimate_tau2

__all__ = ["BATCH_COLUMNS", "pool_batch", "warm_up"]

#: Columns of :func:`pool_batch`'s result, in order.
BATCH_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "pvalue", "pi_low", "pi_high", "tau2",
                 "i2", "h2", "q", "q_pvalue", "k", "reason")
_NONE = np.empty(0, dtype=np.int64)
_REASONS = ("", "a variance is not positive", "no studies")


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
    >>> # R, each row: rma(yi = c(0.2, 0.2, 0.4), vi = c(0.01, 0.01, 0.02), method = "DL")
    >>> out["k"].tolist(), round(float(out.loc[1, "estimate"]), 4)
    ([2, 3], 0.24)
    """
    if model not in MODELS or tau2_method not in ESTIMATORS or ci_method not in CI_METHODS:
        raise OptionError("model must be 'common' or 'random', tau2_method one of "
                          + ", ".join(ESTIMATORS) + ", ci_method one of "
                          + ", ".join(CI_METHODS) + ".")
    if not 0 < level < 1:
        raise OptionError(f"The confidence level must be between 0 and 1, not {level}.")
    y = np.atleast_2d(np.asarray(yi, float))
    v = np.atleast_2d(np.asarray(vi, float))
    if y.shape != v.shape:
        raise OptionError(f"yi and vi must have the same shape, not {y.shape} and {v.shape}.")
    # Imported here: numba takes a while to load, and the dashboard rarely needs it.
    need("numba", "pool_batch (many meta-analyses at once)")
    from metacore.batch import kernel as _kernel
    from metacore.batch.vecmath import TABLE

    y, v = np.ascontiguousarray(y), np.ascontiguousarray(v)
    if ci_method in HKSJ_METHODS and ci_method != "hksj":
        # The kernel knows Wald and plain HKSJ; the guarded variants are computed exactly on
        # top of its Wald fit (estimate, tau^2 and Wald SE are those of every variant).
        wald = pool_batch(y, v, model=model, tau2_method=tau2_method, ci_method="z",
                          level=level)
        return _hksj_variant(wald, y, v, ci_method, level)
    hksj = ci_method == "hksj"
    alpha = 1 - level
    crit_z = float(special.ndtri(1 - alpha / 2))
    # t quantiles once per df, looked up by the kernel (the t functions are slow per row)
    tcrit = np.ascontiguousarray(special.stdtrit(np.arange(1, max(y.shape[1], 2)),
                                                 1 - alpha / 2) if hksj else np.zeros(1))
    common = model == "common"
    m = y.shape[0]
    out, ko = np.empty((12, m)), np.empty(m, dtype=np.int64)
    code, flag = np.empty(m, dtype=np.int8), np.zeros(m, dtype=bool)
    method = _kernel.METHOD_CODES[tau2_method]
    args = (y, v, method, common, hksj, crit_z, tcrit, TABLE, out, ko, code, flag)
    _run(_kernel, args, _NONE, np.empty(0), m, y.shape[1])
    refit = np.flatnonzero(flag & (code == 0))
    if refit.size:
        # several likelihood maxima (or no convergence): pool's global search, row by row
        t2 = np.empty(refit.size)
        for j, i in enumerate(refit):
            keep = np.isfinite(y[i]) & np.isfinite(v[i])
            t2[j] = estimate_tau2(y[i][keep], v[i][keep], tau2_method).tau2
        _run(_kernel, args, refit.astype(np.int64), t2, refit.size, y.shape[1])
    p = out[4]
    if hksj:
        # the kernel leaves the t statistic; its p-value with k - 1 df (z rows: k = 1)
        stat = p.copy()
        df = np.maximum(ko - 1, 1).astype(float)
        with np.errstate(invalid="ignore"):
            p = np.where(ko > 1, 2 * special.stdtr(df, -np.abs(stat)),
                         special.erfc(np.abs(stat) / np.sqrt(2)))
    qp = out[11]
    # chi-square tails beyond the series' range (Q > 1400) from scipy
    far = np.flatnonzero(out[10] > 1400.0)
    far = far[(ko[far] > 1) & (code[far] == 0)]
    if far.size:
        qp[far] = special.chdtrc(ko[far] - 1, out[10][far])
    if hksj:
        out[4] = np.where(code == 0, p, np.nan)
    # columns are views of the kernel's output rows (a dict of arrays: no copy, and ten
    # times quicker for pandas than a 2-D block with a column list)
    frame = {name: out[i] for i, name in enumerate(BATCH_COLUMNS[:12])}
    frame["k"] = ko
    # the dtype is made here, not at import: string categories load pyarrow, whose
    # allocator reserves ~1 GB of address space (the Excel reader's child has a 1.5 GB cap)
    frame["reason"] = pd.Categorical.from_codes(code, dtype=pd.CategoricalDtype(_REASONS))
    frame = pd.DataFrame(frame, copy=False)
    return frame


def _hksj_variant(frame: pd.DataFrame, y: np.ndarray, v: np.ndarray, ci_method: str,
                  level: float) -> pd.DataFrame:
    """Modified HKSJ (metafor's test="adhoc") and meta's adhoc.hakn.ci variants from a Wald
    fit, row by row as :func:`metacore.models.pooling.hksj_interval`."""
    est, se_wald, tau2 = (frame[c].to_numpy(float) for c in ("estimate", "se", "tau2"))
    k = frame["k"].to_numpy()
    ok = (k > 1) & np.isfinite(est)           # one study: Wald z, as pool()
    present = np.isfinite(y) & np.isfinite(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(present, 1.0 / (np.where(present, v, 1.0) + tau2[:, None]), 0.0)
        r = np.where(present, np.where(present, y, 0.0) - est[:, None], 0.0)
        s2 = (w * r * r).sum(axis=1) / (k - 1)
        se_hk = se_wald * np.sqrt(s2)
        df = np.maximum(k - 1, 1).astype(float)
        alpha = 1 - level
        tcrit = special.stdtrit(df, 1 - alpha / 2)
        zcrit = float(special.ndtri(1 - alpha / 2))
        se, crit, use_t = se_hk.copy(), tcrit.copy(), np.ones(len(k), dtype=bool)
        if ci_method in ("hksj-adhoc", "hksj-se"):
            se = se_wald * np.sqrt(np.maximum(s2, 1.0))
        elif ci_method == "hksj-ci":
            wider = tcrit * se_hk < zcrit * se_wald
            se = np.where(wider, se_wald, se_hk)
            crit = np.where(wider, zcrit, tcrit)
            use_t = ~wider
        else:  # hksj-iqwig6: against the DerSimonian-Laird Wald interval
            dl = pool_batch(y, v, model="random", tau2_method="DL", ci_method="z",
                            level=level)["se"].to_numpy(float)
            se = np.where(tcrit * se_hk < zcrit * dl, se_wald, se_hk)
        se_pi = se if ci_method == "hksj-adhoc" else se_wald
        stat = est / se
        p = np.where(use_t, 2 * special.stdtr(df, -np.abs(stat)),
                     special.erfc(np.abs(stat) / np.sqrt(2)))
        pi_half = tcrit * np.sqrt(se_pi**2 + tau2)
    out = frame.copy()
    for name, value in (("se", se), ("ci_low", est - crit * se), ("ci_high", est + crit * se),
                        ("pvalue", p), ("pi_low", est - pi_half), ("pi_high", est + pi_half)):
        out[name] = np.where(ok, value, out[name].to_numpy(float))
    return out


def _run(kernel, args: tuple, select: np.ndarray, tau2: np.ndarray, n: int, k: int) -> None:
    """The kernel over n rows, in stretches on :func:`metacore.batch.threads.cores` threads (it
    releases the GIL); sixteen stretches per thread, so a stretch of slow rows (or a thread
    the machine pauses) does not hold up the rest."""
    threads = cores()
    parts = min(kernel.blocks(n, k), 16 * threads)
    if threads == 1 or parts <= 1:
        kernel.rows(*args, select, tau2, 0, 1)
        return
    list(pool(threads).map(lambda p: kernel.rows(*args, select, tau2, p, parts),
                           range(parts)))


def warm_up() -> None:
    """Compile the batch kernel now (numba caches it beside the source: ~30 s once per
    machine and source version, then ~1 s to load), so no user waits for it."""
    y = np.array([[0.1, 0.3, 0.2], [0.0, 0.5, np.nan]])
    pool_batch(y, np.full(y.shape, 0.02), tau2_method="REML")
