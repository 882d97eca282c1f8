"""Between-study variance (tau^2) estimators and the Q-profile interval.

One small function per estimator, collected in :data:`ESTIMATORS`. Iterative
estimators (ML, REML, PM/EB) solve their estimating equation with Brent's
method to machine precision, far below metafor's default threshold, and
never return a negative value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

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


_EPS4 = 4 * np.finfo(float).eps
# Newton converges quadratically: once a step moves tau^2 by less than 1e-7 of its
# value, the next iterate (which is returned) is accurate to about 1e-14.
_NEWTON_TOL = 1e-7
_sum = np.add.reduce  # skips ndarray.sum's Python wrapper on the hot path
# Points of the score scan that brackets every local maximum of the (restricted)
# likelihood; the scan is one vectorised pass up to _VECTOR_K studies.
_GRID, _VECTOR_K = 48, 50_000
_UNIT_GRID = np.concatenate([[0.0], np.linspace(0.0, 1.0, _GRID)])


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
    """metafor's 'typical' within-study variance (k-1) / (sum w - sum w^2 / sum w), for I^2, H^2.

    With one study, or one study carrying all the weight (the denominator rounds to 0),
    the smallest variance is used.
    """
    k = vi.size
    if k == 0:
        return float("nan")
    w = 1.0 / vi
    sw = w.sum()
    denom = sw - np.dot(w, w) / sw
    return float((k - 1) / denom) if k > 1 and denom > 0 else float(vi.min())


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


def _ml_reml_terms(tau2: float, yi: np.ndarray, vi: np.ndarray):
    """Sums shared by the ML and REML equations: sum w, sum w^2, sum w^3,
    sum w^2 r^2 and its derivative in tau^2 (r = y - mu_hat)."""
    w = 1.0 / (vi + tau2)
    w2 = w * w
    sw = _sum(w)
    r = yi - np.dot(w, yi) / sw
    wr = w * r
    # numpy scalars, not floats: extreme inputs then give inf/nan (caught by the caller)
    # instead of raising ZeroDivisionError.
    a = np.dot(wr, wr)
    b = np.dot(w2, r)
    da = -2.0 * np.dot(wr * w, wr) + 2.0 * b * b / sw
    return sw, _sum(w2), np.dot(w2, w), a, da


def _ml_equation(tau2: float, yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
    """ML score (up to a factor 1/2) and its derivative in tau^2."""
    sw, sw2, _, a, da = _ml_reml_terms(tau2, yi, vi)
    return a - sw, da + sw2


def _reml_equation(tau2: float, yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
    """REML score (up to a factor 1/2) and its derivative in tau^2."""
    sw, sw2, sw3, a, da = _ml_reml_terms(tau2, yi, vi)
    return a - sw + sw2 / sw, da + sw2 - 2.0 * sw3 / sw + sw2 * sw2 / (sw * sw)


def _q_equation(target: float):
    """Q(tau^2) = target, written as 1/target - 1/Q(tau^2), nearly linear in tau^2."""
    inv_target = 1.0 / target

    def equation(tau2: float, yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
        w = 1.0 / (vi + tau2)
        wr = w * (yi - np.dot(w, yi) / _sum(w))
        q = np.dot(wr, yi)  # sum w r y = sum w r^2, as sum w r = 0
        if not q > 0:  # identical estimates: Q is 0 for every tau^2
            return -math.inf, -1.0
        return inv_target - 1.0 / q, -np.dot(wr, wr) / (q * q)
    return equation


def _solve_decreasing(equation, yi: np.ndarray, vi: np.ndarray,
                      start: float = 0.0) -> tuple[float, bool]:
    """Root in tau^2 >= 0 of an equation positive at 0 and negative for large tau^2.

    Safeguarded Newton (bisection whenever a step leaves the bracket); see
    ``_NEWTON_TOL`` for the stopping rule.
    Falls back to Brent's method if Newton stalls. Returns ``(root, converged)``;
    0 when the equation is already <= 0 at 0.
    """
    lo, hi = 0.0, math.inf
    x = 0.0
    if start > 0:
        f, d = equation(start, yi, vi)
        if f > 0:
            lo, x = start, start
        elif f == 0:
            return float(start), True
        else:
            hi = start
    if x == 0.0:
        f, d = equation(0.0, yi, vi)
        if f <= 0:
            return 0.0, True
    for _ in range(100):
        step = x - f / d if d < 0 else math.nan
        if not lo < step < hi:
            step = 0.5 * (lo + hi) if math.isfinite(hi) else max(4.0 * x, 1e-4)
        elif abs(step - x) <= _NEWTON_TOL * step:
            return float(step), True
        x = step
        f, d = equation(x, yi, vi)
        if f == 0:
            return float(x), True
        if f > 0:
            lo = x
        else:
            hi = x
        if math.isfinite(hi) and hi - lo <= _EPS4 * hi:
            return float(x), True
    if not math.isfinite(hi):
        return float(x), False
    root, info = optimize.brentq(lambda t: equation(t, yi, vi)[0], lo, hi, xtol=1e-300,
                                 rtol=_EPS4, maxiter=500, full_output=True, disp=False)
    return float(root), bool(info.converged)


def _loglik(tau2: float | np.ndarray, yi: np.ndarray, vi: np.ndarray,
            reml: bool) -> np.ndarray:
    """Log-likelihood (ML) or restricted log-likelihood (REML) of tau^2, up to a constant.

    Accepts a vector of tau^2 values (one likelihood each).
    """
    t = np.atleast_1d(np.asarray(tau2, float))[:, None]
    s = vi[None, :] + t
    w = 1.0 / s
    sw = w.sum(1)
    mu = (w @ yi) / sw
    ll = -0.5 * np.log(s).sum(1) - 0.5 * (w * (yi[None, :] - mu[:, None]) ** 2).sum(1)
    if reml:
        ll -= 0.5 * np.log(sw)
    return ll


def score_grid(yi: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """tau^2 values at which the score is evaluated to bracket every stationary point.

    0, then a geometric grid from far below the smallest variance up to a bound beyond
    which the score is negative (for tau^2 well above every v_i and every squared
    distance between estimates, the likelihood only falls).
    """
    upper = 10.0 * (float(yi.max() - yi.min()) ** 2 + float(vi.max()))
    # Below 1e-4 of the smallest variance a maximum moves the likelihood by less than
    # 1e-4 relative to tau^2 = 0 (itself a candidate); the Newton root covers the rest.
    lower = max(1e-4 * float(vi.min()), upper * 1e-16)
    grid = np.exp(_UNIT_GRID * math.log(upper / lower))
    grid *= lower
    grid[0] = 0.0
    return grid


def best_maximum(score: Callable[[float], float],
                 loglik: Callable[[np.ndarray], np.ndarray], grid: np.ndarray,
                 f: np.ndarray, reml: bool, extra: Sequence[float] = ()) -> tuple[float, str]:
    """The highest local maximum of a (restricted) likelihood in tau^2 >= 0.

    ``f`` is the score on :func:`score_grid`'s ``grid``: every sign change from + to -
    brackets a local maximum, refined by Brent's method; tau^2 = 0 is a candidate when
    the score is <= 0 there; ``extra`` adds roots found otherwise (Newton's). Returns the
    best candidate and, when there are several maxima, a note naming them. Used by
    :func:`pool`'s ML/REML and by meta-regression (``score``/``loglik`` of the design).
    """
    candidates = [0.0] if not f[0] > 0 else []
    for i in np.flatnonzero((f[:-1] > 0) & (f[1:] <= 0)):
        candidates.append(float(optimize.brentq(score, grid[i], grid[i + 1], xtol=1e-300,
                                                rtol=_EPS4, maxiter=500)))
    candidates += [float(c) for c in extra]
    if not candidates:   # the score is negative beyond the grid's bound; kept as a guard
        candidates = [float(grid[-1])]
    values = loglik(np.array(candidates))
    best = float(candidates[int(np.argmax(values))])
    distinct = sorted({round(c, 12) for c in candidates})
    maxima = [c for c in distinct if not any(abs(c - d) <= 1e-8 * max(c, d, 1e-300)
                                             for d in distinct if d < c)]
    note = ""
    if len(maxima) > 1:
        which = "restricted likelihood" if reml else "likelihood"
        listed = ", ".join(f"{m:.4g}" for m in maxima)
        note = (f"The {which} of τ² has more than one maximum (at τ² = {listed}); the "
                f"highest, τ² = {best:.4g}, is used.")
    return best, note


def _global_maximum(equation, yi: np.ndarray, vi: np.ndarray, reml: bool,
                    start: float) -> tuple[float, bool, str]:
    """The tau^2 >= 0 that maximises the (restricted) likelihood, over every local maximum.

    The score on :func:`score_grid` tells how many maxima there can be; with one, the
    root Newton reaches from ``start`` (the DerSimonian-Laird value) is it; otherwise
    :func:`best_maximum` compares every bracketed maximum and Newton's root. The grid's
    signs are read cheaply (see :func:`_grid_signs`): most cells are proven to keep one sign
    from bounds, and only the others are evaluated point by point.
    """
    grid = score_grid(yi, vi)
    with np.errstate(all="ignore"):
        if yi.size > _VECTOR_K:
            f = np.array([equation(t, yi, vi)[0] for t in grid])
        else:
            f = _grid_signs(grid, yi, vi, reml)
    brackets = np.flatnonzero((f[:-1] > 0) & (f[1:] <= 0))
    at_zero = not f[0] > 0
    newton, ok = _solve_decreasing(equation, yi, vi, start)
    if len(brackets) + at_zero <= 1:   # one maximum: the root Newton reached (or 0)
        return (newton, True, "") if ok else (start, False, "")
    with np.errstate(all="ignore"):
        f = _score_vector(grid, yi, vi, reml)
    best, note = best_maximum(lambda t: equation(t, yi, vi)[0],
                              lambda c: _loglik(c, yi, vi, reml), grid, f, reml,
                              [newton] if ok else [])
    return best, True, note


# Every _COARSE-th grid point is evaluated first; a cell between two of them whose score
# keeps one sign by the bounds below needs none of its inner points. Below _BOUND_K studies
# the whole grid costs less than the bookkeeping.
_COARSE, _BOUND_K = 4, 300
_COARSE_IDX = np.arange(0, _UNIT_GRID.size, _COARSE)
_INNER_IDX = np.setdiff1d(np.arange(_UNIT_GRID.size), _COARSE_IDX)
_CELL_OF_INNER = _INNER_IDX // _COARSE


def _grid_signs(grid: np.ndarray, yi: np.ndarray, vi: np.ndarray, reml: bool) -> np.ndarray:
    """The score's sign pattern on the grid, as :func:`_score_vector` would give it, at a
    fraction of the cost for many studies.

    The score is A - B + C with A = sum w^2 r^2, B = sum w, C = sum w^2 / sum w (REML;
    0 for ML), w = 1 / (v + tau^2), r = y - mu_hat(tau^2), and all three DECREASE in
    tau^2 (B and C plainly; dA/dtau^2 = -2 sum w^3 r^2 + 2 (sum w^2 r)^2 / sum w <= 0 by
    Cauchy-Schwarz). So on a cell [a, b] the score lies between A(b) - B(a) + C(b) and
    A(a) - B(b) + C(a): when that range excludes 0 the score keeps one sign on the whole
    cell (a proof, stronger than sampling its points). Only the other cells -- around the
    root, typically one or two -- get their inner grid points evaluated. The values
    returned carry the right sign at every grid point (exact values where evaluated, +-1
    where proven), which is all the bracket count needs.
    """
    if yi.size < _BOUND_K or grid.size != _UNIT_GRID.size:
        return _score_vector(grid, yi, vi, reml)
    a, b, c = _score_parts(grid[_COARSE_IDX], yi, vi, reml)
    f = np.empty(grid.size)
    f[_COARSE_IDX] = a - b + c
    hi = a[:-1] - b[1:] + c[:-1]          # the score's upper bound on each coarse cell
    lo = a[1:] - b[:-1] + c[1:]           # and its lower bound
    slack = 1e-9 * (np.abs(a[:-1]) + np.abs(b[:-1]) + np.abs(c[:-1]))
    neg, pos = hi < -slack, lo > slack
    f[_INNER_IDX] = np.where(neg, -1.0, 1.0)[_CELL_OF_INNER]
    open_inner = _INNER_IDX[~(neg | pos)[_CELL_OF_INNER]]
    if open_inner.size:
        a2, b2, c2 = _score_parts(grid[open_inner], yi, vi, reml)
        f[open_inner] = a2 - b2 + c2
    return f


def _score_parts(grid: np.ndarray, yi: np.ndarray, vi: np.ndarray,
                 reml: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A = sum w^2 r^2, B = sum w and C = sum w^2 / sum w (0 for ML) at every grid value."""
    w = np.add.outer(grid, vi)
    np.reciprocal(w, out=w)
    sw = w.sum(1)
    wy = w @ yi
    w2 = np.square(w, out=w)
    s0, s1, s2 = w2.sum(1), w2 @ yi, w2 @ (yi * yi)
    mu = wy / sw
    # sum w^2 (y - mu)^2 = sum w^2 y^2 - 2 mu sum w^2 y + mu^2 sum w^2, with mu = wy / sw
    return s2 - 2 * mu * s1 + mu * mu * s0, sw, (s0 / sw if reml else np.zeros_like(sw))


def _score_vector(grid: np.ndarray, yi: np.ndarray, vi: np.ndarray, reml: bool) -> np.ndarray:
    """The ML/REML score (up to a factor 1/2) at every grid value at once."""
    a, b, c = _score_parts(grid, yi, vi, reml)
    return a - b + c


def _iterative(equation, name: str):
    likelihood = name in ("ML", "REML")

    def estimator(yi: np.ndarray, vi: np.ndarray) -> Tau2Fit:
        start = _dl(yi, vi).tau2
        if likelihood:
            root, ok, note = _global_maximum(equation, yi, vi, name == "REML", start)
        else:   # Q(tau^2) decreases strictly: one root, no search needed
            (root, ok), note = _solve_decreasing(equation, yi, vi, start), ""
        if ok:
            return Tau2Fit(root, note=note)
        return Tau2Fit(start, converged=False,
                       note=f"The {name} estimator did not converge; the DerSimonian-Laird "
                            f"estimate ({start:.4g}) is used instead.")
    estimator.__name__ = f"_{name.lower()}"
    estimator.__doc__ = f"{TAU2_LABELS[name]} estimate of tau^2 (solved to machine precision)."
    return estimator


def _pm_equation(tau2: float, yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
    return _q_equation(yi.size - 1)(tau2, yi, vi)


#: Estimator registry: code -> function(yi, vi) -> Tau2Fit.
ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], Tau2Fit]] = {
    "DL": _dl,
    "HE": _he,
    "HS": _hs,
    "SJ": _sj,
    "ML": _iterative(_ml_equation, "ML"),
    "REML": _iterative(_reml_equation, "REML"),
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
        return Tau2Fit(0.0, note="τ² cannot be estimated from a single study; it is set to 0.")
    return ESTIMATORS[method](yi, vi)


def q_profile(yi: np.ndarray, vi: np.ndarray, level: float = 0.95, *,
              q_fixed: float | None = None, start: float = 0.0) -> tuple[Interval, str]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007).

    Bounds solve Q(tau^2) = chi^2 quantiles with k - 1 df; a bound below zero is
    truncated at zero, as in metafor's ``confint``.

    Returns
    -------
    (Interval, note)
    """
    k = yi.size
    if k < 2:
        return Interval(float("nan"), float("nan")), "No interval for τ² with one study."
    df = k - 1
    alpha = 1 - level
    bounds = []
    q0 = q_generalized(0.0, yi, vi) if q_fixed is None else q_fixed
    for crit in special.chdtri(df, np.array([alpha / 2, 1 - alpha / 2])):
        if q0 <= crit:  # Q decreases in tau^2: the bound is truncated at zero
            bounds.append(0.0)
            continue
        # The upper bound lies above the lower one: start its search there.
        root, _ = _solve_decreasing(_q_equation(float(crit)), yi, vi, max(start, *bounds, 0.0))
        bounds.append(root)
    note = ""
    if bounds[1] == 0.0:
        note = "Both bounds of the τ² interval are truncated at zero."
    elif bounds[0] == 0.0:
        note = "The lower bound of the τ² interval is truncated at zero."
    return Interval(bounds[0], bounds[1]), note
