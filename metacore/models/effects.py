"""Study-level effect sizes (metafor's ``escalc``).

Each measure is a small function from canonical columns to ``(yi, vi)``;
:func:`compute_effects` validates rows, applies the continuity correction,
and keeps a reason for every row that yields no estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.table import KIND_COLUMNS, KIND_LABELS, StudyTable, missing_words, standardize
from metacore.errors import DataError, MeasureError, OptionError

__all__ = [
    "BINARY_MEASURES",
    "CORRELATION_MEASURES",
    "MEAN_MEASURES",
    "PROPORTION_MEASURES",
    "RATE_MEASURES",
    "TWO_RATE_MEASURES",
    "back_transform",
    "proportion_ci",
    "Counts",
    "binary_counts",
    "effects_from_counts",
    "CONTINUOUS_MEASURES",
    "GENERIC_MEASURES",
    "MEASURE_LABELS",
    "RATIO_MEASURES",
    "EffectSizes",
    "Exclusion",
    "compute_effects",
    "measures_for",
]

BINARY_MEASURES = ("OR", "RR", "RD", "AS", "PETO")
CONTINUOUS_MEASURES = ("MD", "SMD", "SMDH", "ROM")
GENERIC_MEASURES = ("GEN",)
#: Single-group proportions (events of n), the default (logit) first.
PROPORTION_MEASURES = ("PLO", "PR", "PLN", "PAS", "PFT")
#: Single-group rates (events per person-time), the default (log) first.
RATE_MEASURES = ("IRLN", "IR", "IRS", "IRFT")
#: Two-group rates with person-time.
TWO_RATE_MEASURES = ("IRR", "IRD")
#: Correlations, Fisher's z first (the one to pool).
CORRELATION_MEASURES = ("ZCOR", "COR", "UCOR")
#: Single-group means.
MEAN_MEASURES = ("MN", "MNLN")
#: Measures analysed on the log scale and shown back-transformed.
RATIO_MEASURES = frozenset({"OR", "RR", "PETO", "ROM", "IRR"})

MEASURE_LABELS: dict[str, str] = {
    "OR": "Odds ratio",
    "RR": "Risk ratio",
    "RD": "Risk difference",
    "AS": "Arcsine square-root risk difference",
    "PETO": "Peto odds ratio",
    "MD": "Mean difference",
    "SMD": "Standardised mean difference (Hedges' g)",
    "SMDH": "Standardised mean difference (heteroscedastic)",
    "ROM": "Ratio of means",
    "GEN": "Effect size",
    # Labels name what is shown after the back-transformation, then the analysis scale.
    "PR": "Proportion (raw)",
    "PLN": "Proportion (analysed as log)",
    "PLO": "Proportion (analysed as logit)",
    "PAS": "Proportion (analysed as arcsine square root)",
    "PFT": "Proportion (analysed as Freeman-Tukey double arcsine)",
    "IR": "Incidence rate (raw)",
    "IRLN": "Incidence rate (analysed as log)",
    "IRS": "Incidence rate (analysed as square root)",
    "IRFT": "Incidence rate (analysed as Freeman-Tukey)",
    "IRR": "Incidence rate ratio",
    "IRD": "Incidence rate difference",
    "COR": "Correlation (raw)",
    "UCOR": "Correlation (bias-corrected)",
    "ZCOR": "Correlation (analysed as Fisher's z)",
    "MN": "Mean",
    "MNLN": "Mean (analysed as log)",
}

#: Names a generic (ready-made) effect may be given: ratios are analysed on the log scale.
GENERIC_NAMES: dict[str, str] = {
    "HR": "Hazard ratio", "OR": "Odds ratio", "RR": "Risk ratio",
    "IRR": "Incidence rate ratio", "RATIO": "Ratio", "MD": "Mean difference",
    "SMD": "Standardised mean difference", "RD": "Risk difference",
}
GENERIC_RATIOS = frozenset({"HR", "OR", "RR", "IRR", "RATIO"})
#: How the numbers of a generic table are given: differences, ratios, or log ratios.
GENERIC_SCALES = ("linear", "ratio", "log")


def measure_name(measure: str, label: str = "") -> str:
    """The long name of a measure; a generic effect's own name when it has one.

    >>> measure_name("GEN", "HR"), measure_name("RR")
    ('Hazard ratio', 'Risk ratio')
    """
    if measure == "GEN" and label:
        return GENERIC_NAMES.get(label.upper(), label)
    return MEASURE_LABELS.get(measure, measure)

_KIND_OF = {**{m: "binary" for m in BINARY_MEASURES},
            **{m: "continuous" for m in CONTINUOUS_MEASURES}, "GEN": "generic",
            **{m: "proportion" for m in PROPORTION_MEASURES},
            **{m: "rate" for m in RATE_MEASURES},
            **{m: "two_rates" for m in TWO_RATE_MEASURES},
            **{m: "correlation" for m in CORRELATION_MEASURES},
            **{m: "mean" for m in MEAN_MEASURES}}
_CC_MEASURES = frozenset({"OR", "RR", "RD", "AS", "PETO", *PROPORTION_MEASURES,
                          *RATE_MEASURES, *TWO_RATE_MEASURES})
# metafor's default correction is 0 for the arcsine and Freeman-Tukey transforms and the
# square-root rate, which are finite at 0% and 100%: escalc's add = 0 for AS PAS PFT IRS IRFT.
_DEFAULT_CC = {"AS": 0.0, "PAS": 0.0, "PFT": 0.0, "IRS": 0.0, "IRFT": 0.0}
_CC_TO = ("only0", "all", "if0all", "none")
_Z975 = float(special.ndtri(0.975))
# Beyond these bounds weights and squared residuals overflow double precision; no real
# study comes near them.
_MAX_ABS_Y, _MIN_V, _MAX_V = 1e50, 1e-50, 1e50


class Exclusion(NamedTuple):
    """A study that yields no estimate, and why."""

    study: str
    reason: str


def measures_for(kind: str) -> tuple[str, ...]:
    """Effect measures valid for a data kind.

    >>> measures_for("continuous")
    ('MD', 'SMD', 'SMDH', 'ROM')
    >>> measures_for("proportion")
    ('PLO', 'PR', 'PLN', 'PAS', 'PFT')
    """
    return {"binary": BINARY_MEASURES, "continuous": CONTINUOUS_MEASURES,
            "generic": GENERIC_MEASURES, "proportion": PROPORTION_MEASURES,
            "rate": RATE_MEASURES, "two_rates": TWO_RATE_MEASURES,
            "correlation": CORRELATION_MEASURES, "mean": MEAN_MEASURES}[kind]


@dataclass(frozen=True, eq=False)
class EffectSizes:
    """Effect sizes of the usable studies, and the reasons for the others.

    Attributes
    ----------
    yi, vi
        Estimates and sampling variances on the analysis scale (log for ratios).
    study
        Study labels, aligned with ``yi``.
    measure
        Effect measure code (``"OR"``, ``"SMD"``, ...).
    excluded
        ``(study, reason)`` for each row that gives no estimate.
    rows
        1-based input row number of each estimate.
    excluded_rows
        1-based input row number of each exclusion.
    ratio
        True when ``yi`` is a log ratio (shown exponentiated).
    data
        The canonical input rows behind the estimates (counts, means, ...).
    cc_applied
        True for studies whose cells received the continuity correction.
    label
        Short name of a generic effect (``"HR"``), empty otherwise.
    excluded_data
        The canonical input rows (with ``row`` and ``include``) of the excluded studies
        whose data could be read, e.g. double-zero trials: "not estimable", yet their
        participants count.
    """

    yi: np.ndarray
    vi: np.ndarray
    study: tuple[str, ...]
    measure: str
    excluded: tuple[Exclusion, ...] = ()
    rows: tuple[int, ...] = ()
    excluded_rows: tuple[int, ...] = ()
    ratio: bool = False
    data: pd.DataFrame = field(default_factory=pd.DataFrame)
    cc_applied: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    cc: float = 0.5
    cc_to: str = "only0"
    drop00: bool = False
    label: str = ""
    excluded_data: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Long name of the measure (``"Hazard ratio"`` for a generic HR)."""
        return measure_name(self.measure, self.label)

    def transform(self, x: float | np.ndarray) -> float | np.ndarray:
        """Back-transform values from the analysis scale to the natural one, as
        :meth:`metacore.PoolResult.natural` does (harmonic means of these studies)."""
        return back_transform(self.measure, x, vi=self.vi, ratio=self.ratio)

    @property
    def k(self) -> int:
        """Number of studies with an estimate."""
        return int(self.yi.size)

    @property
    def sei(self) -> np.ndarray:
        """Standard errors."""
        return np.sqrt(self.vi)

    def ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wald interval of each study on the analysis scale."""
        z = special.ndtri(0.5 + level / 2)
        return self.yi - z * self.sei, self.yi + z * self.sei

    def subset(self, keep: np.ndarray) -> EffectSizes:
        """The same effect sizes restricted to a boolean or index selection."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return EffectSizes(
            yi=self.yi[idx], vi=self.vi[idx], study=tuple(self.study[i] for i in idx),
            measure=self.measure, excluded=self.excluded,
            rows=tuple(self.rows[i] for i in idx) if self.rows else (),
            excluded_rows=self.excluded_rows, ratio=self.ratio,
            data=self.data.iloc[idx].reset_index(drop=True) if len(self.data) else self.data,
            cc_applied=self.cc_applied[idx] if self.cc_applied.size else self.cc_applied,
            cc=self.cc, cc_to=self.cc_to, drop00=self.drop00, label=self.label,
            excluded_data=self.excluded_data, notes=self.notes)

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per study: estimate, variance, SE and Wald interval.

        Excluded rows follow with their reason and empty estimates.
        """
        lo, hi = self.ci(level)
        used = pd.DataFrame({"row": list(self.rows) or range(1, self.k + 1),
                             "study": list(self.study), "yi": self.yi, "vi": self.vi,
                             "sei": self.sei, "ci_low": lo, "ci_high": hi, "excluded": ""})
        if not self.excluded:
            return used
        dropped = pd.DataFrame({"row": list(self.excluded_rows),
                                "study": [e.study for e in self.excluded],
                                "excluded": [e.reason for e in self.excluded]})
        out = pd.concat([used, dropped], ignore_index=True)
        return out.sort_values("row", kind="stable").reset_index(drop=True)


# --- one function per measure: canonical columns -> (yi, vi) ----------------------

def _or(a, b, c, d, n1, n2):
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def _rr(a, b, c, d, n1, n2):
    return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2


def _rd(a, b, c, d, n1, n2):
    p1, p2 = a / n1, c / n2
    return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def _as(a, b, c, d, n1, n2):
    return (np.arcsin(np.sqrt(a / n1)) - np.arcsin(np.sqrt(c / n2)),
            1 / (4 * n1) + 1 / (4 * n2))


def _peto(a, b, c, d, n1, n2):
    n = n1 + n2
    m = a + c
    expected = n1 * m / n
    v = m * (n - m) * n1 * n2 / (n**2 * (n - 1))
    return (a - expected) / v, 1 / v


def _md(m1, s1, n1, m2, s2, n2):
    return m1 - m2, s1**2 / n1 + s2**2 / n2


def _hedges_correction(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction c(m) of Hedges (1981), m = n1 + n2 - 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def _smd(m1, s1, n1, m2, s2, n2):
    pooled = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    g = _hedges_correction(n1 + n2 - 2) * (m1 - m2) / pooled
    return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def _smdh(m1, s1, n1, m2, s2, n2):
    # Bonett (2008): standardiser is the average of the two variances.
    sdi = np.sqrt((s1**2 + s2**2) / 2)
    d = _hedges_correction(n1 + n2 - 2) * (m1 - m2) / sdi
    v = (d**2 * (s1**4 / (n1 - 1) + s2**4 / (n2 - 1)) / (8 * sdi**4)
         + (s1**2 / (n1 - 1) + s2**2 / (n2 - 1)) / sdi**2)
    # metafor scales the large-sample variance by c(m)^2 as well.
    return d, _hedges_correction(n1 + n2 - 2) ** 2 * v


def _rom(m1, s1, n1, m2, s2, n2):
    return np.log(m1 / m2), s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)


_BINARY: dict[str, Callable] = {"OR": _or, "RR": _rr, "RD": _rd, "AS": _as, "PETO": _peto}
_CONTINUOUS: dict[str, Callable] = {"MD": _md, "SMD": _smd, "SMDH": _smdh, "ROM": _rom}


# One group: x events (after any correction) of n = x + m, as in escalc's PR ... PFT.
def _pr(x, n):
    p = x / n
    return p, p * (1 - p) / n


def _pln(x, n):
    return np.log(x / n), 1 / x - 1 / n


def _plo(x, n):
    return np.log(x / (n - x)), 1 / x + 1 / (n - x)


def _pas(x, n):
    return np.arcsin(np.sqrt(x / n)), 1 / (4 * n)


def _pft(x, n):
    return (0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1)))),
            1 / (4 * n + 2))


# Rates: x events in person-time t.
def _ir(x, t):
    return x / t, x / t**2


def _irln(x, t):
    return np.log(x / t), 1 / x


def _irs(x, t):
    return np.sqrt(x / t), 1 / (4 * t)


def _irft(x, t):
    return 0.5 * (np.sqrt(x / t) + np.sqrt(x / t + 1 / t)), 1 / (4 * t)


def _irr(x1, t1, x2, t2):
    return np.log(x1 / t1) - np.log(x2 / t2), 1 / x1 + 1 / x2


def _ird(x1, t1, x2, t2):
    return x1 / t1 - x2 / t2, x1 / t1**2 + x2 / t2**2


# Correlations: escalc's "LS" variances; none for n <= 3.
def _cor(r, n):
    return r, (1 - r**2) ** 2 / (n - 1)


def _hyp2f1_halves(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """2F1(1/2, 1/2; g; x) for 0 <= x <= 1 and g > 1 (as gsl's hyperg_2F1 in metafor).

    scipy's hyp2f1 gives NaN for the large g of big studies; there the power series
    converges within a few dozen terms (its terms fall like k^-(g-1)), so it is summed.
    """
    out = special.hyp2f1(0.5, 0.5, g, x)
    big = ~np.isfinite(out) | (g > 20)
    if big.any():
        gb, xb = g[big], x[big]
        term = np.ones_like(gb)
        total = term.copy()
        for k in range(2000):
            term = term * (k + 0.5) ** 2 / ((gb + k) * (k + 1)) * xb
            total += term
            if np.all(term <= 1e-17 * total):
                break
        out = out.copy()
        out[big] = total
    return out


def _ucor(r, n):
    # Olkin & Pratt's unbiased estimator r * 2F1(1/2, 1/2; (n-2)/2; 1-r^2), defined for
    # n > 4 (metafor: NA otherwise).
    g = np.atleast_1d((n - 2) / 2)
    r = np.atleast_1d(r)
    ok = (g > 1) & np.isfinite(r) & (np.abs(r) <= 1)
    u = np.full(g.shape, np.nan)
    u[ok] = r[ok] * _hyp2f1_halves(g[ok], 1 - r[ok] ** 2)
    return u, (1 - u**2) ** 2 / (n - 1)


def _zcor(r, n):
    return np.arctanh(r), 1 / (n - 3)


def _mn(m, sd, n):
    return m, sd**2 / n


def _mnln(m, sd, n):
    return np.log(m), sd**2 / (n * m**2)


_ONE_GROUP: dict[str, Callable] = {"PR": _pr, "PLN": _pln, "PLO": _plo, "PAS": _pas,
                                   "PFT": _pft, "IR": _ir, "IRLN": _irln, "IRS": _irs,
                                   "IRFT": _irft, "COR": _cor, "UCOR": _ucor, "ZCOR": _zcor,
                                   "MN": _mn, "MNLN": _mnln, "IRR": _irr, "IRD": _ird}
_SCALE_WORDS = {"PR": "proportion", "PLN": "log proportion", "PLO": "logit",
                "IR": "rate", "IRLN": "log rate", "IRR": "log rate ratio",
                "IRD": "rate difference", "PAS": "arcsine", "PFT": "double arcsine",
                "IRS": "square-root rate", "IRFT": "Freeman-Tukey rate"}


# --- back to the natural scale (metafor's transf.* functions) --------------------------

def _harmonic(values: np.ndarray | None) -> float:
    v = np.asarray(values, float) if values is not None else np.zeros(0)
    v = v[np.isfinite(v)]
    return float(1 / np.mean(1 / v)) if v.size else float("nan")


def _pft_of(p: float, n: float) -> float:
    """metafor's transf.pft: the double arcsine of a proportion p at sample size n."""
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


@np.errstate(all="ignore")
def back_transform(measure: str, x: float | np.ndarray, *, vi: np.ndarray | None = None,
                   ni: np.ndarray | None = None, ti: np.ndarray | None = None,
                   ratio: bool = False) -> float | np.ndarray:
    """Values on the analysis scale back on the natural one, as metafor's ``transf.*``.

    PLO ``transf.ilogit``; PAS ``transf.iarcsin``; PFT ``transf.ipft.hm`` at the harmonic
    mean of the sample sizes ``ni``; IRFT ``transf.iirft`` at the harmonic mean of the
    person-times ``ti``; ZCOR ``transf.ztor``; PLN IRLN IRR MNLN and the other log-ratio
    measures (``ratio=True``) ``exp``; IRS the square; every other measure unchanged.
    For PFT and IRFT the sizes may instead come from the sampling variances ``vi`` of the
    studies, which determine them (PFT: vi = 1/(4n + 2); IRFT: vi = 1/(4t)).

    Examples
    --------
    >>> round(float(back_transform("PLO", 0.0)), 3), round(float(back_transform("ZCOR", 0.5)), 4)
    (0.5, 0.4621)
    >>> round(float(back_transform("PFT", 0.5, ni=[10, 20, 40])), 4)
    0.2147
    """
    arr = np.asarray(x, float)
    scalar = arr.ndim == 0
    out: np.ndarray
    if measure == "PLO":
        out = special.expit(arr)
    elif measure == "PAS":
        out = np.where(arr < 0, 0.0, np.where(arr > np.arcsin(1.0), 1.0, np.sin(arr) ** 2))
    elif measure == "PFT":
        n = _harmonic(ni if ni is not None else
                      (1 / np.asarray(vi, float) - 2) / 4 if vi is not None else None)
        s2 = np.sin(2 * arr)
        z = 0.5 * (1 - np.sign(np.cos(2 * arr)) * np.sqrt(1 - (s2 + (s2 - 1 / s2) / n) ** 2))
        out = np.where(arr > _pft_of(1.0, n), 1.0, np.where(arr < _pft_of(0.0, n), 0.0, z))
    elif measure == "IRFT":
        t = _harmonic(ti if ti is not None else
                      1 / (4 * np.asarray(vi, float)) if vi is not None else None)
        z = (1 / t - 8 * arr**2 + 16 * t * arr**4) / (16 * arr**2 * t)
        z = np.where(arr < 0.5 * np.sqrt(1 / t), 0.0, z)
        out = np.where(z <= np.finfo(float).eps, 0.0, z)
    elif measure == "ZCOR":
        out = np.tanh(arr)
    elif measure in ("PLN", "IRLN", "MNLN") or measure in RATIO_MEASURES or ratio:
        out = np.exp(arr)
    elif measure == "IRS":
        out = np.where(arr < 0, 0.0, arr * arr)
    else:
        out = arr
    return float(out) if scalar else out


def proportion_ci(events: float | np.ndarray, n: float | np.ndarray, level: float = 0.95,
                  method: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Confidence interval of each study's proportion events / n.

    ``method="exact"`` is Clopper-Pearson (R's ``binom.test``; meta's default for the
    study rows); ``"wilson"`` is the Wilson score interval (R's ``prop.test(correct =
    FALSE)``). Neither needs a correction at 0% or 100%.

    Examples
    --------
    >>> lo, hi = proportion_ci([0, 7], [20, 10])
    >>> [round(float(v), 4) for v in (lo[0], hi[0], lo[1], hi[1])]
    [0.0, 0.1684, 0.3475, 0.9333]
    """
    if method not in ("exact", "wilson"):
        raise OptionError(f"The interval of a proportion is 'exact' (Clopper-Pearson) or "
                          f"'wilson', not '{method}'.")
    if not 0 < level < 1:
        raise OptionError(f"The confidence level must be between 0 and 1, not {level}.")
    from scipy import stats
    x = np.asarray(events, float)
    m = np.asarray(n, float)
    alpha = 1 - level
    with np.errstate(all="ignore"):
        if method == "exact":
            lo = np.where(x > 0, stats.beta.ppf(alpha / 2, x, m - x + 1), 0.0)
            hi = np.where(x < m, stats.beta.ppf(1 - alpha / 2, x + 1, m - x), 1.0)
        else:
            z = special.ndtri(1 - alpha / 2)
            p = x / m
            centre = (x + z * z / 2) / (m + z * z)
            half = z * np.sqrt(m * p * (1 - p) + z * z / 4) / (m + z * z)
            lo, hi = np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0)
    return np.asarray(lo, float), np.asarray(hi, float)


# --- row validation -------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:g}"


def _named(reasons: list[str], col: str) -> bool:
    """True when a reason already speaks of ``col`` (e.g. its text was not a number)."""
    return any(r.startswith(f"{col} ") or f"({col}) " in r for r in reasons)


def _check_missing(data: pd.DataFrame, cols: tuple[str, ...], reasons: list[list[str]]) -> None:
    for col in cols:
        values = data[col].to_numpy(dtype=float)
        for i in np.flatnonzero(np.isnan(values)):
            if not _named(reasons[i], col):   # one reason per problem, not two
                reasons[i].append(f"{col} is missing")
        for i in np.flatnonzero(np.isinf(values)):
            reasons[i].append(f"{col} is not a finite number")


#: No trial has more participants than this; larger "counts" are typing or export errors.
MAX_COUNT = 1e9


def _check_counts(data: pd.DataFrame, cols: tuple[str, ...], reasons: list[list[str]]) -> None:
    """Counts must be whole numbers of plausible size."""
    for col in cols:
        x = data[col].to_numpy(float)
        finite = np.isfinite(x)
        for i in np.flatnonzero(finite & (np.abs(x) > MAX_COUNT)):
            reasons[i].append(f"{col} ({_fmt(x[i])}) is implausibly large for a count")
        for i in np.flatnonzero(finite & (np.abs(x) <= MAX_COUNT) & (x != np.round(x))):
            reasons[i].append(f"{col} ({_fmt(x[i])}) is not a whole number")


def _validate_binary(data: pd.DataFrame, reasons: list[list[str]]) -> None:
    _check_missing(data, KIND_COLUMNS["binary"], reasons)
    _check_counts(data, KIND_COLUMNS["binary"], reasons)
    a, n1 = data["events_t"].to_numpy(float), data["n_t"].to_numpy(float)
    c, n2 = data["events_c"].to_numpy(float), data["n_c"].to_numpy(float)
    for name, x in (("events_t", a), ("events_c", c)):
        for i in np.flatnonzero(x < 0):
            reasons[i].append(f"{name} is negative ({_fmt(x[i])})")
    for name, arm, x in (("n_t", "treatment", n1), ("n_c", "control", n2)):
        for i in np.flatnonzero(x <= 0):
            reasons[i].append(f"the {arm} arm has no participants ({name} = {_fmt(x[i])})")
    for ev, tot, x, n in (("events_t", "n_t", a, n1), ("events_c", "n_c", c, n2)):
        for i in np.flatnonzero((x > n) & (n > 0)):
            reasons[i].append(f"{ev} ({_fmt(x[i])}) is larger than {tot} ({_fmt(n[i])})")


def _validate_continuous(data: pd.DataFrame, measure: str, reasons: list[list[str]]) -> None:
    _check_missing(data, KIND_COLUMNS["continuous"], reasons)
    _check_counts(data, ("n_t", "n_c"), reasons)
    for name in ("sd_t", "sd_c"):
        x = data[name].to_numpy(float)
        for i in np.flatnonzero(x < 0):
            reasons[i].append(f"{name} is negative ({_fmt(x[i])})")
    for name, arm in (("n_t", "treatment"), ("n_c", "control")):
        x = data[name].to_numpy(float)
        need = 2 if measure == "SMDH" else 1
        for i in np.flatnonzero(x < need):
            reasons[i].append(f"the {arm} arm needs at least {need} participant"
                              f"{'s' if need > 1 else ''} ({name} = {_fmt(x[i])})")
    if measure == "SMD":
        # Hedges' correction c(m) needs m = n_t + n_c - 2 > 1 (metafor: NA otherwise).
        total = data["n_t"].to_numpy(float) + data["n_c"].to_numpy(float)
        for i in np.flatnonzero(np.isfinite(total) & (total < 4) & (total >= 2)):
            reasons[i].append(f"the standardised mean difference needs at least 4 participants "
                              f"in all (n_t + n_c = {_fmt(total[i])}), so Hedges' correction "
                              "is undefined")
    if measure == "ROM":
        for name in ("mean_t", "mean_c"):
            x = data[name].to_numpy(float)
            for i in np.flatnonzero(x <= 0):
                reasons[i].append(
                    f"the ratio of means needs positive means ({name} = {_fmt(x[i])})")


def _check_nonnegative_counts(data, cols, reasons):
    _check_counts(data, cols, reasons)
    for col in cols:
        x = data[col].to_numpy(float)
        for i in np.flatnonzero(x < 0):
            reasons[i].append(f"{col} is negative ({_fmt(x[i])})")


def _check_positive(data, cols, reasons, what):
    for col in cols:
        x = data[col].to_numpy(float)
        for i in np.flatnonzero(x <= 0):
            reasons[i].append(f"{col} ({_fmt(x[i])}) must be positive: {what}")


def _validate_one_group(data: pd.DataFrame, kind: str, measure: str,
                        reasons: list[list[str]]) -> None:
    """Row checks of the one-group kinds and two-group rates (escalc stops on these)."""
    _check_missing(data, KIND_COLUMNS[kind], reasons)
    if kind == "proportion":
        _check_nonnegative_counts(data, ("events", "n"), reasons)
        x, n = data["events"].to_numpy(float), data["n"].to_numpy(float)
        for i in np.flatnonzero(n == 0):
            reasons[i].append("the group has no participants (n = 0)")
        for i in np.flatnonzero((x > n) & (n > 0)):
            reasons[i].append(f"events ({_fmt(x[i])}) is larger than n ({_fmt(n[i])})")
    elif kind == "rate":
        _check_nonnegative_counts(data, ("events",), reasons)
        _check_positive(data, ("time",), reasons, "a rate needs some person-time")
    elif kind == "two_rates":
        _check_nonnegative_counts(data, ("events_t", "events_c"), reasons)
        _check_positive(data, ("time_t", "time_c"), reasons, "a rate needs some person-time")
    elif kind == "correlation":
        _check_counts(data, ("n",), reasons)
        r, n = data["r"].to_numpy(float), data["n"].to_numpy(float)
        for i in np.flatnonzero(np.abs(r) > 1):
            reasons[i].append(f"r ({_fmt(r[i])}) is not a correlation (between -1 and 1)")
        need = 5 if measure == "UCOR" else 4
        what = "bias-corrected correlation" if need == 5 else "sampling variance of a correlation"
        for i in np.flatnonzero(n < need):
            reasons[i].append(f"n ({_fmt(n[i])}) is too small: the {what} needs at least "
                              f"{need} participants")
    elif kind == "mean":
        _check_counts(data, ("n",), reasons)
        _check_positive(data, ("n",), reasons, "a mean needs participants")
        sd = data["sd"].to_numpy(float)
        for i in np.flatnonzero(sd < 0):
            reasons[i].append(f"sd is negative ({_fmt(sd[i])})")
        if measure == "MNLN":
            m = data["mean"].to_numpy(float)
            for i in np.flatnonzero(m <= 0):
                reasons[i].append(f"the log of a mean needs a positive mean (mean = {_fmt(m[i])})")


def _corrected(zero: np.ndarray, valid: np.ndarray, cc: float, cc_to: str) -> np.ndarray:
    """Which studies get escalc's ``add`` under ``to`` (only0, all, if0all, none)."""
    if cc <= 0 or cc_to == "none":
        return np.zeros(zero.size, dtype=bool)
    if cc_to == "all":
        return valid.copy()
    if cc_to == "only0":
        return zero & valid
    return valid.copy() if (zero & valid).any() else np.zeros(zero.size, dtype=bool)


@np.errstate(all="ignore")
def _one_group_effects(data: pd.DataFrame, kind: str, measure: str, cc: float, cc_to: str,
                       drop00: bool, reasons: list[list[str]]):
    """(yi, vi, cc_applied, notes) of one-group data and two-group rates, as escalc."""
    col = {c: data[c].to_numpy(float) for c in KIND_COLUMNS[kind]}
    valid = np.array([not r for r in reasons], dtype=bool)
    applied = np.zeros(len(data), dtype=bool)
    notes: list[str] = []
    if kind == "proportion":
        x, n = col["events"], col["n"]
        zero = (x == 0) | (x == n)
        applied = _corrected(zero, valid, cc, cc_to)
        add = np.where(applied, cc, 0.0)
        yi, vi = _ONE_GROUP[measure](x + add, n + 2 * add)
        what = "the events and non-events"
        boundary = "0% or 100% events"
    elif kind == "rate":
        x, t = col["events"], col["time"]
        zero = x == 0
        applied = _corrected(zero, valid, cc, cc_to)
        yi, vi = _ONE_GROUP[measure](x + np.where(applied, cc, 0.0), t)
        what, boundary = "the events", "no events"
    elif kind == "two_rates":
        x1, t1, x2, t2 = col["events_t"], col["time_t"], col["events_c"], col["time_c"]
        if drop00:
            for i in np.flatnonzero(valid & (x1 == 0) & (x2 == 0)):
                reasons[i].append("no events in either group, and double-zero studies are "
                                  "set to be dropped")
            valid &= ~((x1 == 0) & (x2 == 0))
        zero = (x1 == 0) | (x2 == 0)
        applied = _corrected(zero, valid, cc, cc_to)
        add = np.where(applied, cc, 0.0)
        yi, vi = _ONE_GROUP[measure](x1 + add, t1, x2 + add, t2)
        what, boundary = "the events of both groups", "a group without events"
    elif kind == "correlation":
        yi, vi = _ONE_GROUP[measure](col["r"], col["n"])
    else:
        yi, vi = _ONE_GROUP[measure](col["mean"], col["sd"], col["n"])
    if applied.any():
        k = int(applied.sum())
        scale = _SCALE_WORDS.get(measure, "estimate")
        notes.append(
            f"{cc:g} was added to {what} of {k} stud{'y' if k == 1 else 'ies'}"
            + (f" with {boundary}" if cc_to == "only0" else f" (to = '{cc_to}')")
            + f", as metafor's escalc does, so that {'its' if k == 1 else 'their'} {scale} "
            "and variance are finite.")
    elif kind in ("proportion", "rate", "two_rates") and (zero & valid).any() \
            and measure in _DEFAULT_CC:
        notes.append(f"Studies with {boundary} need no correction on the {_SCALE_WORDS[measure]}"
                     " scale; none was added (escalc's default for this measure).")
    return yi, vi, applied, notes


def _generic_effects(data: pd.DataFrame, ratio_scale: bool,
                     reasons: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(data)
    yi = data["yi"].to_numpy(float).copy() if "yi" in data else np.full(n, np.nan)
    lo = data["ci_low"].to_numpy(float).copy() if "ci_low" in data else np.full(n, np.nan)
    hi = data["ci_high"].to_numpy(float).copy() if "ci_high" in data else np.full(n, np.nan)
    vi = data["vi"].to_numpy(float).copy() if "vi" in data else np.full(n, np.nan)
    sei = data["sei"].to_numpy(float).copy() if "sei" in data else np.full(n, np.nan)
    if "oe" in data:
        # RevMan's "O - E and variance": the log hazard (Peto odds) ratio is (O - E) / V
        # with variance 1 / V; a row with its own estimate keeps it.
        oe = data["oe"].to_numpy(float)
        use = np.isnan(yi) & np.isfinite(oe)
        for i in np.flatnonzero(use & ~(vi > 0)):
            reasons[i].append(f"the variance of O − E must be positive ({_fmt(vi[i])})")
        with np.errstate(invalid="ignore", divide="ignore"):
            yi = np.where(use, oe / vi, yi)
            vi = np.where(use, 1 / vi, vi)
    with np.errstate(invalid="ignore", divide="ignore"):
        if ratio_scale:
            for name, x in (("yi", yi), ("ci_low", lo), ("ci_high", hi)):
                for i in np.flatnonzero(x <= 0):
                    reasons[i].append(f"{name} must be a positive ratio ({_fmt(x[i])})")
            yi, lo, hi = np.log(yi), np.log(lo), np.log(hi)
        from_ci = (hi - lo) / (2 * _Z975)
    # The variance comes from vi, else sei, else the interval; decided for all rows at
    # once (tables of millions of studies), with reasons only for the rows that fail.
    has_v, has_se = ~np.isnan(vi), ~np.isnan(sei)
    has_ci = ~(np.isnan(lo) | np.isnan(hi))
    use_se = ~has_v & has_se
    use_ci = ~has_v & ~has_se & has_ci
    with np.errstate(invalid="ignore"):
        vi = np.where(use_se, np.square(sei), np.where(use_ci, np.square(from_ci), vi))
        bad = np.isnan(yi) | (has_v & ~(vi > 0)) | (use_se & ~(sei > 0)) | \
            (use_ci & ~(lo < hi)) | (~has_v & ~has_se & ~has_ci)
    for i in np.flatnonzero(bad):
        if np.isnan(yi[i]):
            if not any(r.startswith("yi") for r in reasons[i]):
                reasons[i].append("yi (the effect estimate) is missing")
        elif has_v[i]:
            reasons[i].append(f"vi (the variance) must be positive ({_fmt(vi[i])})")
        elif has_se[i]:
            reasons[i].append(f"sei (the standard error) must be positive ({_fmt(sei[i])})")
        elif has_ci[i]:
            reasons[i].append(
                "the confidence interval's lower bound is not below its upper bound")
        else:
            reasons[i].append("no standard error, variance or confidence interval is given")
    return yi, vi


@dataclass(frozen=True, eq=False)
class Counts:
    """Validated 2x2 counts of the usable studies: the one home of the row checks.

    Effect sizes (:func:`compute_effects`), Mantel-Haenszel and Peto pooling and the
    causal estimator all start from these. Rows with unreadable or impossible counts,
    and rows the user left out, are in ``excluded`` with their reasons.
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    data: pd.DataFrame
    excluded: tuple[Exclusion, ...] = ()
    excluded_rows: tuple[int, ...] = ()

    @property
    def n1(self) -> np.ndarray:
        return self.a + self.b

    @property
    def n2(self) -> np.ndarray:
        return self.c + self.d

    @property
    def k(self) -> int:
        return int(self.a.size)

    @property
    def study(self) -> tuple[str, ...]:
        return tuple(str(x) for x in self.data["study"])

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(int(r) for r in self.data["row"])


def _table_of_kind(table: pd.DataFrame | StudyTable, kind: str,
                   measure: str) -> tuple[StudyTable, list[list[str]]]:
    """The standardised table, checked to hold ``kind`` data, and each row's read problems."""
    st = standardize(table)
    if kind not in st.kinds:
        need = {"binary": "events and totals in both arms",
                "continuous": "means, SDs and totals in both arms",
                "generic": "an effect estimate with its standard error, variance or CI"
                }.get(kind) or KIND_LABELS.get(kind, kind)
        label = f"{MEASURE_LABELS[measure]} ({measure})" if measure in MEASURE_LABELS else \
            "A 2×2 analysis"
        raise MeasureError(f"{label} needs {need}. {missing_words(st.data, kind)} Map the "
                           "columns on the Data page, or choose a measure for the data given.")
    if len(st.data) == 0:
        raise DataError("The study table has no rows: add at least one study.")
    problems = st.problems
    return st, [list(problems[r]) if r in problems else [] for r in st.data["row"].tolist()]


def _split(data: pd.DataFrame, reasons: list[list[str]]):
    """Indices of the rows without reasons, and the others as exclusions in row order."""
    user_out = ~data["include"].to_numpy(bool)
    for i in np.flatnonzero(user_out):
        if not reasons[i]:
            reasons[i].append("left out by the user (include is unticked)")
    keep = np.array([not r for r in reasons], dtype=bool)
    out = np.flatnonzero(~keep)
    studies, rows = data["study"].to_numpy(), data["row"].to_numpy()
    excluded = tuple(Exclusion(str(studies[i]), f"row {int(rows[i])}: " + "; ".join(reasons[i]))
                     for i in out)
    return np.flatnonzero(keep), excluded, tuple(int(rows[i]) for i in out)


def binary_counts(table: pd.DataFrame | StudyTable, measure: str = "2x2") -> Counts:
    """Validated 2x2 counts (events and totals per arm) of every usable study.

    Examples
    --------
    >>> import metacore as mc
    >>> cnt = binary_counts(mc.datasets.load("bcg"))
    >>> cnt.k, int(cnt.a[0]), int(cnt.b[0])
    (13, 4, 119)
    """
    st, reasons = _table_of_kind(table, "binary", measure)
    data = st.data
    _validate_binary(data, reasons)
    idx, excluded, excluded_rows = _split(data, reasons)
    kept = data.iloc[idx].reset_index(drop=True)
    a, n1 = kept["events_t"].to_numpy(float), kept["n_t"].to_numpy(float)
    c, n2 = kept["events_c"].to_numpy(float), kept["n_c"].to_numpy(float)
    return Counts(a=a, b=n1 - a, c=c, d=n2 - c, data=kept, excluded=excluded,
                  excluded_rows=excluded_rows)


def _check_options(measure: str, cc: float | None, cc_to: str) -> tuple[str, float]:
    measure = str(measure).upper()
    if measure not in _KIND_OF:
        raise MeasureError(f"Unknown effect measure '{measure}'. Choose one of "
                           + ", ".join(_KIND_OF) + ".")
    if cc_to not in _CC_TO:
        raise OptionError(f"cc_to must be one of {', '.join(_CC_TO)}, not '{cc_to}'.")
    if cc is None:
        cc = _DEFAULT_CC.get(measure, 0.5)
    if not np.isfinite(cc) or cc < 0:
        raise OptionError(f"The continuity correction must be a non-negative number, not {cc}.")
    return measure, float(cc)


@np.errstate(all="ignore")
def effects_from_counts(counts: Counts, measure: str, *, cc: float | None = None,
                        cc_to: str = "only0", drop00: bool = False) -> EffectSizes:
    """Effect sizes of validated 2x2 counts (the binary part of :func:`compute_effects`)."""
    measure, cc = _check_options(measure, cc, cc_to)
    if _KIND_OF[measure] != "binary":
        raise MeasureError(f"{measure} is not a measure for 2x2 tables.")
    a, b, c, d = counts.a, counts.b, counts.c, counts.d
    reasons: list[list[str]] = [[] for _ in range(counts.k)]
    valid = np.ones(counts.k, dtype=bool)
    double = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if drop00:
        for i in np.flatnonzero(double):
            reasons[i].append("no events (or only events) in both arms, and double-zero "
                              "studies are set to be dropped")
        valid &= ~double
    cc_applied = np.zeros(counts.k, dtype=bool)
    if measure in _CC_MEASURES and cc > 0 and cc_to != "none":
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        if cc_to == "all":
            cc_applied = valid.copy()
        elif cc_to == "only0":
            cc_applied = zero & valid
        elif (zero & valid).any():
            cc_applied = valid.copy()
        add = np.where(cc_applied, cc, 0.0)
        a, b, c, d = a + add, b + add, c + add, d + add
    yi, vi = _BINARY[measure](a, b, c, d, a + b, c + d)
    return _assemble(counts.data, reasons, yi, vi, measure, cc, cc_to, drop00, False,
                     cc_applied, counts.excluded, counts.excluded_rows)


def _assemble(data: pd.DataFrame, reasons: list[list[str]], yi: np.ndarray, vi: np.ndarray,
              measure: str, cc: float, cc_to: str, drop00: bool, ratio_scale: bool,
              cc_applied: np.ndarray, prior: tuple[Exclusion, ...] = (),
              prior_rows: tuple[int, ...] = (), label: str = "") -> EffectSizes:
    """EffectSizes from per-row estimates: rows that give none are named with the reason."""
    include = data["include"].to_numpy(bool)
    with np.errstate(invalid="ignore"):
        fine = np.isfinite(yi) & np.isfinite(vi) & (vi > 0) & (np.abs(yi) <= _MAX_ABS_Y) & \
            (vi >= _MIN_V) & (vi <= _MAX_V)
    for i in np.flatnonzero(include & ~fine):    # only the rows that fail: named one by one
        if reasons[i]:
            continue
        if not np.isfinite(yi[i]):
            reasons[i].append(_why_not_finite(measure, cc_to, cc))
        elif not np.isfinite(vi[i]) or vi[i] <= 0:
            reasons[i].append("its sampling variance is zero or undefined (e.g. all or no events "
                              "in both arms, or zero SDs), so it carries no usable weight")
        elif abs(yi[i]) > _MAX_ABS_Y or not _MIN_V <= vi[i] <= _MAX_V:
            reasons[i].append(f"its values are too extreme to compute with (estimate "
                              f"{yi[i]:.3g}, variance {vi[i]:.3g})")
    idx, excluded, excluded_rows = _split(data, reasons)
    if prior:   # exclusions found earlier (count checks) go back in row order
        merged = sorted(zip(prior_rows + excluded_rows, prior + excluded, strict=True))
        excluded_rows = tuple(r for r, _ in merged)
        excluded = tuple(e for _, e in merged)
    ratio = measure in RATIO_MEASURES or (measure == "GEN" and ratio_scale)
    return EffectSizes(
        yi=np.asarray(yi, float)[idx], vi=np.asarray(vi, float)[idx],
        study=tuple(map(str, data["study"].to_numpy()[idx].tolist())), measure=measure,
        excluded=excluded, rows=tuple(map(int, data["row"].to_numpy()[idx].tolist())),
        excluded_rows=excluded_rows, ratio=ratio, data=data.iloc[idx].reset_index(drop=True),
        cc_applied=cc_applied[idx], cc=cc, cc_to=cc_to, drop00=drop00,
        label=label if measure == "GEN" else "",
        excluded_data=data.drop(index=data.index[idx]).reset_index(drop=True))


def compute_effects(table: pd.DataFrame | StudyTable, measure: str, *, cc: float | None = None,
                    cc_to: str = "only0", drop00: bool = False,
                    ratio_scale: bool = False, scale: str | None = None,
                    label: str = "") -> EffectSizes:
    """Compute study effect sizes and sampling variances, like metafor's ``escalc``.

    Parameters
    ----------
    table
        Study table (canonical columns or any alias in :data:`metacore.data.table.ALIASES`).
    measure
        ``OR RR RD AS PETO`` (2x2 counts), ``MD SMD SMDH ROM`` (means and SDs),
        ``GEN`` (ready ``yi`` with ``sei``, ``vi`` or ``ci_low``/``ci_high``);
        one group's proportion ``PLO PR PLN PAS PFT`` (``events``, ``n``), rate
        ``IRLN IR IRS IRFT`` (``events``, ``time``), correlation ``ZCOR COR UCOR``
        (``r``, ``n``) or mean ``MN MNLN`` (``mean``, ``sd``, ``n``); two-group rates
        ``IRR IRD`` (``events_t``, ``time_t``, ``events_c``, ``time_c``).
    cc
        Continuity correction added to the cells of 2x2 tables (to the events and
        non-events of a 0% or 100% proportion; to the events of a rate without events);
        ``None`` means metafor's default, 0.5 (0 for ``AS PAS PFT IRS IRFT``).
    cc_to
        ``"only0"`` (studies with a zero cell; the default), ``"all"``,
        ``"if0all"`` (all studies if any has a zero cell) or ``"none"``.
    drop00
        Leave out studies with no events (or only events) in both arms.
    ratio_scale
        For ``GEN``: ``yi`` and the interval are ratios on the natural scale;
        their logs are analysed (the same as ``scale="ratio"``).
    scale
        For ``GEN``: ``"linear"`` (differences), ``"ratio"`` (natural-scale ratios,
        logged) or ``"log"`` (log ratios, analysed as given and shown
        exponentiated). :func:`metacore.data.table.generic_scale` guesses it from a table.
    label
        For ``GEN``: the measure's short name (``"HR"``, ``"OR"``, ...) for display.

    Returns
    -------
    EffectSizes
        Rows that give no estimate are listed in ``excluded`` with a reason.

    Raises
    ------
    MeasureError
        If the measure is unknown or the table lacks the columns it needs.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"events_t": [4], "n_t": [123], "events_c": [11], "n_c": [139]})
    >>> round(float(compute_effects(t, "RR").yi[0]), 4)
    -0.8893
    >>> eff = compute_effects(pd.DataFrame({"cases": [0, 12], "total": [20, 40]}), "PLO")
    >>> [round(float(y), 4) for y in eff.yi], eff.notes[0][:24]
    ([-3.7136, -0.8473], '0.5 was added to the eve')
    """
    measure, cc = _check_options(measure, cc, cc_to)
    if scale is None:
        scale = "ratio" if ratio_scale else "linear"
    if scale not in GENERIC_SCALES:
        raise OptionError(f"scale must be one of {', '.join(GENERIC_SCALES)}, not '{scale}'.")
    kind = _KIND_OF[measure]
    if kind == "binary":
        return effects_from_counts(binary_counts(table, measure), measure, cc=cc, cc_to=cc_to,
                                   drop00=drop00)
    st, reasons = _table_of_kind(table, kind, measure)
    data = st.data
    if kind not in ("continuous", "generic"):
        _validate_one_group(data, kind, measure, reasons)
        yi, vi, applied, notes = _one_group_effects(data, kind, measure, cc, cc_to, drop00,
                                                    reasons)
        out = _assemble(data, reasons, yi, vi, measure, cc, cc_to, drop00, False, applied)
        return replace(out, notes=tuple(notes)) if notes else out
    with np.errstate(all="ignore"):
        if kind == "continuous":
            _validate_continuous(data, measure, reasons)
            cols = [data[x].to_numpy(float) for x in KIND_COLUMNS["continuous"]]
            yi, vi = _CONTINUOUS[measure](*cols)
        else:
            yi, vi = _generic_effects(data, scale == "ratio", reasons)
    return _assemble(data, reasons, yi, vi, measure, cc, cc_to, drop00, scale != "linear",
                     np.zeros(len(data), dtype=bool), label=str(label or "")[:40])


def _why_not_finite(measure: str, cc_to: str, cc: float) -> str:
    if measure in {"OR", "RR", "PETO"} and (cc_to == "none" or cc == 0):
        return ("it has a zero cell and no continuity correction is applied, so its "
                f"{MEASURE_LABELS[measure].lower()} is not finite")
    if measure in {"SMD", "SMDH"}:
        return ("its standardised difference cannot be computed (the SDs are zero or there "
                "are too few participants)")
    return "its effect size cannot be computed from the values given"
