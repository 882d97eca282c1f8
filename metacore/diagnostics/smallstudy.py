"""Small-study effects: Egger's regression test, Begg's rank test, trim-and-fill and
fail-safe N (metafor's ``regtest``, ``ranktest``, ``trimfill``, ``fsn``).

These tests are known to be unreliable with fewer than 10 studies; every result says
so in its notes when k < 10, as metafor and meta warn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes
from metacore.models.metareg import fit_mixed
from metacore.models.pooling import PoolResult, pool

__all__ = ["BeggResult", "EggerResult", "FailSafeResult", "TrimFillResult", "begg", "egger",
           "failsafe", "trimfill"]

_FEW = ("With fewer than 10 studies the tests for small-study effects have little power "
        "and can mislead (metafor and meta warn too).")


def _few(k: int) -> tuple[str, ...]:
    return (_FEW,) if k < 10 else ()


def _need(effects: EffectSizes, k: int, what: str) -> None:
    if effects.k < k:
        raise DataError(f"{what} needs at least {k} studies; this analysis has {effects.k}.")


@dataclass(frozen=True)
class EggerResult:
    """Egger's regression test: the slope on the standard error, and the limit estimate
    (the intercept: the effect of a study with SE 0) with its CI (analysis scale)."""

    statistic: float
    pvalue: float
    df: int | None
    limit: float
    limit_ci_low: float
    limit_ci_high: float
    model: str
    k: int
    notes: tuple[str, ...] = ()

    def to_frame(self):
        """One row per statistic (the limit estimate on the analysis scale)."""
        return _frame(self, ("statistic", "pvalue", "df", "limit", "limit_ci_low",
                             "limit_ci_high", "k"))


def _frame(result, names: tuple[str, ...]):
    """A result's numbers as a (statistic, value) table."""
    import pandas as pd

    values = [getattr(result, n) for n in names]
    return pd.DataFrame({"statistic": list(names),
                         "value": [float("nan") if v is None else float(v) for v in values]})


def egger(effects: EffectSizes, *, model: str = "random", tau2_method: str = "REML",
          ci_method: str = "z", level: float = 0.95) -> EggerResult:
    """Egger's test, as metafor's ``regtest``.

    ``model="lm"`` is the classical weighted regression of y on its SE (t with k - 2 df);
    ``"random"`` (metafor's default) and ``"common"`` add the SE as a moderator to the
    fit with its own estimator and test.

    Examples
    --------
    >>> import metacore as mc
    >>> eg = egger(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> round(eg.statistic, 4)
    -0.8033
    """
    _need(effects, 3, "Egger's test")
    if model not in ("lm", "random", "common"):
        raise OptionError(f"model must be 'lm', 'random' or 'common', not '{model}'.")
    y, v = effects.yi, effects.vi
    X = np.column_stack([np.ones(y.size), np.sqrt(v)])
    k = y.size
    if np.ptp(X[:, 1]) == 0:
        raise DataError("Egger's test needs studies of different precision; every standard "
                        "error here is the same.")
    if model == "lm":
        # Weighted least squares with weights 1/v; residual variance estimated (lm).
        w = 1.0 / v
        Xw = X * w[:, None]
        inv = np.linalg.inv(X.T @ Xw)
        beta = inv @ (Xw.T @ y)
        r = y - X @ beta
        sigma2 = float(r @ (w * r)) / (k - 2)
        se = np.sqrt(np.diag(inv) * sigma2)
        df = k - 2
        stat = float(beta[1] / se[1])
        p = float(2 * special.stdtr(df, -abs(stat)))
        crit = float(special.stdtrit(df, 1 - (1 - level) / 2))
        return EggerResult(stat, p, df, float(beta[0]), float(beta[0] - crit * se[0]),
                           float(beta[0] + crit * se[0]), model, k, _few(k))
    fit = fit_mixed(X, y, v, tau2_method=tau2_method, ci_method=ci_method, level=level,
                    model=model)
    se = np.sqrt(np.diag(fit.vcov))
    stat = float(fit.beta[1] / se[1])
    p = float(2 * special.ndtr(-abs(stat))) if fit.df is None else \
        float(2 * special.stdtr(fit.df, -abs(stat)))
    return EggerResult(stat, p, fit.df, float(fit.beta[0]),
                       float(fit.beta[0] - fit.crit * se[0]),
                       float(fit.beta[0] + fit.crit * se[0]), model, k,
                       _few(k) + fit.notes)


@dataclass(frozen=True)
class BeggResult:
    """Begg and Mazumdar's rank correlation test (Kendall's tau)."""

    tau: float
    pvalue: float
    k: int
    exact: bool
    notes: tuple[str, ...] = ()

    def to_frame(self):
        """One row per statistic."""
        return _frame(self, ("tau", "pvalue", "k"))


