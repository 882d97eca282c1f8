"""Causal meta-analysis of 2x2 tables (Berenfeld et al., seed 003).

The estimand is theta(P*), the effect in the population P* = sum_k w_k P_k mixing
the trial populations; by default w_k = n_k / n, the population of all trials
pooled. Arm risks are averaged first, psi_a = sum_k w_k psi_a(k), and the
contrast is taken after: RD = psi_1 - psi_0, RR = psi_1 / psi_0,
OR = odds(psi_1) / odds(psi_0), SR = (1 - psi_1) / (1 - psi_0).

Variance (delta method). With w_k = n_k / n the weights are themselves
estimated from the sampled study mix (study membership H with P(H = k) = n_k/n),
so each arm risk carries a between-study term and the two arms covary:

    Var(psi_a) = sum_k w_k^2 psi_a(k)(1 - psi_a(k)) / n_a(k)
                 + [sum_k w_k psi_a(k)^2 - psi_a^2] / n
    Cov(psi_1, psi_0) = gamma / n,  gamma = sum_k w_k psi_1(k) psi_0(k) - psi_1 psi_0

    Var(theta) = Phi_1'^2 Var(psi_1) + Phi_0'^2 Var(psi_0) + 2 Phi_1' Phi_0' Cov(psi_1, psi_0)

The paper prints the formula without the covariance term; under its own
sampling model that overstates the variance of log RR (seed 003, Appendix A:
simulated 0.0021, corrected formula 0.0021, printed 0.0028). With weights
chosen by the user (a fixed target population: equal weights, one trial's
population, ...) the weights are not estimated, the between-study terms vanish
and only the within-study binomial variance remains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.table import StudyTable
from metacore.errors import DataError, MeasureError, OptionError
from metacore.models.effects import binary_counts, compute_effects
from metacore.models.pooling import PoolResult, pool

__all__ = ["CAUSAL_MEASURES", "CausalResult", "causal_arrays", "causal_pool",
           "causal_terms", "compare_classical_causal", "direction_words", "geometric_mean_ratio",
           "MATERIAL_RD", "MATERIAL_RATIO", "verdict"]

CAUSAL_MEASURES = ("RD", "RR", "OR", "SR")
_LABELS = {"RD": "risk difference", "RR": "risk ratio", "OR": "odds ratio",
           "SR": "survival ratio"}


def causal_terms(measure: str, p1: np.ndarray, p0: np.ndarray):
    """Contrast Phi(psi_1, psi_0) on the analysis scale and its two partial derivatives.

    Ratio measures are on the log scale. Works elementwise on arrays.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RD":
            return p1 - p0, np.ones_like(p1), -np.ones_like(p0)
        if measure == "RR":
            return np.log(p1 / p0), 1 / p1, -1 / p0
        if measure == "OR":
            return (np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)),
                    1 / (p1 * (1 - p1)), -1 / (p0 * (1 - p0)))
        if measure == "SR":
            return np.log((1 - p1) / (1 - p0)), -1 / (1 - p1), 1 / (1 - p0)
    raise MeasureError(f"Causal pooling supports {', '.join(CAUSAL_MEASURES)}, not '{measure}'.")


