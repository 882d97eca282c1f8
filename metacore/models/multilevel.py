"""Multilevel (nested random-effects) meta-analysis: metafor's ``rma.mv``.

y = X beta + u_1 + ... + u_L + e, one random intercept per level of a nesting
(``random = ~ 1 | outer/inner``): u_l ~ N(0, sigma2_l) shared by the rows of one group
of level l, where a group of an inner level is a combination of the values of that level
and every level above it. e ~ N(0, V) with V diagonal (the sampling variances) or, given
a correlation rho, metafor's ``vcalc(vi, cluster, obs, rho)``: rho sqrt(v_i v_j) between
different rows of one cluster (the "correlated and hierarchical effects" model).

The marginal covariance is block-diagonal by the outermost level, so every quantity is a
sum over blocks; blocks of one size are stacked and handled by one batched numpy call,
which is what makes the fit fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes, measure_name
from metacore.models.metareg import design_matrix
from metacore.models.tau2 import Interval
from metacore.numbers import format_number, format_p

__all__ = ["MULTILEVEL_METHODS", "MULTILEVEL_CI", "MultilevelResult", "multilevel",
           "rho_sensitivity"]

MULTILEVEL_METHODS = ("REML", "ML")
MULTILEVEL_CI = ("z", "t")
_LOG2PI = math.log(2 * math.pi)
# metafor treats a variance component below 10 machine epsilons as exactly zero.
_ZERO = 10 * np.finfo(float).eps


# --- the structure of one fit ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Block:
    """The outer clusters of up to n rows, stacked (m clusters, padded to n rows)."""

    rows: np.ndarray      # (m, n) row indices into the analysed rows (-1: padding)
    y: np.ndarray         # (m, n)
    X: np.ndarray         # (m, n, p)
    V: np.ndarray         # (m, n, n) sampling (co)variances
    D: np.ndarray         # (L, m, n, n) 1 where two rows share a group of level l
    mask: np.ndarray      # (m, n) False for the padding rows of a smaller cluster


@dataclass(frozen=True, eq=False)
class _Eval:
    """The (restricted) log-likelihood at one sigma2 with what its derivatives need."""

    ll: float
    grad: np.ndarray
    hess: np.ndarray      # observed Hessian
    info: np.ndarray      # expected information
    beta: np.ndarray
    vcov: np.ndarray      # (X' M^-1 X)^-1


@dataclass(frozen=True, eq=False)
class Structure:
    """Everything a multilevel fit needs to be recomputed (used by :func:`metacore.robust`)."""

    y: np.ndarray
    X: np.ndarray
    vi: np.ndarray
    groups: np.ndarray    # (k, L) integer group codes, outermost level first
    blocks: tuple[_Block, ...]
    names: tuple[str, ...]
    reml: bool

    @property
    def k(self) -> int:
        return int(self.y.size)

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_levels(self) -> int:
        return int(self.groups.shape[1])

    def evaluate(self, s2: np.ndarray, *, derivatives: bool = True) -> _Eval:
        """Log-likelihood as metafor's ``logLik`` (same constant), gradient, Hessian."""
        k, p, L = self.k, self.p, self.n_levels
        logdet = 0.0
        xwx = np.zeros((p, p))
        xwy = np.zeros(p)
        cache = []
        for b in self.blocks:
            M = b.V + np.einsum("l,lmij->mij", s2, b.D)
            chol = np.linalg.cholesky(M)
            logdet += 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
            W = np.linalg.inv(M)
            WX = W @ b.X
            Wy = np.einsum("mij,mj->mi", W, b.y)
            xwx += np.einsum("mip,miq->pq", b.X, WX)
            xwy += np.einsum("mip,mi->p", b.X, Wy)
            cache.append((W, WX))
        A = np.linalg.inv(xwx)
        beta = A @ xwy
        rss = 0.0
        for b, (W, _WX) in zip(self.blocks, cache, strict=True):
            r = b.y - b.X @ beta
            rss += float(np.einsum("mi,mij,mj->", r, W, r))
        if self.reml:
            ll = (-0.5 * (k - p) * _LOG2PI + 0.5 * np.linalg.slogdet(self.X.T @ self.X)[1]
                  - 0.5 * logdet - 0.5 * np.linalg.slogdet(xwx)[1] - 0.5 * rss)
        else:
            ll = -0.5 * k * _LOG2PI - 0.5 * logdet - 0.5 * rss
        if not derivatives:
            z = np.zeros(L)
            return _Eval(float(ll), z, np.zeros((L, L)), np.zeros((L, L)), beta, A)
        # d ll / d s2_l = -1/2 tr(P D_l) + 1/2 y'P D_l P y  (P = W for ML)
        tr_wd = np.zeros(L)
        t_lm = np.zeros((L, L))
        B_l = np.zeros((L, p, p))
        B_lm = np.zeros((L, L, p, p))
        uWu = np.zeros((L, L))
        xwu = np.zeros((L, p))
        quad = np.zeros(L)
        for b, (W, WX) in zip(self.blocks, cache, strict=True):
            r = b.y - b.X @ beta
            Wr = np.einsum("mij,mj->mi", W, r)
            WD = np.einsum("mij,lmjk->lmik", W, b.D)           # W D_l
            tr_wd += np.einsum("lmii->l", WD)
            t_lm += np.einsum("lmij,nmji->ln", WD, WD)
            DWX = np.einsum("lmij,mjp->lmip", b.D, WX)          # D_l W X
            B_l += np.einsum("mip,lmiq->lpq", WX, DWX)
            WDWX = np.einsum("lmij,lmjp->lmip", np.broadcast_to(W, WD.shape), DWX)
            B_lm += np.einsum("lmip,nmiq->lnpq", DWX, WDWX)
            u = np.einsum("lmij,mj->lmi", b.D, Wr)              # D_l P y
            Wu = np.einsum("mij,lmj->lmi", W, u)
            quad += np.einsum("lmi,mi->l", u, Wr)
            uWu += np.einsum("lmi,nmi->ln", u, Wu)
            xwu += np.einsum("mip,lmi->lp", WX, u)
        if self.reml:
            AB = np.einsum("pq,lqr->lpr", A, B_l)
            tr_p = tr_wd - np.einsum("lpp->l", AB)
            tpdpd = (t_lm - 2.0 * np.einsum("pq,lnqp->ln", A, B_lm)
                     + np.einsum("lpq,nqp->ln", AB, AB))
            upu = uWu - xwu @ A @ xwu.T
        else:
            tr_p, tpdpd, upu = tr_wd, t_lm, uWu
        grad = -0.5 * tr_p + 0.5 * quad
        info = 0.5 * tpdpd
        hess = info - upu
        return _Eval(float(ll), grad, hess, info, beta, A)

    def marginal_blocks(self, s2: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(row indices, M = V + sum s2_l D_l) for every outer cluster."""
        out = []
        for b in self.blocks:
            M = b.V + np.einsum("l,lmij->mij", s2, b.D)
            for i in range(b.rows.shape[0]):
                keep = b.mask[i]
                out.append((b.rows[i][keep], M[i][np.ix_(keep, keep)]))
        return out


def build_structure(y: np.ndarray, X: np.ndarray, vi: np.ndarray, groups: np.ndarray,
                    rho: float | None = None, rho_cluster: np.ndarray | None = None,
                    names: Sequence[str] = (), reml: bool = True) -> Structure:
    """Stack the outer clusters in blocks of 1, 2, 4, 8 ... rows (one batched block each).

    A cluster is padded up to its block's size with rows that change nothing: y = 0,
    X = 0, variance 1 and no random effect, so they add 0 to every sum and log 1 = 0 to
    the log-determinant. Few blocks means few numpy calls per likelihood evaluation.
    """
    outer = groups[:, 0]
    order = np.argsort(outer, kind="stable")
    bounds = np.flatnonzero(np.diff(outer[order])) + 1
    members = np.split(order, bounds)
    by_size: dict[int, list[np.ndarray]] = {}
    for idx in members:
        by_size.setdefault(1 << (idx.size - 1).bit_length(), []).append(idx)
    blocks = []
    L = groups.shape[1]
    sd = np.sqrt(vi)
    for n, lst in sorted(by_size.items()):
        m = len(lst)
        rows = np.full((m, n), -1)
        for i, idx in enumerate(lst):
            rows[i, : idx.size] = idx
        mask = rows >= 0
        both = mask[:, :, None] & mask[:, None, :]
        safe = np.where(mask, rows, 0)
        V = np.zeros((m, n, n))
        V[:, np.arange(n), np.arange(n)] = np.where(mask, vi[safe], 1.0)
        if rho is not None and rho != 0:
            c = rho_cluster[safe]
            same = (c[:, :, None] == c[:, None, :]) & ~np.eye(n, dtype=bool) & both
            V = V + rho * same * sd[safe][:, :, None] * sd[safe][:, None, :]
        g = groups[safe]                                          # (m, n, L)
        D = np.stack([((g[:, :, None, lev] == g[:, None, :, lev]) & both).astype(float)
                      for lev in range(L)])
        if rho is not None and rho < 0 and np.any(np.linalg.eigvalsh(V)[:, 0] <= 0):
            raise DataError(f"With ρ = {rho:g} the sampling errors of a cluster of "
                            f"{int(mask.sum(axis=1).max())} rows cannot all be correlated that "
                            "way (the covariance matrix is not positive definite); use a ρ "
                            "nearer 0.")
        blocks.append(_Block(rows=rows, y=np.where(mask, y[safe], 0.0),
                             X=X[safe] * mask[:, :, None], V=V, D=D, mask=mask))
    return Structure(y=y, X=X, vi=vi, groups=groups, blocks=tuple(blocks),
                     names=tuple(names), reml=reml)


# --- maximising the (restricted) likelihood ------------------------------------------------

def _maximise(st: Structure, start: np.ndarray, fixed: np.ndarray | None = None,
              max_iter: int = 200) -> tuple[np.ndarray, _Eval, bool]:
    """Newton's method on sigma2 >= 0 (Fisher scoring where the Hessian is not negative
    definite), with step halving and an active set for components held at zero."""
    L = start.size
    fixed = np.zeros(L, bool) if fixed is None else fixed
    s = np.maximum(start.astype(float), 0.0)
    # a component near 0 has converged once its steps are tiny against the sampling variances
    scale = 1e-3 * float(np.mean(st.vi))
    ev = st.evaluate(s)
    for _ in range(max_iter):
        free = ~fixed & ~((s <= 0) & (ev.grad <= 0))
        if not free.any():
            return s, ev, True
        g = ev.grad[free]
        H = ev.hess[np.ix_(free, free)]
        try:
            if np.all(np.linalg.eigvalsh(H) < 0):
                d = -np.linalg.solve(H, g)
            else:
                d = np.linalg.solve(ev.info[np.ix_(free, free)], g)
        except np.linalg.LinAlgError:
            d = g
        step = np.zeros(L)
        step[free] = d
        t = 1.0
        while True:
            cand = np.maximum(s + t * step, 0.0)
            cand[cand < _ZERO] = 0.0
            ev2 = st.evaluate(cand)
            if ev2.ll >= ev.ll - 1e-13 * abs(ev.ll) or t < 1e-12:
                break
            t /= 2
        change = np.abs(cand - s)
        s, ev = cand, ev2
        if np.all(change <= 1e-11 * np.maximum(s, scale)):
            return s, ev, True
    return s, ev, False


def _starts(st: Structure, fixed_values: np.ndarray | None) -> list[np.ndarray]:
    """Starting points: the total spread split evenly, put on one level, and scaled."""
    L = st.n_levels
    spread = float(np.var(st.y)) if st.k > 1 else 1.0
    total = max(spread - float(np.mean(st.vi)), 0.1 * spread, 1e-4)
    starts = [np.full(L, total / L), np.full(L, total / L) * 0.01, np.full(L, total / L) * 10]
    for lev in range(L):
        s = np.full(L, total * 0.01 / L)
        s[lev] = total
        starts.append(s)
    if fixed_values is not None:
        mask = ~np.isnan(fixed_values)
        for s in starts:
            s[mask] = fixed_values[mask]
    return starts


def fit_sigma2(st: Structure, fixed_values: np.ndarray | None = None,
               warm: np.ndarray | None = None) -> tuple[np.ndarray, _Eval, bool, str]:
    """Global maximum over sigma2 >= 0 (components given in ``fixed_values`` held there)
    from several starting points; the highest of the maxima found is returned."""
    fixed = (np.zeros(st.n_levels, bool) if fixed_values is None
             else ~np.isnan(fixed_values))
    starts = _starts(st, fixed_values)
    if warm is not None:
        starts.insert(0, warm.copy())
    found = []
    for s0 in starts:
        s, ev, ok = _maximise(st, s0, fixed)
        found.append((ev.ll, s, ev, ok))
    found.sort(key=lambda f: -f[0])
    best_ll, best_s, best_ev, ok = found[0]
    note = ""
    distinct = [f for f in found if np.max(np.abs(f[1] - best_s)) > 1e-6 * max(1.0, best_s.max())
                and f[3] and best_ll - f[0] > 1e-6]
    if distinct and fixed_values is None:
        other = distinct[0][1]
        note = ("The likelihood has more than one maximum (another at σ² = "
                + ", ".join(format_number(x) for x in other) + "); the highest is used.")
    return best_s, best_ev, ok, note


def _profile_ci(st: Structure, s2: np.ndarray, ll_max: float, level: float
                ) -> tuple[list[Interval], list[str]]:
    """Profile-likelihood interval of each component, as metafor's ``confint``: the
    values where -2 (profile ll - ll_max) reaches the chi-square(1) quantile, searched
    in [0, max(10, 100 sigma2)]."""
    crit = float(special.chdtri(1, 1 - level))
    out, notes = [], []
    L = st.n_levels
    for lev in range(L):
        warm = s2.copy()

        def f(v, lev=lev):
            fixed = np.full(L, np.nan)
            fixed[lev] = v
            if L == 1:
                ll = st.evaluate(np.array([v]), derivatives=False).ll
            else:
                nonlocal warm
                w0 = warm.copy()
                w0[lev] = v
                s, ev, _ = _maximise(st, w0, ~np.isnan(fixed))
                warm = s
                ll = ev.ll
            return -2.0 * (ll - ll_max) - crit

        est = float(s2[lev])
        vmax = 10.0 if est <= math.sqrt(np.finfo(float).eps) else max(10.0, 100 * est)
        if f(0.0) < 0:
            lo = 0.0
        else:
            warm = s2.copy()
            lo = float(optimize.brentq(f, 0.0, est, xtol=1e-14, rtol=1e-12, maxiter=500))
        warm = s2.copy()
        if f(vmax) < 0:
            hi = vmax
            notes.append(f"The upper bound of the interval for σ² of level {lev + 1} lies "
                         f"beyond the search limit {format_number(vmax)} (metafor: '>').")
        else:
            warm = s2.copy()
            hi = float(optimize.brentq(f, est, vmax, xtol=1e-14, rtol=1e-12, maxiter=500))
        out.append(Interval(lo, hi))
    return out, notes


# --- the result ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """A multilevel meta-analysis, as metafor's ``rma.mv`` reports it.

    ``sigma2``, ``sigma2_ci``, ``i2``, ``lrt`` and ``lrt_pvalue`` have one entry per
    level, outermost first. ``estimate`` (with its SE, CI, p and prediction interval) is
    the pooled effect, or the intercept when moderators are given (then ``coef`` holds
    every coefficient). ``loglik`` is the log-likelihood (restricted under REML) with
    metafor's constant; ``i2`` is Cheung's multilevel I² in percent and ``i2_total``
    their sum; ``lrt`` is the likelihood-ratio statistic against the model with that
    component fixed at 0 (metafor's ``anova(res, res0)``, chi-square with 1 df).
    ``kept`` marks the rows of the effect sizes that the fit used.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    pi_low: float
    pi_high: float
    sigma2: tuple[float, ...]
    sigma2_ci: tuple[Interval, ...]
    loglik: float
    k: int
    i2: tuple[float, ...]
    i2_total: float
    lrt: tuple[float, ...]
    lrt_pvalue: tuple[float, ...]
    levels: tuple[str, ...]
    n_groups: tuple[int, ...]
    tau2_method: str
    ci_method: str
    level: float
    measure: str
    coef: pd.DataFrame | None = None
    df: int | None = None
    qm: float = float("nan")
    qm_df: int = 0
    qm_pvalue: float = float("nan")
    rho: float | None = None
    typical_variance: float = float("nan")
    converged: bool = True
    ratio: bool = False
    label: str = ""
    study: tuple[str, ...] = ()
    yi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    structure: Structure | None = None
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    vcov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Long name of the measure."""
        return measure_name(self.measure, self.label)

    @property
    def statistic(self) -> float:
        """z (or t) statistic of the estimate."""
        return self.estimate / self.se if self.se > 0 else float("nan")

    def transform(self, x):
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def natural(self) -> dict[str, float]:
        """Estimate and intervals on the natural scale (ratios exponentiated)."""
        t = self.transform
        return {key: float(t(getattr(self, key)))
                for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}

    @property
    def settings(self) -> str:
        """The settings in force, in words."""
        nest = " / ".join(self.levels)
        ci = "Wald z" if self.ci_method == "z" else f"t ({self.df} df)"
        rho = "" if self.rho is None else f"; within-cluster correlation ρ = {self.rho:g}"
        return (f"Multilevel random effects ({nest}); σ²: {self.tau2_method}; CI: {ci}; "
                f"level {self.level:.0%}{rho}")

    def summary(self, digits: int = 3) -> str:
        """A short report in words, like metafor's ``print``."""
        f = f"{{:.{digits}f}}"
        nat = self.natural()
        what = "Intercept" if self.coef is not None else self.name
        lines = [f"{self.settings} (k = {self.k})",
                 f"{what}: {f.format(nat['estimate'])} [{f.format(nat['ci_low'])}, "
                 f"{f.format(nat['ci_high'])}], p = {format_p(self.pvalue)}"]
        if self.coef is None:
            lines.append(f"Prediction interval: [{f.format(nat['pi_low'])}, "
                         f"{f.format(nat['pi_high'])}]")
        for name, n, s2, ci, i2, lrt, p in zip(self.levels, self.n_groups, self.sigma2,
                                                self.sigma2_ci, self.i2, self.lrt,
                                                self.lrt_pvalue, strict=True):
            lines.append(f"σ² {name} ({n} groups) = {format_number(s2, 4)} "
                         f"[{format_number(ci.low, 4)}, {format_number(ci.high, 4)}], "
                         f"I² = {i2:.1f}%, LRT = {lrt:.2f}, p = {format_p(p)}")
        lines.append(f"log-likelihood ({self.tau2_method}) = {self.loglik:.4f}; "
                     f"total I² = {self.i2_total:.1f}%")
        if self.coef is not None:
            test = (f"QM({self.qm_df}) = {self.qm:.2f}" if self.df is None else
                    f"F({self.qm_df}, {self.df}) = {self.qm:.2f}")
            lines.append(f"Test of moderators: {test}, p = {format_p(self.qm_pvalue)}")
        return "\n".join(lines + list(self.notes))

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic: name and value (variance components by level)."""
        rows = [("estimate", self.estimate), ("se", self.se), ("ci_low", self.ci_low),
                ("ci_high", self.ci_high), ("pvalue", self.pvalue), ("pi_low", self.pi_low),
                ("pi_high", self.pi_high)]
        for name, s2, ci, i2, lrt, p in zip(self.levels, self.sigma2, self.sigma2_ci,
                                            self.i2, self.lrt, self.lrt_pvalue, strict=True):
            rows += [(f"sigma2[{name}]", s2), (f"sigma2_ci_low[{name}]", ci.low),
                     (f"sigma2_ci_high[{name}]", ci.high), (f"i2[{name}]", i2),
                     (f"lrt[{name}]", lrt), (f"lrt_pvalue[{name}]", p)]
        rows += [("i2_total", self.i2_total), ("loglik", self.loglik), ("k", float(self.k))]
        return pd.DataFrame(rows, columns=["statistic", "value"])

    @property
    def icc(self) -> float:
        """Share of the between-row (true-effect) variance that lies between groups of the
        outermost level: the correlation of two true effects of one outer group."""
        total = sum(self.sigma2)
        return self.sigma2[0] / total if total > 0 else float("nan")

    def variance_split(self) -> pd.DataFrame:
        """The total variance split into the typical sampling variance and each level
        (for a teaching bar), with each part's share in percent."""
        parts = [("sampling (within study)", self.typical_variance)]
        parts += [(name, s2) for name, s2 in zip(self.levels, self.sigma2, strict=True)]
        total = sum(v for _, v in parts)
        return pd.DataFrame({"component": [p[0] for p in parts],
                             "variance": [p[1] for p in parts],
                             "percent": [100 * p[1] / total for p in parts]})


# --- the public functions ------------------------------------------------------------------

def _check(levels, tau2_method: str, ci_method: str, level: float, rho) -> list[str]:
    levels = [levels] if isinstance(levels, str) else list(levels)
    if not levels:
        raise OptionError("Name at least one level (the column that says which study or "
                          "cluster each row belongs to).")
    if len(set(levels)) < len(levels):
        raise OptionError("A level is named twice: " + ", ".join(levels) + ".")
    if tau2_method not in MULTILEVEL_METHODS:
        raise OptionError(f"The multilevel model is fitted by 'REML' or 'ML', not "
                          f"'{tau2_method}'.")
    if ci_method not in MULTILEVEL_CI:
        raise OptionError(f"ci_method must be 'z' or 't', not '{ci_method}'.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"The confidence level must be between 0 and 1 (e.g. 0.95), not "
                          f"{level}.")
    if rho is not None and not (isinstance(rho, (int, float)) and -1 < rho < 1):
        raise OptionError(f"The within-study correlation ρ must be between -1 and 1 "
                          f"(e.g. 0.6), not {rho}.")
    return levels


def _codes(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """Integer code of each row's combination of the values of ``cols`` (outer/inner)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for c in cols:
        own = pd.factorize(frame[c].astype(str))[0]
        codes = pd.factorize(codes * (int(own.max()) + 1) + own)[0]
    return codes


def multilevel(effects: EffectSizes, levels: Sequence[str] | str, *,
               tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
               mods: Sequence[str] | str | None = None, rho: float | None = None,
               rho_cluster: str | None = None, profile: bool = True) -> MultilevelResult:
    """Multilevel meta-analysis with nested random effects (metafor's ``rma.mv``).

    The model is ``rma.mv(yi, V, mods, random = ~ 1 | outer/inner/...)``. The variance
    components are the global maximum of the (restricted) likelihood: Newton's method
    (Fisher scoring where the Hessian is not negative definite) on sigma2 >= 0 from
    several starting points (the spread split evenly over the levels, scaled by 1/100
    and 10, and all of it on each level in turn); the highest maximum is kept and a
    note names any other.

    Parameters
    ----------
    effects
        Effect sizes; the columns named in ``levels`` (and ``mods``) come from
        ``effects.data`` (the extra columns of the study table).
    levels
        Columns that say which group each row belongs to, outermost first (e.g.
        ``["district", "school"]`` or ``["study", "effect"]``). An inner group is a
        combination with every level above it, as ``outer/inner`` in R. The usual
        three-level model of several effects per study is ``[study, "row"]`` (``row``,
        the input row number, is a column of ``effects.data``).
    tau2_method
        ``"REML"`` or ``"ML"``.
    ci_method
        ``"z"`` or ``"t"`` (metafor's ``test = "t"``: t with k - p df, no rescaling).
    level
        Confidence level of every interval.
    mods
        Moderators, as for :func:`metacore.metareg`.
    rho
        Assumed correlation between the sampling errors of different rows of one
        cluster (metafor's ``vcalc(vi, cluster, obs, rho)``); ``None`` for independent
        rows.
    rho_cluster
        The column whose groups share correlated sampling errors; the outermost level
        by default. Its groups must lie within one group of the outermost level.
    profile
        Compute the profile-likelihood intervals of the variance components and the
        likelihood-ratio tests (several refits); ``False`` leaves them NaN.

    Returns
    -------
    MultilevelResult

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    >>> ml = multilevel(eff, ["district", "school"])
    >>> round(ml.estimate, 4), [round(s, 4) for s in ml.sigma2]
    (0.1847, [0.0651, 0.0327])
    """
    levels = _check(levels, tau2_method, ci_method, level, rho)
    mods = [] if mods is None else ([mods] if isinstance(mods, str) else list(mods))
    data = effects.data.reset_index(drop=True)
    k_all = effects.k
    if k_all == 0:
        raise DataError("No row has a usable estimate, so nothing can be pooled.")
    missing = [c for c in levels + ([rho_cluster] if rho_cluster else []) if c not in data]
    if missing:
        raise DataError("No column named " + ", ".join(f"'{c}'" for c in missing)
                        + " in the study table, so it cannot define the nesting.")
    keep = np.ones(k_all, bool)
    notes: list[str] = []
    for c in levels + ([rho_cluster] if rho_cluster else []):
        col = data[c]
        keep &= ~(col.isna().to_numpy() | col.astype(str).str.strip().eq("").to_numpy())
    if not keep.all():
        gone = [effects.study[i] for i in np.flatnonzero(~keep)]
        notes.append(f"{len(gone)} row{'s have' if len(gone) > 1 else ' has'} no value for a "
                     "level and " + ("are" if len(gone) > 1 else "is") + " left out: "
                     + ", ".join(gone[:8]) + (" …" if len(gone) > 8 else "") + ".")
    if mods:
        first = design_matrix(data, mods, study=effects.study)   # names rows left out
        keep &= first.keep
        notes.extend(first.notes)
        des = design_matrix(data.loc[keep].reset_index(drop=True), mods)
        X = des.X
        names = des.names
    else:
        X = np.ones((int(keep.sum()), 1))
        names = ("intrcpt",)
    sub = data.loc[keep].reset_index(drop=True)
    y = np.asarray(effects.yi, float)[keep]
    vi = np.asarray(effects.vi, float)[keep]
    study = tuple(s for s, kk in zip(effects.study, keep, strict=True) if kk)
    k, p = X.shape
    if k == 0:
        raise DataError("No row has a value for every level (" + ", ".join(levels) + "); "
                        "name the columns that hold the nesting.")
    if k <= p:
        raise DataError(f"The model has {p} coefficient(s) but only {k} usable row(s); it "
                        "needs more rows than coefficients.")
    if np.linalg.matrix_rank(X) < p:
        raise DataError("The moderators are collinear among the rows analysed; drop one of "
                        "them.")
    groups = np.column_stack([_codes(sub, levels[: i + 1]) for i in range(len(levels))])
    n_groups = tuple(int(groups[:, i].max()) + 1 for i in range(len(levels)))
    if n_groups[0] < 2:
        raise DataError(f"The outermost level '{levels[0]}' has one group only, so its "
                        "variance cannot be estimated; name a level with several groups.")
    for i in range(1, len(levels)):
        if n_groups[i] == n_groups[i - 1]:
            notes.append(f"Each group of '{levels[i - 1]}' holds one group of '{levels[i]}' "
                         "only, so the two variances cannot be told apart (their sum is "
                         "what the data determine).")
    rc = None
    if rho is not None:
        rc = _codes(sub, [rho_cluster or levels[0]])
        inner = pd.DataFrame({"rc": rc, "outer": groups[:, 0]}).groupby("rc")["outer"]
        if (inner.nunique() > 1).any():
            raise DataError(f"The groups of '{rho_cluster}' (with correlated sampling errors) "
                            f"must each lie within one group of '{levels[0]}'.")
    st = build_structure(y, X, vi, groups, rho=rho, rho_cluster=rc, names=names,
                         reml=tau2_method == "REML")
    s2, ev, converged, note = fit_sigma2(st)
    if note:
        notes.append(note)
    if not converged:
        notes.append("The variance components did not converge within 200 Newton steps; the "
                     "best values found are reported.")
    L = len(levels)
    beta, vcov = ev.beta, ev.vcov
    se = np.sqrt(np.diag(vcov))
    alpha = 1 - level
    if ci_method == "t":
        df: int | None = k - p
        crit = float(special.stdtrit(df, 1 - alpha / 2))
        pv = 2 * special.stdtr(df, -np.abs(beta / se))
    else:
        df = None
        crit = float(special.ndtri(1 - alpha / 2))
        pv = 2 * special.ndtr(-np.abs(beta / se))
    # Cheung's I^2: the typical within variance (k - p) / tr(P), P from V alone.
    tr_p = 0.0
    xwx0 = np.zeros((p, p))
    wwx = np.zeros((p, p))
    for b in st.blocks:
        W0 = np.linalg.inv(b.V)
        WX0 = W0 @ b.X
        tr_p += float(np.einsum("mii,mi->", W0, b.mask))   # padding rows excluded
        xwx0 += np.einsum("mip,miq->pq", b.X, WX0)
        wwx += np.einsum("mip,miq->pq", WX0, WX0)
    tr_p -= float(np.trace(np.linalg.solve(xwx0, wwx)))
    typical = (k - p) / tr_p
    total = float(s2.sum())
    i2 = tuple(float(100 * s / (total + typical)) for s in s2)
    ci_list: list[Interval] = [Interval(float("nan"), float("nan"))] * L
    lrt = [float("nan")] * L
    lrt_p = [float("nan")] * L
    if profile:
        ci_list, ci_notes = _profile_ci(st, s2, ev.ll, level)
        notes.extend(ci_notes)
        for lev in range(L):
            fixed = np.full(L, np.nan)
            fixed[lev] = 0.0
            if L == 1:
                ll0 = st.evaluate(np.zeros(1), derivatives=False).ll
            else:
                ll0 = fit_sigma2(st, fixed)[1].ll
            lrt[lev] = max(0.0, 2 * (ev.ll - ll0))
            lrt_p[lev] = float(special.chdtrc(1, lrt[lev]))
    coef = None
    qm, qm_df, qm_p = float("nan"), 0, float("nan")
    if mods:
        coef = pd.DataFrame({"estimate": beta, "se": se, "statistic": beta / se, "pvalue": pv,
                             "ci_low": beta - crit * se, "ci_high": beta + crit * se},
                            index=list(names))
        qm_df = p - 1
        b1 = beta[1:]
        qm = float(b1 @ np.linalg.solve(vcov[1:, 1:], b1))
        if df is None:
            qm_p = float(special.chdtrc(qm_df, qm))
        else:
            qm /= qm_df
            qm_p = float(special.fdtrc(qm_df, df, qm))
        pi_low = pi_high = float("nan")
    else:
        pi_se = math.sqrt(se[0] ** 2 + total)
        pi_low, pi_high = beta[0] - crit * pi_se, beta[0] + crit * pi_se
    return MultilevelResult(
        estimate=float(beta[0]), se=float(se[0]), ci_low=float(beta[0] - crit * se[0]),
        ci_high=float(beta[0] + crit * se[0]), pvalue=float(pv[0]), pi_low=float(pi_low),
        pi_high=float(pi_high), sigma2=tuple(float(s) for s in s2), sigma2_ci=tuple(ci_list),
        loglik=float(ev.ll), k=k, i2=i2, i2_total=float(100 * total / (total + typical)),
        lrt=tuple(lrt), lrt_pvalue=tuple(lrt_p), levels=tuple(levels), n_groups=n_groups,
        tau2_method=tau2_method, ci_method=ci_method, level=float(level),
        measure=effects.measure, coef=coef, df=df, qm=qm, qm_df=qm_df, qm_pvalue=qm_p,
        rho=None if rho is None else float(rho), typical_variance=float(typical),
        converged=converged, ratio=effects.ratio, label=effects.label, study=study, yi=y,
        vi=vi, data=sub, structure=st, kept=keep, vcov=vcov, notes=tuple(notes))


def rho_sensitivity(effects: EffectSizes, levels: Sequence[str] | str, *,
                    rhos: Sequence[float] = tuple(np.round(np.arange(0, 1, 0.1), 1)),
                    tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                    rho_cluster: str | None = None) -> pd.DataFrame:
    """The pooled estimate and its interval over assumed within-cluster correlations.

    One :func:`multilevel` fit per ρ (0, 0.1, ..., 0.9 by default), without the
    profile intervals. Columns: ``rho estimate se ci_low ci_high pvalue`` and one
    ``sigma2[level]`` column per level.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    >>> # R, per rho: V <- vcalc(vi, cluster = district, obs = school, rho = rho, data = dat)
    >>> #             rma.mv(yi, V, random = ~ 1 | district/school, data = dat)
    >>> tab = rho_sensitivity(eff, ["district", "school"], rhos=[0, 0.5])
    >>> tab["rho"].tolist(), bool(tab["se"].is_monotonic_increasing)
    ([0.0, 0.5], True)
    """
    rows = []
    for r in rhos:
        res = multilevel(effects, levels, tau2_method=tau2_method, ci_method=ci_method,
                         level=level, rho=float(r), rho_cluster=rho_cluster, profile=False)
        row = {"rho": float(r), "estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
               "ci_high": res.ci_high, "pvalue": res.pvalue}
        row.update({f"sigma2[{n}]": s for n, s in zip(res.levels, res.sigma2, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows)
