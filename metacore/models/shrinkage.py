"""Partial pooling: each study's true effect shrunk toward the mean (metafor's ``blup``).

For a given tau, theta_i is estimated by l_i y_i + (1 - l_i) mu_hat with
l_i = tau^2 / (tau^2 + v_i): no pooling as tau -> infinity (l_i -> 1), complete
pooling at tau = 0 (l_i = 0). Small (noisy) studies have small l_i and move most.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore.models.effects import EffectSizes
from metacore.models.pooling import PoolResult

__all__ = ["blup", "shrinkage_path"]


def _blup_arrays(yi: np.ndarray, vi: np.ndarray, tau2: float, mu: float, var_mu: float,
                 crit: float) -> pd.DataFrame:
    li = tau2 / (tau2 + vi) if np.isfinite(tau2) else np.ones_like(vi)
    pred = li * yi + (1 - li) * mu
    se = np.sqrt(li * vi + (1 - li) ** 2 * var_mu)
    return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se,
                         "ci_high": pred + crit * se, "shrinkage": 1 - li})


def blup(result: PoolResult) -> pd.DataFrame:
    """Best linear unbiased predictions of the studies' true effects from a fit.

    Matches metafor's ``blup(rma(...))``: the interval uses the fit's critical
    value (z, or t with k-1 df under HKSJ) and the fit's variance of mu_hat.

    Returns
    -------
    DataFrame
        ``study yi pred se ci_low ci_high shrinkage`` (analysis scale; shrinkage
        is the weight 1 - l_i that goes to the pooled mean).

    Examples
    --------
    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> round(float(blup(res)["pred"].iloc[0]), 4)
    -0.8002
    """
    alpha = 1 - result.level
    if result.df is None:
        crit = float(special.ndtri(1 - alpha / 2))
    else:
        crit = float(special.stdtrit(result.df, 1 - alpha / 2))
    tau2 = result.tau2 if result.model == "random" else 0.0
    out = _blup_arrays(result.yi, result.vi, tau2, result.estimate, result.se**2, crit)
    out.insert(0, "yi", result.yi)
    out.insert(0, "study", list(result.study))
    return out


def shrinkage_path(effects: EffectSizes, tau: float, level: float = 0.95) -> pd.DataFrame:
    """Study estimates under partial pooling with a fixed tau (Wald intervals).

    ``tau = 0`` gives complete pooling, ``tau = inf`` no pooling.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    >>> shrinkage_path(eff, 0.0)["pred"].round(2).unique().tolist()
    [-2.04]
    """
    yi, vi = effects.yi, effects.vi
    crit = float(special.ndtri(0.5 + level / 2))
    if np.isinf(tau):
        out = _blup_arrays(yi, vi, np.inf, 0.0, 0.0, crit)
    else:
        w = 1 / (vi + tau**2)
        mu = float(w @ yi / w.sum())
        out = _blup_arrays(yi, vi, tau**2, mu, float(1 / w.sum()), crit)
    out.insert(0, "yi", yi)
    out.insert(0, "study", list(effects.study))
    return out
