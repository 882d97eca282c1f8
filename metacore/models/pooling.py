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

__all__ = ["MODELS", "CI_METHODS", "HKSJ_METHODS", "PoolResult", "pool",
           "heterogeneity_words"]

MODELS = ("common", "random")
# The HKSJ family: plain HKSJ (metafor's test="knha"), the modified one whose scale factor
# is floored at 1 (metafor's test="adhoc"), and meta's adhoc.hakn.ci variants "se", "ci"
# and "IQWiG6".
HKSJ_METHODS = ("hksj", "hksj-adhoc", "hksj-se", "hksj-ci", "hksj-iqwig6")
CI_METHODS = ("z", *HKSJ_METHODS)
MODEL_LABELS = {"common": "Common effect", "random": "Random effects",
                "MH": "Mantel-Haenszel", "PETO": "Peto"}
CI_LABELS = {
    "z": "Wald z",
    "hksj": "Hartung-Knapp-Sidik-Jonkman (t, k-1 df)",
    "hksj-adhoc": "modified HKSJ: scale factor at least 1 (t, k-1 df; metafor test='adhoc')",
    "hksj-se": "HKSJ, SE at least Wald's (t, k-1 df; meta adhoc.hakn.ci='se')",
    "hksj-ci": "HKSJ or Wald z, whichever interval is wider (meta adhoc.hakn.ci='ci')",
    "hksj-iqwig6": "HKSJ, Wald SE when narrower than the DL Wald interval (t, k-1 df; "
                   "meta adhoc.hakn.ci='IQWiG6')",
}
# meta's variants keep meta's default prediction interval (method.predict = "V": t(k-1) with
# the Wald SE); plain and modified HKSJ use the adjusted SE as metafor's predict() does.
_META_VARIANTS = ("hksj-se", "hksj-ci", "hksj-iqwig6")
# One sentence of guidance, shown whenever plain HKSJ comes out narrower than Wald.
HKSJ_GUIDANCE = (
    "Cochrane's random-effects methods (REML, HKSJ, Q-profile, prediction interval; RevMan "
    "since January 2025) choose HKSJ because Wald intervals can be too narrow with few "
    "studies, but HKSJ itself becomes over-confident when the studies agree more than their "
    "standard errors predict, so report such a result with a modified HKSJ or the Wald "
    "interval as a sensitivity analysis.")


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
        raise OptionError(f"ci_method must be one of {', '.join(CI_METHODS)}, not "
                          f"'{ci_method}'.")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"The confidence level must be between 0 and 1 (e.g. 0.95), not {level}.")


def hksj_interval(yi: np.ndarray, vi: np.ndarray, w: np.ndarray, est: float, ci_method: str,
                  level: float) -> tuple[float, float | None, float, float, list[str]]:
    """Standard error, t degrees of freedom (None: z), critical value and prediction SE basis
    of one member of the HKSJ family, with the notes it earns.

    ``w`` are the model's weights 1 / (vi + tau2). Returns ``(se, df, crit, se_pi, notes)``
    where the prediction interval is ``est +- crit_pi * sqrt(se_pi**2 + tau2)`` with the
    t(k-1) quantile, as metafor (plain and modified HKSJ) and meta (its variants) do.
    """
    k = yi.size
    sw = float(w.sum())
    alpha = 1 - level
    s2 = float(np.dot(w, (yi - est) ** 2) / (k - 1))     # the HKSJ scale factor
    se_wald = math.sqrt(1.0 / sw)
    se_hk = math.sqrt(s2 / sw)
    tcrit = float(special.stdtrit(k - 1, 1 - alpha / 2))
    zcrit = float(special.ndtri(1 - alpha / 2))
    notes: list[str] = []
    se, df, crit = se_hk, float(k - 1), tcrit
    if ci_method in ("hksj-adhoc", "hksj-se"):
        se = math.sqrt(max(s2, 1.0) / sw)
    elif ci_method == "hksj-ci" and tcrit * se_hk < zcrit * se_wald:
        se, df, crit = se_wald, None, zcrit
        notes.append("The HKSJ interval was narrower than Wald's, so the Wald z interval is "
                     "given (meta's adhoc.hakn.ci = 'ci').")
    elif ci_method == "hksj-iqwig6":
        # IQWiG (2020) as meta: compare with the DerSimonian-Laird Wald interval.
        w_dl = 1.0 / (vi + estimate_tau2(yi, vi, "DL").tau2)
        if tcrit * se_hk < zcrit * math.sqrt(1.0 / float(w_dl.sum())):
            se = se_wald
            notes.append("The HKSJ interval was narrower than the DerSimonian-Laird Wald "
                         "interval, so the Wald standard error is used with t(k-1) (IQWiG "
                         "2020; meta's adhoc.hakn.ci = 'IQWiG6').")
    if ci_method == "hksj" and tcrit * se_hk < zcrit * se_wald:
        notes.append(
            f"The HKSJ interval is narrower than the Wald interval here (scale factor "
            f"{s2:.2f} < 1: the studies agree more than their standard errors predict). "
            "Consider the modified HKSJ (scale factor at least 1, metafor's test = 'adhoc'), "
            "meta's variants ('se', 'ci', 'IQWiG6') or the Wald interval. " + HKSJ_GUIDANCE)
    if k == 2:
        notes.append(f"Only two studies: the HKSJ interval uses t with 1 degree of freedom "
                     f"(critical value {tcrit:.1f} at {level:.0%}), so it is extremely wide; "
                     "read it as 'the data cannot tell', not as evidence of no effect.")
    se_pi = se_wald if ci_method in _META_VARIANTS else se
    return se, df, crit, se_pi, notes


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
        ``"z"`` (Wald) or ``"hksj"`` (Hartung-Knapp-Sidik-Jonkman, t with k-1 df), or a
        guard against HKSJ intervals narrower than Wald's: ``"hksj-adhoc"`` (scale factor
        floored at 1, metafor's ``test="adhoc"``), ``"hksj-se"``, ``"hksj-ci"``,
        ``"hksj-iqwig6"`` (meta's ``adhoc.hakn.ci`` "se", "ci", "IQWiG6"; their prediction
        interval is meta's default, t(k-1) with the Wald standard error).
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
    if model == "common" and ci_method in HKSJ_METHODS and k > 1:
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
    if ci_method in HKSJ_METHODS and k < 2:
        notes.append("The Hartung-Knapp adjustment needs at least 2 studies; Wald z is used.")
        ci_used = "z"
    else:
        ci_used = ci_method
    df: float | None = None
    se_pi = se
    crit = float(special.ndtri(1 - alpha / 2))
    crit_pi = crit
    if ci_used in HKSJ_METHODS:
        se, df, crit, se_pi, hk_notes = hksj_interval(yi, vi, w, est, ci_used, level)
        notes.extend(hk_notes)
        crit_pi = float(special.stdtrit(k - 1, 1 - alpha / 2))
        if df is not None:
            df = k - 1
        if se == 0:
            notes.append("All estimates are identical, so the Hartung-Knapp standard error is 0.")
    statistic = est / se if se > 0 else (np.inf * np.sign(est) if est != 0 else 0.0)
    if df is None:
        pvalue = float(2 * special.ndtr(-abs(statistic)))
    else:
        pvalue = float(2 * special.stdtr(df, -abs(statistic)))
    pi_se = math.sqrt(se_pi * se_pi + tau2)
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
        pi_low=est - crit_pi * pi_se, pi_high=est + crit_pi * pi_se, tau2=float(tau2),
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
