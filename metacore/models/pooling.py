"""Inverse-variance pooling: common effect and random effects (metafor's ``rma``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes, back_transform, measure_name
from metacore.models.tau2 import (
    ESTIMATORS,
    TAU2_LABELS,
    Interval,
    estimate_tau2,
    q_profile,
    typical_variance,
)
from metacore.numbers import format_p

__all__ = ["MODELS", "CI_METHODS", "PoolResult", "pool", "heterogeneity_words"]

MODELS = ("common", "random")
CI_METHODS = ("z", "hksj")
MODEL_LABELS = {"common": "Common effect", "random": "Random effects",
                "MH": "Mantel-Haenszel", "PETO": "Peto"}
CI_LABELS = {"z": "Wald z", "hksj": "Hartung-Knapp-Sidik-Jonkman (t, k-1 df)"}


# metafor's evtol: a ratio of sampling variances beyond 1 / 1e-7 earns a warning.
_VI_RATIO_WARN = 1e7


def _nan() -> float:
    return float("nan")


@dataclass(frozen=True, eq=False)
class PoolResult:
    """A pooled estimate with its heterogeneity statistics.

    Estimates, intervals and prediction intervals are on the analysis scale
    (log for ratio measures); :meth:`natural` gives them back-transformed.
    ``i2`` is in percent (metafor's tau^2-based definition for random effects,
    Higgins' Q-based one for the common-effect model) and ``i2_q`` is always
    the Q-based one, ``max(0, (Q - df) / Q)``. ``weights`` are percent.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    pi_low: float
    pi_high: float
    tau2: float
    tau2_ci: Interval
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    k: int
    weights: np.ndarray
    model: str
    tau2_method: str | None
    ci_method: str
    measure: str
    level: float
    statistic: float = _nan()
    df: float | None = None
    tau_ci: Interval = Interval(_nan(), _nan())
    i2_ci: Interval = Interval(_nan(), _nan())
    h2_ci: Interval = Interval(_nan(), _nan())
    i2_q: float = _nan()
    zeta2: float = _nan()
    z2_total: float = _nan()
    z2_fixed: float = _nan()
    converged: bool = True
    ratio: bool = False
    study: tuple[str, ...] = ()
    yi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    notes: tuple[str, ...] = ()
    label: str = ""

    # --- presentation ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """Long name of the measure (a generic effect's own name when it has one)."""
        return measure_name(self.measure, self.label)

    def transform(self, x: float | np.ndarray) -> float | np.ndarray:
        """Back-transform a value from the analysis scale, as metafor's ``transf``.

        Ratios are exponentiated; proportions, rates, correlations and means follow
        :func:`metacore.models.effects.back_transform` (PLO ilogit, PAS iarcsin, PFT
        ipft.hm at the harmonic mean of the studies' n, IRFT iirft at the harmonic mean
        of their person-times, ZCOR ztor, PLN IRLN MNLN exp, IRS the square).
        """
        return back_transform(self.measure, x, vi=self.vi, ratio=self.ratio)

    def natural(self) -> dict[str, float]:
        """Estimate and intervals on the natural scale, as metafor's
        ``predict(res, transf=...)`` (ratios exponentiated, proportions from the logit ...)."""
        t = self.transform
        return {"estimate": float(t(self.estimate)), "ci_low": float(t(self.ci_low)),
                "ci_high": float(t(self.ci_high)), "pi_low": float(t(self.pi_low)),
                "pi_high": float(t(self.pi_high))}

    @property
    def settings(self) -> str:
        """The settings in force, in words."""
        parts = [MODEL_LABELS.get(self.model, self.model)]
        if self.model == "random" and self.tau2_method:
            parts.append(f"τ²: {TAU2_LABELS.get(self.tau2_method, self.tau2_method)} "
                         f"({self.tau2_method})")
        parts.append(f"CI: {CI_LABELS.get(self.ci_method, self.ci_method)}")
        parts.append(f"level {self.level:.0%}")
        return "; ".join(parts)

    def summary(self, digits: int = 3) -> str:
        """A short report in words, like metafor's ``print``."""
        f = f"{{:.{digits}f}}"
        nat = self.natural()
        label = self.name
        scale = " (back-transformed from the log scale)" if self.ratio else ""
        lines = [
            f"{MODEL_LABELS.get(self.model, self.model)} model (k = {self.k}); {self.settings}",
            f"{label}{scale}: {f.format(nat['estimate'])} "
            f"[{f.format(nat['ci_low'])}, {f.format(nat['ci_high'])}], "
            f"p = {format_p(self.pvalue)}",
        ]
        if self.model == "random":
            lines.append(f"Prediction interval: [{f.format(nat['pi_low'])}, "
                         f"{f.format(nat['pi_high'])}]")
            lines.append(f"τ² = {f.format(self.tau2)} [{f.format(self.tau2_ci.low)}, "
                         f"{f.format(self.tau2_ci.high)}], τ = {f.format(self.tau)}")
        if self.k > 1:
            lines.append(f"Heterogeneity: Q({self.q_df}) = {self.q:.2f}, "
                         f"p = {format_p(self.q_pvalue)}; I² = {self.i2:.1f}%, "
                         f"H² = {self.h2:.2f}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic: name, value, and natural-scale value."""
        nat = self.natural()
        rows = [
            ("estimate", self.estimate, nat["estimate"]), ("se", self.se, _nan()),
            ("ci_low", self.ci_low, nat["ci_low"]), ("ci_high", self.ci_high, nat["ci_high"]),
            ("pvalue", self.pvalue, _nan()),
            ("pi_low", self.pi_low, nat["pi_low"]), ("pi_high", self.pi_high, nat["pi_high"]),
            ("tau2", self.tau2, _nan()), ("tau2_ci_low", self.tau2_ci.low, _nan()),
            ("tau2_ci_high", self.tau2_ci.high, _nan()), ("tau", self.tau, _nan()),
            ("i2", self.i2, _nan()), ("i2_ci_low", self.i2_ci.low, _nan()),
            ("i2_ci_high", self.i2_ci.high, _nan()), ("i2_q", self.i2_q, _nan()),
            ("h2", self.h2, _nan()), ("q", self.q, _nan()), ("q_df", float(self.q_df), _nan()),
            ("q_pvalue", self.q_pvalue, _nan()), ("zeta2", self.zeta2, _nan()),
            ("k", float(self.k), _nan()),
        ]
        return pd.DataFrame(rows, columns=["statistic", "value", "natural"])

    def study_frame(self) -> pd.DataFrame:
        """One row per study: estimate, interval (analysis scale) and weight in percent."""
        z = special.ndtri(0.5 + self.level / 2)
        se = np.sqrt(self.vi)
        return pd.DataFrame({"study": list(self.study), "yi": self.yi, "vi": self.vi,
                             "ci_low": self.yi - z * se, "ci_high": self.yi + z * se,
                             "weight": self.weights})


def heterogeneity_words(i2: float) -> str:
    """Cochrane Handbook's rough reading of I^2 (overlapping bands, simplified)."""
    if not np.isfinite(i2):
        return "not estimable"
    if i2 < 30:
        return "low"
    if i2 < 50:
        return "moderate"
    if i2 < 75:
        return "substantial"
    return "considerable"


def _check_options(model: str, tau2_method: str, ci_method: str, level: float) -> None:
    if model not in MODELS:
        raise OptionError(f"model must be 'common' or 'random', not '{model}'.")
    if tau2_method not in ESTIMATORS:
        raise OptionError(f"Unknown τ² estimator '{tau2_method}'. Choose one of "
                          + ", ".join(ESTIMATORS) + ".")
    if ci_method not in CI_METHODS:
        raise OptionError(f"ci_method must be 'z' or 'hksj', not '{ci_method}'.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"The confidence level must be between 0 and 1 (e.g. 0.95), not {level}.")


def heterogeneity(yi: np.ndarray, vi: np.ndarray, level: float) -> dict:
    """Q, its df and p, Q-based I^2, the Q-profile tau^2 interval, zeta^2 and Z^2 terms."""
    k = yi.size
    w = 1.0 / vi
    sw = float(w.sum())
    fixed = float(np.dot(w, yi)) / sw
    r = yi - fixed
    q = float(np.dot(w, r * r))
    df = k - 1
    out = {"q": q, "q_df": df, "fixed": fixed, "fixed_var": 1.0 / sw,
           "q_pvalue": float(special.chdtrc(df, q)) if df > 0 else _nan(),
           "i2_q": max(0.0, 100 * (q - df) / q) if df > 0 and q > 0 else 0.0,
           # seed 002: zeta^2 = (Q - (k - 1)) / sum(1 / sigma_i^2), truncated at zero.
           "zeta2": max(0.0, (q - df) / sw) if df > 0 else 0.0,
           "z2_total": float(np.dot(w, yi * yi)), "z2_fixed": fixed * fixed * sw,
           # metafor's "typical" within-study variance, for I^2 and H^2.
           "vt": typical_variance(vi)}
    out["tau2_ci"], out["tau2_ci_note"] = q_profile(yi, vi, level, q_fixed=q)
    return out


@np.errstate(all="ignore")  # extreme inputs are caught by the finiteness check below
def pool(effects: EffectSizes, *, model: str = "random", tau2_method: str = "REML",
         ci_method: str = "z", level: float = 0.95) -> PoolResult:
    """Pool study effect sizes by inverse-variance weighting.

    Parameters
    ----------
    effects
        Output of :func:`metacore.compute_effects`.
    model
        ``"common"`` (common/fixed effect) or ``"random"`` (random effects).
    tau2_method
        tau^2 estimator for random effects: ``DL HE HS SJ ML REML EB PM``.
    ci_method
        ``"z"`` (Wald) or ``"hksj"`` (Hartung-Knapp-Sidik-Jonkman, t with k-1 df).
    level
        Confidence level of every interval, e.g. 0.95.

    Returns
    -------
    PoolResult

    Raises
    ------
    DataError
        If no study has an estimate.
    OptionError
        If an option is not one of those listed.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("seed000"), "GEN")
    >>> res = pool(eff, model="common")
    >>> round(res.estimate, 3), round(res.se, 4), round(res.q, 2)
    (0.246, 0.0465, 5.43)
    """
    _check_options(model, tau2_method, ci_method, level)
    yi = np.asarray(effects.yi, float)
    vi = np.asarray(effects.vi, float)
    k = yi.size
    if k == 0:
        reasons = "; ".join(f"{e.study}: {e.reason}" for e in effects.excluded[:5])
        raise DataError("No study has a usable estimate, so nothing can be pooled"
                        + (f" ({reasons})." if reasons else "."))
    notes: list[str] = []
    if k > 1 and vi.max() / vi.min() >= _VI_RATIO_WARN:
        notes.append(f"The largest sampling variance is {vi.max() / vi.min():.2g} times the "
                     "smallest: results may not be numerically stable (metafor warns too).")
    if model == "common" and ci_method == "hksj" and k > 1:
        notes.append("The Hartung-Knapp adjustment is not meant for the common-effect model "
                     "(metafor warns too); it is applied as asked.")
    het = heterogeneity(yi, vi, level)
    if het["tau2_ci_note"] and model == "random":
        notes.append(het["tau2_ci_note"])
    converged = True
    if model == "random":
        fit = estimate_tau2(yi, vi, tau2_method)
        tau2, converged = fit.tau2, fit.converged
        if fit.note:
            notes.append(fit.note)
    else:
        tau2 = 0.0
    w = 1.0 / (vi + tau2)
    sw = w.sum()   # a numpy scalar: an extreme table gives inf/nan, caught below
    est = float(np.dot(w, yi) / sw)
    se = math.sqrt(1.0 / sw)
    alpha = 1 - level
    if ci_method == "hksj" and k < 2:
        notes.append("The Hartung-Knapp adjustment needs at least 2 studies; Wald z is used.")
        ci_used = "z"
    else:
        ci_used = ci_method
    if ci_used == "hksj":
        s2 = float(np.dot(w, (yi - est) ** 2) / (k - 1))
        se = math.sqrt(s2 / sw)
        df: float | None = k - 1
        crit = float(special.stdtrit(k - 1, 1 - alpha / 2))
        if se == 0:
            notes.append("All estimates are identical, so the Hartung-Knapp standard error is 0.")
    else:
        df = None
        crit = float(special.ndtri(1 - alpha / 2))
    statistic = est / se if se > 0 else (np.inf * np.sign(est) if est != 0 else 0.0)
    if df is None:
        pvalue = float(2 * special.ndtr(-abs(statistic)))
    else:
        pvalue = float(2 * special.stdtr(df, -abs(statistic)))
    pi_se = math.sqrt(se * se + tau2)
    vt = het["vt"]
    if model == "random":
        i2 = 100 * tau2 / (tau2 + vt)
        h2 = (tau2 + vt) / vt
    else:
        i2 = het["i2_q"]
        h2 = het["q"] / het["q_df"] if het["q_df"] > 0 else 1.0
    lo2, hi2 = het["tau2_ci"]
    if not all(map(math.isfinite, (est, se, pi_se))):
        raise DataError("The estimates and variances are too extreme to pool reliably; check "
                        "the studies with the smallest and largest variances.")
    if k == 1:
        notes.append("Only one study: the pooled estimate is that study's estimate, and "
                     "heterogeneity cannot be assessed.")
    elif k == 2 and model == "random":
        notes.append("Only two studies: τ² and its interval are very imprecise.")
    return PoolResult(
        estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se, pvalue=pvalue,
        pi_low=est - crit * pi_se, pi_high=est + crit * pi_se, tau2=float(tau2),
        tau2_ci=Interval(lo2, hi2), tau=math.sqrt(tau2), i2=float(i2), h2=float(h2),
        q=het["q"], q_df=int(het["q_df"]), q_pvalue=het["q_pvalue"], k=k,
        weights=100 * w / sw, model=model, tau2_method=tau2_method if model == "random" else None,
        ci_method=ci_used, measure=effects.measure, level=float(level), statistic=float(statistic),
        df=df, tau_ci=Interval(math.sqrt(lo2), math.sqrt(hi2)),
        i2_ci=Interval(100 * lo2 / (lo2 + vt), 100 * hi2 / (hi2 + vt)),
        h2_ci=Interval((lo2 + vt) / vt, (hi2 + vt) / vt), i2_q=het["i2_q"], zeta2=het["zeta2"],
        z2_total=het["z2_total"], z2_fixed=het["z2_fixed"], converged=converged,
        ratio=effects.ratio, study=effects.study, yi=yi, vi=vi, notes=tuple(notes),
        label=effects.label)
