"""Mixed-effects meta-regression (metafor's ``rma(yi, vi, mods = ...)``).

y = X beta + u + e, u ~ N(0, tau^2), e ~ N(0, v_i). Categorical moderators are
dummy-coded against their first level in sorted order (R's ``factor()``);
coefficients come in the order intercept, then the terms as given. Every tau^2
estimator of :func:`metacore.pool` is available with metafor's moderator
formulas; ML and REML return the global maximum of the (restricted) likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes
from metacore.models.pooling import CI_LABELS, CI_METHODS
from metacore.models.tau2 import ESTIMATORS, TAU2_LABELS, best_maximum, score_grid
from metacore.numbers import format_number, format_p

__all__ = ["Design", "MetaRegResult", "design_matrix", "fit_mixed", "metareg"]

_EPS = 4 * np.finfo(float).eps


@dataclass(frozen=True)
class Design:
    """A design matrix with the names of its columns and how each term was coded."""

    X: np.ndarray
    names: tuple[str, ...]
    terms: tuple[str, ...]
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)   # categorical terms
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    notes: tuple[str, ...] = ()

    @property
    def p(self) -> int:
        return self.X.shape[1]


def _is_categorical(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def design_matrix(data: pd.DataFrame, mods: Sequence[str], *, intercept: bool = True,
                  study: Sequence[str] | None = None) -> Design:
    """Intercept, continuous moderators as they are, categorical ones as 0/1 columns.

    Rows with a missing moderator value are left out (``keep`` is False) and named in
    ``notes``.

    Raises
    ------
    DataError
        A moderator that is not a column, or that takes one value only.
    """
    missing = [m for m in mods if m not in data.columns]
    if missing:
        raise DataError("No column named " + ", ".join(f"'{m}'" for m in missing)
                        + " in the study table, so it cannot be a moderator.")
    n = len(data)
    keep = np.ones(n, dtype=bool)
    for m in mods:
        col = data[m]
        keep &= ~(col.isna().to_numpy() | col.astype(str).str.strip().eq("").to_numpy())
    notes = []
    if not keep.all():
        labels = list(study) if study is not None else [f"row {i + 1}" for i in range(n)]
        gone = [labels[i] for i in np.flatnonzero(~keep)]
        notes.append(f"{len(gone)} stud{'y has' if len(gone) == 1 else 'ies have'} no value "
                     f"for a moderator and {'is' if len(gone) == 1 else 'are'} left out of "
                     "the meta-regression: " + ", ".join(gone[:8])
                     + (" …" if len(gone) > 8 else "") + ".")
    sub = data.loc[keep]
    cols, names, levels = [], [], {}
    if intercept:
        cols.append(np.ones(int(keep.sum())))
        names.append("intrcpt")
    for m in mods:
        col = sub[m]
        if _is_categorical(col):
            values = col.astype(str).str.strip()
            lv = tuple(sorted(values.unique()))
            if len(lv) < 2:
                raise DataError(f"The moderator '{m}' has one value only ('{lv[0]}') among "
                                "the studies analysed, so its effect cannot be estimated.")
            levels[m] = lv
            for level in (lv[1:] if intercept else lv):
                cols.append((values == level).to_numpy(float))
                names.append(f"{m}{level}")
            intercept = True   # only the first categorical term may take every level
        else:
            x = col.to_numpy(float)
            if np.ptp(x) == 0:
                raise DataError(f"The moderator '{m}' takes one value only ({x[0]:g}) among "
                                "the studies analysed, so its effect cannot be estimated.")
            cols.append(x)
            names.append(m)
    X = np.column_stack(cols) if cols else np.zeros((int(keep.sum()), 0))
    return Design(X=X, names=tuple(names), terms=tuple(mods), levels=levels, keep=keep,
                  notes=tuple(notes))


# --- fits for a given design -----------------------------------------------------------

def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: (beta, (X'WX)^-1, residual quadratic form y'Py)."""
    Xw = X * w[:, None]
    inv = np.linalg.inv(X.T @ Xw)
    beta = inv @ (Xw.T @ y)
    r = y - X @ beta
    return beta, inv, float(r @ (w * r))