def begg(effects: EffectSizes) -> BeggResult:
    """Begg's rank test, as metafor's ``ranktest``: Kendall's tau between standardised
    deviates from the common-effect estimate and the variances; exact p without ties.

    Examples
    --------
    >>> import metacore as mc
    >>> bg = begg(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> round(bg.tau, 4), round(bg.pvalue, 4)
    (0.0256, 0.9524)
    """
    from scipy import stats  # imported here: scipy.stats takes ~0.5 s to load

    _need(effects, 3, "Begg's test")
    y, v = effects.yi, effects.vi
    w = 1.0 / v
    theta = float(w @ y / w.sum())
    vstar = v - 1.0 / w.sum()
    ystar = (y - theta) / np.sqrt(vstar)
    ties = len(np.unique(ystar)) < y.size or len(np.unique(v)) < v.size
    # metafor's ranktest asks cor.test for the exact p-value at every k (exact = TRUE);
    # only ties force the normal approximation.
    exact = not ties
    res = stats.kendalltau(ystar, v, method="asymptotic")
    tau, pvalue = float(res.statistic), float(res.pvalue)
    if exact and np.isfinite(tau):
        pvalue = kendall_exact_p(tau, y.size)
    notes = list(_few(y.size))
    if ties:
        notes.append("Tied values: the p-value is the normal approximation.")
    return BeggResult(tau, pvalue, int(y.size), exact, tuple(notes))


def kendall_exact_p(tau: float, n: int) -> float:
    """Two-sided exact p-value of Kendall's tau without ties, as R's ``cor.test``.

    T, the number of concordant pairs, is distributed as a sum of independent uniforms on
    0..i-1 (i = 1..n); its distribution is built one study at a time by a running-sum
    convolution on the probability scale (O(n^3) operations, vectorised; R's count-based
    recursion overflows beyond n = 170). The far tail is read from the near one, since T is
    symmetric, so tiny p-values keep their precision.

    >>> round(kendall_exact_p(0.2090395480226, 60), 6)
    0.018142
    """
    pairs = n * (n - 1) // 2
    q = int(round((tau + 1) * n * (n - 1) / 4))
    if 2 * q > pairs:       # upper tail: P(T >= q) = P(T <= pairs - q)
        q = pairs - q
    dist = _inversions(n, q)
    return float(min(1.0, 2.0 * dist[: q + 1].sum()))


def _inversions(n: int, upto: int) -> np.ndarray:
    """P(T = 0..upto) for the number of inversions of a random permutation of n."""
    p = np.ones(1)
    cs = np.empty(upto + 2)
    for i in range(2, n + 1):
        size = p.size
        m = min(size + i - 1, upto + 1)
        cs[0] = 0.0
        np.cumsum(p, out=cs[1:size + 1])
        # P(T_i = j) = (P(T_{i-1} <= j) - P(T_{i-1} <= j - i)) / i, by slices
        new = np.empty(m)
        head = min(m, size)
        new[:head] = cs[1:head + 1]
        new[head:] = cs[size]
        if m > i - 1:
            new[i - 1:] -= cs[:m - i + 1]
        new /= i
        p = new
    return p


@dataclass(frozen=True, eq=False)
class TrimFillResult:
    """Trim-and-fill: the number of studies estimated missing on one side, the fit on the
    data with them filled in, and the filled studies (analysis scale)."""

    k0: int
    side: str
    result: PoolResult
    original: PoolResult
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    estimator: str
    se_k0: float
    p_k0: float = float("nan")
    notes: tuple[str, ...] = ()

    def to_frame(self):
        """The fit before and after filling, one row each (analysis scale), with k0."""
        import pandas as pd

        fits = {"original": self.original, "filled": self.result}
        return pd.DataFrame([{"fit": name, "k": r.k, "k0": 0 if name == "original" else self.k0,
                              "estimate": r.estimate, "se": r.se, "ci_low": r.ci_low,
                              "ci_high": r.ci_high, "pvalue": r.pvalue, "tau2": r.tau2}
                             for name, r in fits.items()])