@dataclass(frozen=True, eq=False)
class CausalResult:
    """The causal effect theta(P*) of a target population mixing the trials.

    ``estimate se ci_low ci_high`` are on the analysis scale (log for RR, OR,
    SR); ``risk_t`` and ``risk_c`` are the pooled arm risks psi_1 and psi_0;
    ``weights`` sum to 1 (one per usable study).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    risk_t: float
    risk_c: float
    weights: np.ndarray
    measure: str
    level: float = 0.95
    k: int = 0
    study: tuple[str, ...] = ()
    target: str = "study sizes"
    pvalue: float = float("nan")
    excluded: tuple = ()
    notes: tuple[str, ...] = ()
    risks_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    risks_c: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ratio(self) -> bool:
        return self.measure != "RD"

    def transform(self, x: float | np.ndarray) -> float | np.ndarray:
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def natural(self) -> dict[str, float]:
        """Estimate and CI on the natural scale."""
        t = self.transform
        return {"estimate": float(t(self.estimate)), "ci_low": float(t(self.ci_low)),
                "ci_high": float(t(self.ci_high))}

    @property
    def estimand(self) -> str:
        """The estimand in words."""
        pop = {"study sizes": "all trial participants pooled (each trial weighted by its "
                              "size, P* = sum n_k/n P_k)",
               "equal": "an equal mix of the trial populations",
               "custom": "a custom mix of the trial populations"}.get(
            self.target, f"the population of {self.target}")
        return (f"the {_LABELS[self.measure]} of treatment versus control if everyone in "
                f"{pop} were treated versus not treated")

    def summary(self, digits: int = 3) -> str:
        """A short report in words."""
        nat = self.natural()
        f = f"{{:.{digits}f}}"
        return (f"Causal {_LABELS[self.measure]}: {f.format(nat['estimate'])} "
                f"[{f.format(nat['ci_low'])}, {f.format(nat['ci_high'])}] ({self.level:.0%} CI),"
                f" k = {self.k}. Pooled risks: treated {self.risk_t:.4f}, control "
                f"{self.risk_c:.4f}. Estimand: {self.estimand}.")

    def to_frame(self) -> pd.DataFrame:
        """One row per study: arm risks and causal weight."""
        return pd.DataFrame({"study": list(self.study), "risk_t": self.risks_t,
                             "risk_c": self.risks_c, "weight": self.weights})


def causal_arrays(e1: np.ndarray, n1: np.ndarray, e0: np.ndarray, n0: np.ndarray,
                  measure: str, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Vectorised causal estimate over the last axis (studies) of count arrays.

    Returns ``(theta, variance, psi_1, psi_0)`` with one value per leading index
    (e.g. per simulated or per uploaded meta-analysis). ``weights=None`` means
    study sizes (estimated weights, between-study terms included); otherwise the
    given fixed weights (normalised along the last axis).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = e1 / n1, e0 / n0
        n_k = n1 + n0
        if weights is None:
            w = n_k / n_k.sum(axis=-1, keepdims=True)
        else:
            w = np.broadcast_to(np.asarray(weights, float), n_k.shape)
            w = w / w.sum(axis=-1, keepdims=True)
        psi1, psi0 = (w * p1).sum(-1), (w * p0).sum(-1)
        var1 = (w**2 * p1 * (1 - p1) / n1).sum(-1)
        var0 = (w**2 * p0 * (1 - p0) / n0).sum(-1)
        cov = np.zeros_like(var1)
        if weights is None:
            n = n_k.sum(-1)
            var1 = var1 + ((w * p1**2).sum(-1) - psi1**2) / n
            var0 = var0 + ((w * p0**2).sum(-1) - psi0**2) / n
            cov = ((w * p1 * p0).sum(-1) - psi1 * psi0) / n
        theta, d1, d0 = causal_terms(measure, psi1, psi0)
        variance = d1**2 * var1 + d0**2 * var0 + 2 * d1 * d0 * cov
    return theta, variance, psi1, psi0


def _normalise_weights(weights, n: np.ndarray) -> tuple[np.ndarray, bool]:
    if weights is None:
        return n / n.sum(), True
    w = np.asarray(weights, dtype=float)
    if w.shape != n.shape:
        raise OptionError(f"Give one weight per usable study ({n.size}), not {w.size}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise OptionError("Weights must be non-negative numbers, not all zero.")
    return w / w.sum(), False


def causal_pool(table: pd.DataFrame | StudyTable, measure: str = "RR", *,
                weights: Sequence[float] | np.ndarray | None = None, level: float = 0.95,
                target: str | None = None) -> CausalResult:
    """Causal effect theta(P*) from 2x2 tables (Berenfeld et al.).

    Parameters
    ----------
    table
        2x2 study table (events and totals per arm).
    measure
        ``"RD"``, ``"RR"``, ``"OR"`` or ``"SR"``.
    weights
        ``None``: study sizes n_k/n (the population of all trials pooled; the
        weights are estimated, so the variance has between-study terms).
        Otherwise one non-negative number per usable study: a fixed target
        population (within-study variance only).
    level
        Confidence level; ratio intervals are built on the log scale.
    target
        Label of the target population for the report ("equal", a trial's name...).

    Examples
    --------
    >>> import metacore as mc
    >>> res = causal_pool(mc.datasets.load("bcg"), "RR")
    >>> round(res.natural()["estimate"], 4), round(res.risk_t, 5), round(res.risk_c, 5)
    (0.6335, 0.00568, 0.00896)
    """
    measure = str(measure).upper()
    if measure not in CAUSAL_MEASURES:
        raise MeasureError(f"Causal pooling supports {', '.join(CAUSAL_MEASURES)}, "
                           f"not '{measure}'.")
    if not 0 < level < 1:
        raise OptionError(f"The confidence level must be between 0 and 1, not {level}.")
    eff = binary_counts(table)
    if eff.k == 0:
        raise DataError("No study has usable 2x2 counts, so nothing can be pooled.")
    d = eff.data
    e1, n1 = d["events_t"].to_numpy(float), d["n_t"].to_numpy(float)
    e0, n0 = d["events_c"].to_numpy(float), d["n_c"].to_numpy(float)
    n_k = n1 + n0
    w, estimated = _normalise_weights(weights, n_k)
    theta, variance, psi1, psi0 = (float(x) for x in causal_arrays(
        e1, n1, e0, n0, measure, None if estimated else w))
    p1, p0 = e1 / n1, e0 / n0
    if np.isfinite(theta) and not variance > 0:
        raise DataError(f"The causal {_LABELS[measure]} has no sampling variance here (no "
                        "events, or only events, in every arm), so no interval can be given.")
    if not (np.isfinite(theta) and np.isfinite(variance)):
        which = "treated" if psi1 in (0.0, 1.0) else "control"
        raise DataError(f"The causal {_LABELS[measure]} is not defined: the pooled {which} "
                        f"risk is {psi1 if which == 'treated' else psi0:g} (no events, or "
                        "only events, in that arm across the weighted studies).")
    se = float(np.sqrt(variance))
    crit = float(special.ndtri(0.5 + level / 2))
    z = theta / se
    return CausalResult(
        estimate=theta, se=se, ci_low=theta - crit * se, ci_high=theta + crit * se,
        risk_t=psi1, risk_c=psi0, weights=w, measure=measure, level=float(level), k=eff.k,
        study=eff.study, target=target or ("study sizes" if weights is None else "custom"),
        pvalue=float(2 * special.ndtr(-abs(z))), excluded=eff.excluded,
        risks_t=p1, risks_c=p0)


def geometric_mean_ratio(risks_t: np.ndarray, risks_c: np.ndarray) -> float:
    """Unweighted geometric mean of the studies' risk ratios (studies with events in both arms).

    With two equally sized trials this is the classical target of seed 003's illustration,
    sqrt(psi_1(1) psi_1(2) / (psi_0(1) psi_0(2))).

    >>> round(geometric_mean_ratio(np.array([0.09, 0.8]), np.array([0.01, 0.9])), 4)
    2.8284
    """
    risks_t, risks_c = np.asarray(risks_t, float), np.asarray(risks_c, float)
    ok = (risks_t > 0) & (risks_c > 0)
    if not ok.any():
        return float("nan")
    return float(np.exp(np.mean(np.log(risks_t[ok] / risks_c[ok]))))


def _non_events(data: pd.DataFrame) -> pd.DataFrame:
    """Canonical 2x2 rows with events and non-events swapped: the classical counterpart of
    the survival ratio is the risk ratio of non-events."""
    return data.assign(events_t=data["n_t"] - data["events_t"],
                       events_c=data["n_c"] - data["events_c"])


@dataclass(frozen=True, eq=False)
class Comparison:
    """Classical common-effect and random-effects fits beside the causal one."""

    causal: CausalResult
    common: PoolResult | None
    random: PoolResult | None
    weights: pd.DataFrame
    notes: tuple[str, ...] = ()


def compare_classical_causal(table: pd.DataFrame | StudyTable, measure: str = "RR", *,
                             weights=None, tau2_method: str = "REML", ci_method: str = "z",
                             level: float = 0.95, target: str | None = None) -> Comparison:
    """Classical (common, random) and causal results for one table and measure.

    The survival ratio has no classical counterpart in metafor; for SR the
    classical fits use the log risk ratio of survival (events and non-events
    swapped). Weights of each method are given per study, in percent.
    """
    causal = causal_pool(table, measure, weights=weights, level=level, target=target)
    if measure == "SR":
        eff = compute_effects(_non_events(binary_counts(table).data), "RR")
        classical_measure = "RR"
    else:
        eff = compute_effects(table, measure)
        classical_measure = measure
    notes = []
    common = random = None
    if eff.k:
        common = pool(eff, model="common", ci_method=ci_method, level=level)
        random = pool(eff, model="random", tau2_method=tau2_method, ci_method=ci_method,
                      level=level)
    frame = pd.DataFrame({"study": list(causal.study), "causal": 100 * causal.weights})
    cw = dict(zip(eff.study, common.weights, strict=True)) if common else {}
    rw = dict(zip(eff.study, random.weights, strict=True)) if random else {}
    frame["common effect"] = [cw.get(s, 0.0) for s in frame["study"]]
    frame["random effects"] = [rw.get(s, 0.0) for s in frame["study"]]
    if eff.k < causal.k:
        notes.append(f"{causal.k - eff.k} study(ies) give no classical {classical_measure} "
                     "estimate but count in the causal one.")
    return Comparison(causal=causal, common=common, random=random, weights=frame,
                      notes=tuple(notes))


#: Below these an effect is called "no material difference": a risk difference under 1 per
#: 1,000 people treated, or a ratio within 1 +- 0.001 (0.1%), far below any minimal
#: important difference a trial is powered for, yet above floating-point noise.
MATERIAL_RD = 0.001
MATERIAL_RATIO = 0.001


def _material(measure: str, x: float) -> int:
    """-1, 0 or +1: the sign of an analysis-scale effect, 0 when it is not material."""
    size = abs(x) if measure == "RD" else abs(math.expm1(x))
    if not np.isfinite(x) or size < (MATERIAL_RD if measure == "RD" else MATERIAL_RATIO):
        return 0
    return 1 if x > 0 else -1


def _threshold_words(measure: str) -> str:
    return ("|RD| < 0.001, i.e. under 1 per 1,000 treated" if measure == "RD"
            else "ratio within 1 ± 0.001")


def direction_words(measure: str, estimate: float) -> str:
    """What an analysis-scale estimate says, in words that fit the measure.

    RD, RR and OR compare the risk of the event (below the null: lower risk); the survival
    ratio compares the chance of staying event-free (above 1: better survival, fewer events).

    >>> direction_words("SR", 0.03)
    'raises survival (fewer events)'
    >>> direction_words("RD", -0.00002)
    'makes no material difference (|RD| < 0.001, i.e. under 1 per 1,000 treated)'
    """
    sign = _material(measure, estimate)
    if sign == 0:
        return f"makes no material difference ({_threshold_words(measure)})"
    if measure == "SR":
        return "raises survival (fewer events)" if sign > 0 else "lowers survival (more events)"
    return "raises the risk of the event" if sign > 0 else "lowers the risk of the event"


def verdict(classical: tuple[float, float, float],
            causal: tuple[float, float, float], measure: str = "RD") -> list[str]:
    """Plain-word differences between two (estimate, low, high) results on the analysis scale.

    Checks the direction of the effect (in words that fit ``measure``; an effect below
    :data:`MATERIAL_RD` or within 1 +- :data:`MATERIAL_RATIO` is "no material difference"),
    statistical significance, and whether one interval excludes the other's estimate.

    >>> verdict((0.5, 0.2, 0.8), (-0.1, -0.3, 0.1))[0][:42]
    'They point in opposite directions: the cla'
    """
    measure = str(measure).upper()
    out = []
    ce, cl, ch = classical
    ke, kl, kh = causal
    sc, sk = _material(measure, ce), _material(measure, ke)
    if sc and sk and sc != sk:
        out.append(f"They point in opposite directions: the classical estimate says the "
                   f"treatment {direction_words(measure, ce)}, the causal one says it "
                   f"{direction_words(measure, ke)}.")
    elif sc != sk:
        out.append(f"The classical estimate says the treatment {direction_words(measure, ce)}; "
                   f"the causal one says it {direction_words(measure, ke)}.")
    sig_c, sig_k = not (cl <= 0 <= ch), not (kl <= 0 <= kh)
    if sig_c != sig_k:
        which, other = ("classical", "causal") if sig_c else ("causal", "classical")
        out.append(f"The {which} interval excludes no effect, the {other} one does not: "
                   "they disagree on statistical significance.")
    if not (kl <= ce <= kh):
        out.append("The classical estimate lies outside the causal confidence interval.")
    if not (cl <= ke <= ch):
        out.append("The causal estimate lies outside the classical confidence interval.")
    return out
