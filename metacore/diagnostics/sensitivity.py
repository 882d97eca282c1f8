"""Sensitivity analyses on a fit: leave-one-out and all tau^2 estimators side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metacore.errors import DataError
from metacore.models.effects import EffectSizes
from metacore.models.pooling import pool
from metacore.models.tau2 import ESTIMATORS, TAU2_LABELS

__all__ = ["compare_estimators", "leave_one_out"]


def leave_one_out(effects: EffectSizes, *, model: str = "random", tau2_method: str = "REML",
                  ci_method: str = "z", level: float = 0.95) -> pd.DataFrame:
    """Refit leaving out each study in turn (metafor's ``leave1out``).

    Returns
    -------
    DataFrame
        One row per omitted study: ``study estimate se ci_low ci_high pvalue q
        q_pvalue tau2 i2 h2`` on the analysis scale.

    Raises
    ------
    DataError
        With fewer than two studies.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    >>> l1o = leave_one_out(eff, tau2_method="DL")
    >>> round(float(l1o.loc[l1o.study == "Douglas 1987", "estimate"].iloc[0]), 3)
    -1.598
    """
    if effects.k < 2:
        raise DataError("Leave-one-out needs at least two studies.")
    rows = []
    everyone = np.ones(effects.k, dtype=bool)
    for i in range(effects.k):
        keep = everyone.copy()
        keep[i] = False
        res = pool(effects.subset(keep), model=model, tau2_method=tau2_method,
                   ci_method=ci_method, level=level)
        rows.append({"study": effects.study[i], "estimate": res.estimate, "se": res.se,
                     "ci_low": res.ci_low, "ci_high": res.ci_high, "pvalue": res.pvalue,
                     "q": res.q, "q_pvalue": res.q_pvalue, "tau2": res.tau2, "i2": res.i2,
                     "h2": res.h2})
    return pd.DataFrame(rows)


def compare_estimators(effects: EffectSizes, *, ci_method: str = "z",
                       level: float = 0.95) -> pd.DataFrame:
    """Random-effects fits under every tau^2 estimator, plus the common effect.

    Returns
    -------
    DataFrame
        One row per estimator: ``method label estimate ci_low ci_high pi_low
        pi_high tau2 tau i2 converged``.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> tab = compare_estimators(eff)   # R: rma(yi, vi, data = dat, method = "DL"), "REML" ...
    >>> tab.set_index("method").loc["DL", "tau2"].round(4)
    np.float64(0.3088)
    """
    rows = []
    for method in ("common", *ESTIMATORS):
        if method == "common":
            res = pool(effects, model="common", ci_method=ci_method, level=level)
            label = "Common effect"
        else:
            res = pool(effects, model="random", tau2_method=method, ci_method=ci_method,
                       level=level)
            label = TAU2_LABELS[method]
        rows.append({"method": "CE" if method == "common" else method, "label": label,
                     "estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
                     "pi_low": res.pi_low, "pi_high": res.pi_high, "tau2": res.tau2,
                     "tau": res.tau, "i2": res.i2, "converged": res.converged})
    return pd.DataFrame(rows)