def _trace_p(X: np.ndarray, w: np.ndarray, inv: np.ndarray) -> float:
    """tr(P) with P = W - W X (X'WX)^-1 X' W."""
    return float(w.sum() - np.einsum("ij,ji->", inv, (X * (w * w)[:, None]).T @ X))


def _loglik(tau2: float, X: np.ndarray, y: np.ndarray, v: np.ndarray, reml: bool) -> float:
    w = 1.0 / (v + tau2)
    _, inv, rss = wls(X, y, w)
    ll = -0.5 * float(np.log(v + tau2).sum()) - 0.5 * rss
    if reml:
        ll -= 0.5 * float(np.linalg.slogdet(np.linalg.inv(inv))[1])
    return ll


def _score(tau2: float, X: np.ndarray, y: np.ndarray, v: np.ndarray, reml: bool) -> float:
    """d loglik / d tau^2 (times 2): y'PPy - tr(W) (ML) or - tr(P) (REML)."""
    w = 1.0 / (v + tau2)
    beta, inv, _ = wls(X, y, w)
    py = w * (y - X @ beta)
    return float(py @ py) - (_trace_p(X, w, inv) if reml else float(w.sum()))


def _q_gen(tau2: float, X: np.ndarray, y: np.ndarray, v: np.ndarray) -> float:
    return wls(X, y, 1.0 / (v + tau2))[2]


def _likelihood_tau2(X, y, v, reml: bool) -> tuple[float, str]:
    """Global maximum over tau^2 >= 0 of the (restricted) likelihood of the design: the
    score scanned on tau2's grid, every maximum compared (:func:`tau2.best_maximum`)."""
    grid = score_grid(y, v)
    f = np.array([_score(t, X, y, v, reml) for t in grid])
    return best_maximum(lambda t: _score(t, X, y, v, reml),
                        lambda c: np.array([_loglik(t, X, y, v, reml) for t in c]),
                        grid, f, reml)


def _q_root(X, y, v, target: float) -> float:
    """tau^2 >= 0 with Q_gen(tau^2) = target (Q_gen decreases strictly), 0 if none."""
    if _q_gen(0.0, X, y, v) <= target:
        return 0.0
    hi = max(float(np.ptp(y)) ** 2, float(v.max()), 1e-8)
    while _q_gen(hi, X, y, v) > target:
        hi *= 4
    return float(optimize.brentq(lambda t: _q_gen(t, X, y, v) - target, 0.0, hi,
                                 xtol=1e-300, rtol=_EPS, maxiter=500))


def estimate_tau2_mods(X: np.ndarray, y: np.ndarray, v: np.ndarray,
                       method: str) -> tuple[float, str]:
    """tau^2 of a meta-regression by metafor's formula for each estimator, with a note."""
    k, p = X.shape
    if method == "DL":
        w = 1.0 / v
        _, inv, rss = wls(X, y, w)
        return max(0.0, (rss - (k - p)) / _trace_p(X, w, inv)), ""
    if method == "HS":
        w = 1.0 / v
        rss = wls(X, y, w)[2]
        return max(0.0, (rss - k) / float(w.sum())), ""
    if method == "HE":
        _, inv, rss = wls(X, y, np.ones(k))
        hat = np.einsum("ij,jk,ik->i", X, inv, X)        # diagonal of X (X'X)^-1 X'
        tr_pv = float(np.sum((1.0 - hat) * v))
        return max(0.0, (rss - tr_pv) / (k - p)), ""
    if method == "SJ":
        tau0 = float(np.var(y))                           # var(y) (k - 1) / k
        if tau0 <= 0:
            return 0.0, "All estimates are identical, so the Sidik-Jonkman start is 0."
        rss = wls(X, y, 1.0 / (v + tau0))[2]
        return tau0 * rss / (k - p), ""
    if method in ("ML", "REML"):
        return _likelihood_tau2(X, y, v, method == "REML")
    if method in ("PM", "EB"):
        # Morris's EB fixed point reduces to Paule-Mandel's Q_gen(tau^2) = k - p (metafor).
        return _q_root(X, y, v, k - p), ""
    raise OptionError(f"Unknown τ² estimator '{method}'.")