def trimfill(effects: EffectSizes, *, estimator: str = "L0", side: str | None = None,
             model: str = "random", tau2_method: str = "REML", ci_method: str = "z",
             level: float = 0.95, maxiter: int = 100) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill, as metafor's ``trimfill``.

    The side is estimated from the sign of the slope on sqrt(v) in a meta-regression
    with the model's own estimator (negative: missing on the right); the trimmed data are
    refitted with that estimator at every step.

    Examples
    --------
    >>> import metacore as mc
    >>> tf = trimfill(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> tf.k0, tf.side
    (1, 'right')
    """
    _need(effects, 3, "Trim-and-fill")
    if estimator not in ("L0", "R0"):
        raise OptionError(f"estimator must be 'L0' or 'R0', not '{estimator}'.")
    y0, v0 = np.asarray(effects.yi, float), np.asarray(effects.vi, float)
    kw = {"model": model, "tau2_method": tau2_method, "ci_method": ci_method, "level": level}
    original = pool(effects, **kw)
    if side is None:
        X = np.column_stack([np.ones(y0.size), np.sqrt(v0)])
        slope = fit_mixed(X, y0, v0, tau2_method=tau2_method, model=model).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise OptionError(f"side must be 'left' or 'right', not '{side}'.")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y, v = sign * y0[order], v0[order]
    k = y.size

    def centre(n: int) -> float:
        sub = effects.subset(order[:n])
        return sign * pool(sub, **kw).estimate

    k0, previous, it = 0, -1, 0
    beta = 0.0
    se_k0 = 0.0
    while k0 != previous:
        previous = k0
        it += 1
        if it > maxiter:
            raise DataError("Trim-and-fill did not converge.")
        beta = centre(k - k0)
        c = y - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(c), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(c) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            k0f = (k - (neg.max() if neg.size else 0)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        else:
            sr = float(signed[signed > 0].sum())
            k0f = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                      - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
            se_k0 = 4 * math.sqrt(max(var_sr, 0.0)) / (2 * k - 1)
        k0 = min(max(0, round(k0f)), k - 1)   # R's round(): halves to even, as Python's
    notes = list(_few(k))
    if k0 > 0:
        filled_y = sign * (2 * beta - y[k - k0:])
        filled_v = v[k - k0:]
        all_eff = EffectSizes(yi=np.concatenate([y0, filled_y]),
                              vi=np.concatenate([v0, filled_v]),
                              study=effects.study + tuple(f"Filled {i + 1}" for i in range(k0)),
                              measure=effects.measure, ratio=effects.ratio)
        result = pool(all_eff, **kw)
    else:
        filled_y, filled_v, result = np.zeros(0), np.zeros(0), original
    p_k0 = float("nan")
    if estimator == "R0":
        m = np.arange(-1, k0)
        p_k0 = float(1 - np.sum(special.comb(m + 1, m + 1) * 0.5 ** (m + 2)))
    return TrimFillResult(k0=int(k0), side=side, result=result, original=original,
                          filled_yi=filled_y, filled_vi=filled_v, estimator=estimator,
                          se_k0=float(se_k0), p_k0=p_k0, notes=tuple(notes))


@dataclass(frozen=True)
class FailSafeResult:
    """Fail-safe N: how many null studies would overturn the conclusion."""

    n: float
    method: str
    alpha: float
    pvalue: float
    target: float = float("nan")
    mean_effect: float = float("nan")
    notes: tuple[str, ...] = ()

    def to_frame(self):
        """One row per statistic (``method`` in the frame's attrs)."""
        frame = _frame(self, ("n", "alpha", "pvalue", "target", "mean_effect"))
        frame.attrs["method"] = self.method
        return frame


def failsafe(effects: EffectSizes, *, method: str = "rosenthal", alpha: float = 0.05,
             target: float | None = None) -> FailSafeResult:
    """Fail-safe N, as metafor's ``fsn``: Rosenthal's (Stouffer, one-sided ``alpha``),
    Orwin's (unweighted mean brought down to ``target``, default half of it) or
    Rosenberg's (weighted, two-sided ``alpha``).

    Examples
    --------
    >>> import metacore as mc
    >>> int(failsafe(mc.compute_effects(mc.datasets.load("bcg"), "RR")).n)
    598
    """
    method = method.lower()
    y, v = effects.yi, effects.vi
    k = y.size
    _need(effects, 1, "Fail-safe N")
    notes = ["Fail-safe N ignores heterogeneity and small-study effects; read it as a rough "
             "gauge, not a test."]
    if method == "rosenthal":
        z = y / np.sqrt(v)
        z_avg = abs(z.sum() / math.sqrt(k))
        p = float(special.ndtr(-z_avg))
        n = max(0.0, k * (z_avg / special.ndtri(1 - alpha)) ** 2 - k)
        out = FailSafeResult(_round_up(n), "rosenthal", alpha, p, notes=tuple(notes))
    elif method == "orwin":
        mean = float(y.mean())
        tgt = mean / 2 if target is None else float(target)
        if tgt == 0:
            n = math.inf
        else:
            if np.sign(tgt) != np.sign(mean):
                tgt = -tgt
            n = max(0.0, k * (mean - tgt) / tgt)
        out = FailSafeResult(_round_up(n), "orwin", alpha, float("nan"), tgt, mean,
                             tuple(notes))
    elif method == "rosenberg":
        w = 1.0 / v
        mean = float(w @ y / w.sum())
        zval = mean / math.sqrt(1.0 / w.sum())
        wp = (float(w @ y) / special.ndtri(1 - alpha / 2)) ** 2 - float(w.sum())
        p = float(2 * special.ndtr(-abs(zval)))
        out = FailSafeResult(_round_up(max(0.0, k * wp / w.sum())), "rosenberg", alpha, p,
                             mean_effect=mean, notes=tuple(notes))
    else:
        raise OptionError(f"method must be 'rosenthal', 'orwin' or 'rosenberg', not "
                          f"'{method}'.")
    return out


def _round_up(n: float) -> float:
    """metafor's rounding: up, unless within 1e-8 of a whole number."""
    if math.isinf(n):
        return n
    return float(round(n)) if abs(n - round(n)) < 1.5e-8 else float(math.ceil(n))
