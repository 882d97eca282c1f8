"""Between-study variance (tau^2) estimators and the Q-profile interval.

One small function per estimator, collected in :data:`ESTIMATORS`. Iterative
estimators (ML, REML, PM/EB) solve their estimating equation with Brent's
method to machine precision, far below metafor's default threshold, and
never return a negative value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import optimize, stats

__all__ = [
    "ESTIMATORS",
    "TAU2_LABELS",
    "Interval",
    "Tau2Fit",
    "estimate_tau2",
    "q_generalized",
    "q_profile",
    "typical_variance",
]

TAU2_LABELS: dict[str, str] = {
    "DL": "DerSimonian-Laird",
    "HE": "Hedges",
    "HS": "Hunter-Schmidt",
    "SJ": "Sidik-Jonkman",
    "ML": "Maximum likelihood",
    "REML": "Restricted maximum likelihood",
    "EB": "Empirical Bayes",
    "PM": "Paule-Mandel",
}


class Interval(NamedTuple):
    """A two-sided interval."""

    low: float
    high: float


@dataclass(frozen=True)
class Tau2Fit:
    """An estimate of tau^2 with how it was obtained."""

    tau2: float
    converged: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau2", float(self.tau2))


def q_generalized(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    """Generalised Q: sum of w_i (y_i - mu_hat)^2 with w_i = 1 / (v_i + tau^2)."""
    w = 1.0 / (vi + tau2)
    mu = np.dot(w, yi) / w.sum()
    r = yi - mu
    return float(np.dot(w, r * r))


def typical_variance(vi: np.ndarray) -> float:
    """metafor's 'typical' within-study variance used for I^2 and H^2."""
    w = 1.0 / vi
    k = vi.size
    if k < 2:
        return float(vi[0]) if k else float("nan")
    return float((k - 1) / (w.sum() - np.dot(w, w) / w.sum()))


def _dl(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
    w = 1.0 / vi
    sw = w.sum()
    q = q_generalized(0.0, yi, vi)
    c = sw - np.dot(w, w) / sw
    return Tau2Fit(max(0.0, (q - (yi.size - 1)) / c))


def _he(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
    k = yi.size
    rss = float(np.sum((yi - yi.mean()) ** 2))
    return Tau2Fit(max(0.0, rss / (k - 1) - float(vi.mean())))


def _hs(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
    q = q_generalized(0.0, yi, vi)
    return Tau2Fit(max(0.0, (q - yi.size) / float(np.sum(1.0 / vi))))


def _sj(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
    k = yi.size
    tau0 = float(np.mean((yi - yi.mean()) ** 2))
    if tau0 <= 0:
        return Tau2Fit(0.0, note="all estimates are identical, so the Sidik-Jonkman start is 0")
    return Tau2Fit(tau0 * q_generalized(tau0, yi, vi) / (k - 1))


def _score_ml(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    w = 1.0 / (vi + tau2)
    mu = np.dot(w, yi) / w.sum()
    r = w * (yi - mu)
    return float(np.dot(r, r) - w.sum())


def _score_reml(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    w = 1.0 / (vi + tau2)
    sw = w.sum()
    mu = np.dot(w, yi) / sw
    r = w * (yi - mu)
    return float(np.dot(r, r) - sw + np.dot(w, w) / sw)


def _pm_equation(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    return q_generalized(tau2, yi, vi) - (yi.size - 1)


def _solve_decreasing(fun: Callable[[float], float], start: float) -> tuple[float, bool]:
    """Root of a function that is positive at 0 and negative for large tau^2.

    Returns ``(root, converged)``; 0 when the function is already <= 0 at 0.
    """
    if fun(0.0) <= 0:
        return 0.0, True
    hi = max(start, 1e-8)
    for _ in range(200):
        if fun(hi) < 0:
            break
        hi *= 4.0
    else:
        return hi, False
    root, info = optimize.brentq(fun, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                                 maxiter=500, full_output=True, disp=False)
    return float(root), bool(info.converged)


def _iterative(equation: Callable[[float, np.ndarray, np.ndarray], float], name: str):
    def estimator(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
        start = max(float(np.var(yi)), float(np.mean(vi)))
        root, ok = _solve_decreasing(lambda t: equation(t, yi, vi), start)
        if ok:
            return Tau2Fit(root)
        fallback = _dl(yi, vi).tau2
        return Tau2Fit(fallback, converged=False,
                       note=f"The {name} estimator did not converge; the DerSimonian-Laird "
                            f"estimate ({fallback:.4g}) is used instead.")
    estimator.__name__ = f"_{name.lower()}"
    estimator.__doc__ = f"{TAU2_LABELS[name]} estimate of tau^2 (solved to machine precision)."
    return estimator


#: Estimator registry: code -> function(yi, vi) -> Tau2Fit.
ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], Tau2Fit]] = {
    "DL": _dl,
    "HE": _he,
    "HS": _hs,
    "SJ": _sj,
    "ML": _iterative(_score_ml, "ML"),
    "REML": _iterative(_score_reml, "REML"),
    # Morris's empirical Bayes equation reduces to Paule-Mandel's Q(tau^2) = k - 1
    # in a model without moderators; metafor gives identical values.
    "EB": _iterative(_pm_equation, "EB"),
    "PM": _iterative(_pm_equation, "PM"),
}


def estimate_tau2(yi: np.ndarray, vi: np.ndarray, method: str = "REML") -> Tau2Fit:
    """Estimate tau^2 with a named estimator.

    Parameters
    ----------
    yi, vi
        Study estimates and sampling variances.
    method
        One of ``DL HE HS SJ ML REML EB PM``.

    Examples
    --------
    >>> import numpy as np
    >>> fit = estimate_tau2(np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.03]), "DL")
    >>> round(fit.tau2, 4)
    0.1417
    """
    yi = np.asarray(yi, float)
    vi = np.asarray(vi, float)
    if yi.size < 2:
        return Tau2Fit(0.0, note="tau^2 cannot be estimated from a single study; it is set to 0.")
    return ESTIMATORS[method](yi, vi)


def q_profile(yi: np.ndarray, vi: np.ndarray, level: float = 0.95) -> tuple[Interval, str]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007).

    Bounds solve Q(tau^2) = chi^2 quantiles with k - 1 df; a bound below zero is
    truncated at zero, as in metafor's ``confint``.

    Returns
    -------
    (Interval, note)
    """
    k = yi.size
    if k < 2:
        return Interval(float("nan"), float("nan")), "No interval for tau^2 with one study."
    df = k - 1
    alpha = 1 - level
    crit_hi = stats.chi2.ppf(1 - alpha / 2, df)
    crit_lo = stats.chi2.ppf(alpha / 2, df)
    start = max(float(np.var(yi)), float(np.mean(vi)))
    bounds = []
    for crit in (crit_hi, crit_lo):
        root, _ = _solve_decreasing(lambda t, c=crit: q_generalized(t, yi, vi) - c, start)
        bounds.append(root)
    note = ""
    if bounds[1] == 0.0:
        note = "Both bounds of the tau^2 interval are truncated at zero."
    elif bounds[0] == 0.0:
        note = "The lower bound of the tau^2 interval is truncated at zero."
    return Interval(bounds[0], bounds[1]), note
