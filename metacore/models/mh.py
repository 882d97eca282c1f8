"""Mantel-Haenszel and Peto pooling of 2x2 tables (metafor's ``rma.mh``, ``rma.peto``).

As in metafor, the pooled estimate uses the raw counts (no continuity
correction inside the sums); the heterogeneity test uses study effect sizes
with the usual correction and double-zero studies dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.table import StudyTable
from metacore.errors import DataError, MeasureError
from metacore.models.effects import Counts, binary_counts, effects_from_counts
from metacore.models.pooling import PoolResult, heterogeneity
from metacore.models.tau2 import Interval

__all__ = ["pool_mh", "pool_peto"]


def _counts(table: pd.DataFrame | StudyTable):
    """Validated counts (checked once, in :func:`metacore.models.effects.binary_counts`)."""
    raw = binary_counts(table)
    return raw, raw.a, raw.b, raw.c, raw.d, raw.n1, raw.n2


def _finish(estimate: float, variance: float, weights: np.ndarray, raw: Counts, measure: str,
            model: str, level: float, cc: float, notes: list[str],
            q_override: float | None = None):
    if not (np.isfinite(estimate) and np.isfinite(variance) and variance > 0):
        raise DataError(f"The {'Peto' if model == 'PETO' else 'Mantel-Haenszel'} estimate "
                        "has no usable variance for this table (for example, no study has "
                        "both events and non-events).")
    # The Q test, as in rma.mh / rma.peto: study effects with the correction, double zeros out.
    het_eff = effects_from_counts(raw, measure, cc=cc, cc_to="only0", drop00=True)
    yi, vi = het_eff.yi, het_eff.vi
    alpha = 1 - level
    crit = float(special.ndtri(1 - alpha / 2))
    se = float(np.sqrt(variance))
    z = estimate / se
    k_het = yi.size
    if k_het >= 1:
        w = 1.0 / vi
        q = float(np.dot(w, (yi - estimate) ** 2)) if q_override is None else q_override
        df = k_het - 1
        het = heterogeneity(yi, vi, level)
    else:
        q, df, het = 0.0, 0, None
    qp = float(special.chdtrc(df, q)) if df > 0 else float("nan")
    i2 = max(0.0, 100 * (q - df) / q) if df > 0 and q > 0 else 0.0
    h2 = q / df if df > 0 else 1.0
    sw = weights.sum()
    study_yi, study_vi = _study_effects(raw, measure, cc)
    return PoolResult(
        estimate=float(estimate), se=se, ci_low=estimate - crit * se, ci_high=estimate + crit * se,
        pvalue=float(2 * special.ndtr(-abs(z))), pi_low=estimate - crit * se,
        pi_high=estimate + crit * se, tau2=0.0,
        tau2_ci=het["tau2_ci"] if het else Interval(float("nan"), float("nan")), tau=0.0,
        i2=i2, h2=h2, q=q, q_df=df, q_pvalue=qp, k=raw.k,
        weights=100 * weights / sw if sw > 0 else np.zeros_like(weights), model=model,
        tau2_method=None, ci_method="z", measure=measure, level=float(level),
        statistic=float(z), i2_q=i2, zeta2=het["zeta2"] if het else 0.0,
        z2_total=het["z2_total"] if het else float("nan"),
        z2_fixed=het["z2_fixed"] if het else float("nan"),
        ratio=measure in {"OR", "RR", "PETO"}, study=raw.study,
        yi=study_yi, vi=study_vi, notes=tuple(notes))


def _study_effects(raw, measure: str, cc: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-study (yi, vi) with the usual correction, aligned with ``raw.study``."""
    eff = effects_from_counts(raw, measure, cc=cc, cc_to="only0")
    return _align(raw, eff, eff.yi), _align(raw, eff, eff.vi)


def _align(raw, eff, values: np.ndarray) -> np.ndarray:
    """Per-study values aligned with raw.study (NaN where a study has none)."""
    out = np.full(raw.k, np.nan)
    pos = {r: i for i, r in enumerate(eff.rows)}
    for j, r in enumerate(raw.data["row"]):
        if int(r) in pos:
            out[j] = values[pos[int(r)]]
    return out