@dataclass(frozen=True)
class MixedFit:
    """The numbers of one mixed-effects fit on a design (before labelling)."""

    beta: np.ndarray
    vcov: np.ndarray
    tau2: float
    df: int | None
    crit: float
    qe: float
    qe_df: int
    s2_typical: float
    notes: tuple[str, ...]


def fit_mixed(X: np.ndarray, y: np.ndarray, v: np.ndarray, *, tau2_method: str = "REML",
              ci_method: str = "z", level: float = 0.95, tau2: float | None = None,
              model: str = "random") -> MixedFit:
    """Fit y = X beta + u + e for one design; ``tau2`` fixes tau^2 instead of estimating it."""
    k, p = X.shape
    notes: list[str] = []
    if model == "common":
        t2 = 0.0
    elif tau2 is not None:
        t2 = float(tau2)
    else:
        t2, note = estimate_tau2_mods(X, y, v, tau2_method)
        if note:
            notes.append(note)
    w = 1.0 / (v + t2)
    beta, vcov, rss = wls(X, y, w)
    alpha = 1 - level
    df = None
    if ci_method not in ("z", "hksj", "hksj-adhoc"):
        raise OptionError(
            f"The confidence-interval method '{ci_method}' (one of meta's adhoc.hakn.ci "
            "variants) is defined for a pooled mean only; for meta-regression (Egger's test "
            "included) and for subgroups with a common τ², choose 'hksj' or 'hksj-adhoc' "
            "(metafor's test='adhoc').")
    if ci_method in ("hksj", "hksj-adhoc") and k > p:
        # Knapp-Hartung: scale by y'Py / (k - p), no truncation; t (and F) with k - p df.
        s2w = rss / (k - p) if rss > np.finfo(float).eps else 0.0
        if ci_method == "hksj-adhoc":
            s2w = max(1.0, s2w)   # metafor's test="adhoc": never narrower than Wald
        vcov = s2w * vcov
        df = k - p
        crit = float(special.stdtrit(df, 1 - alpha / 2))
    else:
        crit = float(special.ndtri(1 - alpha / 2))
    w0 = 1.0 / v
    _, inv0, qe = wls(X, y, w0)
    s2 = (k - p) / _trace_p(X, w0, inv0) if k > p else float(v.min())
    return MixedFit(beta=beta, vcov=vcov, tau2=t2, df=df, crit=crit, qe=qe, qe_df=k - p,
                    s2_typical=s2, notes=tuple(notes))


# --- the public fit ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MetaRegResult:
    """A meta-regression, as metafor's ``rma(yi, vi, mods = ...)`` reports it.

    ``coef`` has one row per coefficient (intercept first) and columns ``estimate se
    statistic pvalue ci_low ci_high``; QM tests every coefficient but the intercept
    (a chi-square, or F with k - p df under Knapp-Hartung); QE tests the residual
    heterogeneity; ``r2`` is metafor's pseudo-R² in percent.
    """

    coef: pd.DataFrame
    tau2: float
    i2: float
    h2: float
    r2: float
    qm: float
    qm_df: int
    qm_pvalue: float
    qe: float
    qe_df: int
    qe_pvalue: float
    k: int
    tau2_method: str
    ci_method: str
    level: float
    measure: str
    ratio: bool = False
    terms: tuple[str, ...] = ()
    levels: dict = field(default_factory=dict)
    vcov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    df: int | None = None
    qm_df2: int | None = None
    tau2_null: float = float("nan")
    design: Design | None = None
    yi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    study: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def settings(self) -> str:
        """The settings in force, in words."""
        return (f"Mixed-effects meta-regression; τ²: {TAU2_LABELS.get(self.tau2_method)} "
                f"({self.tau2_method}); CI: {CI_LABELS.get(self.ci_method, self.ci_method)}; "
                f"level {self.level:.0%}")

    def transform(self, x):
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def predict(self, values: dict[str, object] | pd.DataFrame) -> pd.DataFrame:
        """Predicted mean effect with CI and PI for moderator values (analysis scale).

        ``values`` maps each term to a value (a level for a categorical term), or is a
        DataFrame with one column per term.
        """
        frame = values if isinstance(values, pd.DataFrame) else pd.DataFrame(
            {k: [v] for k, v in values.items()})
        rows = []
        for _, row in frame.iterrows():
            x = [1.0]
            for term in self.terms:
                if term in self.levels:
                    lv = str(row[term])
                    if lv not in self.levels[term]:
                        raise OptionError(f"'{lv}' is not a level of {term}; levels: "
                                          + ", ".join(self.levels[term]) + ".")
                    x.extend(float(lv == level) for level in self.levels[term][1:])
                else:
                    x.append(float(row[term]))
            x = np.asarray(x)
            b = self.coef["estimate"].to_numpy()
            pred = float(x @ b)
            se = float(math.sqrt(x @ self.vcov @ x))
            crit = self._crit()
            pi_se = math.sqrt(se * se + self.tau2)
            rows.append({**{t: row[t] for t in self.terms}, "pred": pred, "se": se,
                         "ci_low": pred - crit * se, "ci_high": pred + crit * se,
                         "pi_low": pred - crit * pi_se, "pi_high": pred + crit * pi_se})
        return pd.DataFrame(rows)

    def _crit(self) -> float:
        alpha = 1 - self.level
        if self.df is None:
            return float(special.ndtri(1 - alpha / 2))
        return float(special.stdtrit(self.df, 1 - alpha / 2))

    def summary(self) -> str:
        """A short report in words, like metafor's ``print``."""
        test = (f"F({self.qm_df}, {self.qm_df2}) = {self.qm:.2f}" if self.qm_df2 else
                f"QM({self.qm_df}) = {self.qm:.2f}")
        lines = [f"{self.settings} (k = {self.k})",
                 f"τ² (residual) = {format_number(self.tau2, 4)}; I² = {self.i2:.1f}%; "
                 f"H² = {self.h2:.2f}; R² = {self.r2:.1f}%",
                 f"Test of moderators: {test}, p = {format_p(self.qm_pvalue)}",
                 f"Residual heterogeneity: QE({self.qe_df}) = {self.qe:.2f}, "
                 f"p = {format_p(self.qe_pvalue)}"]
        return "\n".join(lines + list(self.notes))

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (analysis scale), with the coefficient names as a column."""
        return self.coef.rename_axis("coefficient").reset_index()


def _check(tau2_method: str, ci_method: str, level: float) -> None:
    if tau2_method not in ESTIMATORS:
        raise OptionError(f"Unknown τ² estimator '{tau2_method}'. Choose one of "
                          + ", ".join(ESTIMATORS) + ".")
    if ci_method not in CI_METHODS:
        raise OptionError(f"ci_method must be one of {', '.join(CI_METHODS)}, not "
                          f"'{ci_method}'.")
    if not 0 < level < 1:
        raise OptionError(f"The confidence level must be between 0 and 1, not {level}.")


def metareg(effects: EffectSizes, mods: Sequence[str] | str, *, tau2_method: str = "REML",
            ci_method: str = "z", level: float = 0.95) -> MetaRegResult:
    """Mixed-effects meta-regression on one or more moderators.

    Parameters
    ----------
    effects
        Study effect sizes; moderators are columns of ``effects.data`` (extra columns
        of the study table, numbers or text).
    mods
        Moderator names; text columns are categorical (dummy-coded against their first
        level in sorted order).
    tau2_method, ci_method, level
        As for :func:`metacore.pool`; ``"hksj-adhoc"`` floors the Knapp-Hartung scale
        factor at 1 (metafor's ``test="adhoc"``); meta's variants ``"hksj-se"``,
        ``"hksj-ci"`` and ``"hksj-iqwig6"`` are refused (defined for a pooled mean only).
        ``"hksj"`` gives Knapp-Hartung t and F tests with
        k - p degrees of freedom.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> res = metareg(eff, ["ablat"])   # R: rma(yi, vi, mods = ~ ablat, data = dat)
    >>> round(float(res.coef.loc["ablat", "estimate"]), 4), round(res.r2, 2)
    (-0.0291, 75.63)
    """
    mods = [mods] if isinstance(mods, str) else list(mods)
    if not mods:
        raise OptionError("Name at least one moderator.")
    _check(tau2_method, ci_method, level)
    des = design_matrix(effects.data, mods, study=effects.study)
    y, v = effects.yi[des.keep], effects.vi[des.keep]
    k, p = des.X.shape
    if k <= p:
        raise DataError(f"The meta-regression has {p} coefficients but only {k} studies with "
                        "every moderator; it needs more studies than coefficients.")
    if np.linalg.matrix_rank(des.X) < p:
        raise DataError("The moderators are collinear among the studies analysed (one is a "
                        "combination of the others: " + ", ".join(des.names[1:]) + "); drop "
                        "one of them.")
    fit = fit_mixed(des.X, y, v, tau2_method=tau2_method, ci_method=ci_method, level=level)
    se = np.sqrt(np.diag(fit.vcov))
    stat = fit.beta / np.where(se > 0, se, np.nan)
    if fit.df is None:
        pv = 2 * special.ndtr(-np.abs(stat))
    else:
        pv = 2 * special.stdtr(fit.df, -np.abs(stat))
    coef = pd.DataFrame({"estimate": fit.beta, "se": se, "statistic": stat, "pvalue": pv,
                         "ci_low": fit.beta - fit.crit * se, "ci_high": fit.beta + fit.crit * se},
                        index=list(des.names))
    m = p - 1
    b = fit.beta[1:]
    vb = fit.vcov[1:, 1:]
    qm = float(b @ np.linalg.solve(vb, b)) if m else 0.0
    if fit.df is None:
        qm_p = float(special.chdtrc(m, qm))
        qm_df2 = None
    else:
        qm = qm / m
        qm_p = float(special.fdtrc(m, fit.df, qm))
        qm_df2 = fit.df
    # Pseudo-R^2 against the intercept-only model with the same estimator (metafor's).
    ones = np.ones((k, 1))
    tau2_null = estimate_tau2_mods(ones, y, v, tau2_method)[0]
    r2 = 0.0 if tau2_null <= 0 else max(0.0, 100 * (tau2_null - fit.tau2) / tau2_null)
    i2 = 100 * fit.tau2 / (fit.tau2 + fit.s2_typical)
    notes = list(des.notes) + list(fit.notes)
    if k - p < 3:
        notes.append(f"Only {k - p} residual degrees of freedom: the estimates are very "
                     "imprecise.")
    return MetaRegResult(
        coef=coef, tau2=fit.tau2, i2=float(i2), h2=float((fit.tau2 + fit.s2_typical)
                                                          / fit.s2_typical),
        r2=float(r2), qm=qm, qm_df=m, qm_pvalue=qm_p, qe=fit.qe, qe_df=fit.qe_df,
        qe_pvalue=float(special.chdtrc(fit.qe_df, fit.qe)), k=k, tau2_method=tau2_method,
        ci_method=ci_method, level=float(level), measure=effects.measure, ratio=effects.ratio,
        terms=tuple(mods), levels=des.levels, vcov=fit.vcov, df=fit.df, qm_df2=qm_df2,
        tau2_null=tau2_null, design=des, yi=y, vi=v,
        study=tuple(s for s, kk in zip(effects.study, des.keep, strict=True) if kk),
        notes=tuple(notes))