@np.errstate(all="ignore")  # zero cells divide by zero on purpose; results are checked
def pool_mh(table: pd.DataFrame | StudyTable, measure: str = "OR", *, level: float = 0.95,
            cc: float = 0.5) -> PoolResult:
    """Mantel-Haenszel pooled odds ratio, risk ratio or risk difference.

    Variances: Robins-Breslow-Greenland (OR), Greenland-Robins (RR) and
    Sato-Greenland-Robins (RD), as in metafor's ``rma.mh``.

    Parameters
    ----------
    table
        2x2 study table.
    measure
        ``"OR"``, ``"RR"`` or ``"RD"``.
    level
        Confidence level.
    cc
        Continuity correction for the per-study estimates of the Q test only.

    Examples
    --------
    >>> import metacore as mc
    >>> res = pool_mh(mc.datasets.load("bcg"), "RR")
    >>> round(float(np.exp(res.estimate)), 4)
    0.6353
    """
    measure = str(measure).upper()
    if measure not in {"OR", "RR", "RD"}:
        raise MeasureError(f"Mantel-Haenszel pooling supports OR, RR and RD, not '{measure}'.")
    raw, a, b, c, d, n1, n2 = _counts(table)
    if raw.k == 0:
        raise DataError("No study has usable 2x2 counts, so nothing can be pooled.")
    n = n1 + n2
    notes: list[str] = []
    if measure == "OR":
        r, s = a * d / n, b * c / n
        R, S = r.sum(), s.sum()
        if R == 0 or S == 0:
            raise DataError("The Mantel-Haenszel odds ratio is not defined: every study has "
                            "zero events (or zero non-events) in one arm.")
        p, q = (a + d) / n, (b + c) / n
        est = np.log(R / S)
        var = (np.sum(p * r) / (2 * R**2) + np.sum(p * s + q * r) / (2 * R * S)
               + np.sum(q * s) / (2 * S**2))
        weights = s
    elif measure == "RR":
        r, s = a * n2 / n, c * n1 / n
        R, S = r.sum(), s.sum()
        if R == 0 or S == 0:
            raise DataError("The Mantel-Haenszel risk ratio is not defined: there are no events "
                            "in one of the arms across all studies.")
        est = np.log(R / S)
        var = np.sum((n1 * n2 * (a + c) - a * c * n) / n**2) / (R * S)
        weights = s
    else:
        W = np.sum(n1 * n2 / n)
        est = np.sum((a * n2 - c * n1) / n) / W
        P = np.sum((n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2) / n**2)
        Q = np.sum((a * (n2 - c) + c * (n1 - a)) / (2 * n))
        var = (est * P + Q) / W**2
        weights = n1 * n2 / n
    return _finish(float(est), float(var), weights, raw, measure, "MH", level, cc, notes)


@np.errstate(all="ignore")
def pool_peto(table: pd.DataFrame | StudyTable, *, level: float = 0.95,
              cc: float = 0.5) -> PoolResult:
    """Peto's one-step pooled (log) odds ratio, as in metafor's ``rma.peto``.

    Examples
    --------
    >>> import metacore as mc
    >>> res = pool_peto(mc.datasets.load("bcg"))
    >>> round(float(np.exp(res.estimate)), 4)
    0.6222
    """
    raw, a, b, c, d, n1, n2 = _counts(table)
    if raw.k == 0:
        raise DataError("No study has usable 2x2 counts, so nothing can be pooled.")
    n = n1 + n2
    m = a + c
    expected = n1 * m / n
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n > 1, m * (n - m) * n1 * n2 / (n**2 * (n - 1)), 0.0)
    if v.sum() == 0:
        raise DataError("The Peto odds ratio is not defined: no study has both events and "
                        "non-events.")
    est = np.sum(a - expected) / v.sum()
    # metafor's rma.peto computes Q from the raw counts of studies with V > 0.
    pos = v > 0
    o_e = (a - expected)[pos]
    q = max(0.0, float(np.sum(o_e**2 / v[pos]) - o_e.sum() ** 2 / v[pos].sum()))
    return _finish(float(est), float(1 / v.sum()), v, raw, "PETO", "PETO", level, cc, [],
                   q_override=q)
