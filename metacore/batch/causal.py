"""Classical versus causal for many meta-analyses of one long table at once.

The causal estimates are segment sums over the meta-analyses and the classical
random-effects fits one :func:`~metacore.batch.pool.pool_batch` call; the formulas are
those of :mod:`metacore.models.causal`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from metacore.batch.pool import pool_batch
from metacore.errors import DataError, MeasureError
from metacore.models.causal import (
    CAUSAL_MEASURES,
    _non_events,
    causal_terms,
    verdict,
)
from metacore.models.effects import binary_counts, compute_effects

__all__ = ["causal_many"]


def _segment_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if values.size else np.zeros(0)


def causal_many(table: pd.DataFrame, measure: str = "RR", *, id_column: str = "meta_id",
                tau2_method: str = "REML", ci_method: str = "z",
                level: float = 0.95) -> pd.DataFrame:
    """Classical random effects versus causal, for every meta-analysis of a long table.

    Effect sizes are computed once for the whole table; the causal estimates are
    segment sums over the meta-analyses (no Python loop); only the random-effects
    fits loop, through the fast pooling core.

    Parameters
    ----------
    table
        One row per study with a meta-analysis identifier column and 2x2 counts.
    id_column
        Name of the identifier column.

    Returns
    -------
    DataFrame
        One row per meta-analysis: ``k``, classical and causal estimate and CI
        (natural scale for ratios), ``discordant`` and ``why``; a meta-analysis
        that cannot be analysed carries the reason in ``problem``.

    Raises
    ------
    DataError
        If the identifier column is missing or no row has usable counts.

    Examples
    --------
    >>> import metacore as mc
    >>> t = mc.datasets.load("bcg").assign(meta_id=lambda d: d["subgroup"])
    >>> causal_many(t, "RR")[["meta_id", "k"]].values.tolist()
    [['random', 7], ['alternate', 2], ['systematic', 4]]
    """
    measure = str(measure).upper()
    if measure not in CAUSAL_MEASURES:
        raise MeasureError(f"Causal pooling supports {', '.join(CAUSAL_MEASURES)}, "
                           f"not '{measure}'.")
    if id_column not in table.columns:
        raise DataError(f"The table has no '{id_column}' column to tell the meta-analyses "
                        "apart (one row per study, with the meta-analysis identifier).")
    ids = table[id_column].astype(str).str.strip().to_numpy()
    order = list(dict.fromkeys(ids))
    crit = float(special.ndtri(0.5 + level / 2))
    # Causal part: every valid row, grouped by meta-analysis.
    raw = binary_counts(table.drop(columns=[id_column]))
    rows = np.asarray(raw.rows) - 1
    d = raw.data
    e1, n1 = d["events_t"].to_numpy(float), d["n_t"].to_numpy(float)
    e0, n0 = d["events_c"].to_numpy(float), d["n_c"].to_numpy(float)
    gid = pd.Categorical(ids[rows], categories=order).codes
    sort = np.argsort(gid, kind="stable")
    gid, e1, n1, e0, n0 = gid[sort], e1[sort], n1[sort], e0[sort], n0[sort]
    present, starts = np.unique(gid, return_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0, nk = e1 / n1, e0 / n0, n1 + n0
        n = _segment_sum(nk, starts)
        w = nk / np.repeat(n, np.diff(np.append(starts, len(gid))))
        psi1, psi0 = _segment_sum(w * p1, starts), _segment_sum(w * p0, starts)
        var1 = _segment_sum(w**2 * p1 * (1 - p1) / n1, starts) + (
            _segment_sum(w * p1**2, starts) - psi1**2) / n
        var0 = _segment_sum(w**2 * p0 * (1 - p0) / n0, starts) + (
            _segment_sum(w * p0**2, starts) - psi0**2) / n
        cov = (_segment_sum(w * p1 * p0, starts) - psi1 * psi0) / n
        theta, d1, d0 = causal_terms(measure, psi1, psi0)
        se = np.sqrt(d1**2 * var1 + d0**2 * var0 + 2 * d1 * d0 * cov)
    k_counts = np.diff(np.append(starts, len(gid)))
    def spread(values: np.ndarray) -> np.ndarray:
        full = np.full(len(order), np.nan)
        full[present] = values
        return full

    out = pd.DataFrame({"meta_id": order, "k": np.nan_to_num(spread(k_counts)).astype(int),
                        "causal": spread(theta), "causal_low": spread(theta - crit * se),
                        "causal_high": spread(theta + crit * se), "risk_t": spread(psi1),
                        "risk_c": spread(psi0)})
    # Classical part: study effects once, then one random-effects fit per meta-analysis.
    src = table
    if measure == "SR":
        src = _non_events(d).assign(**{id_column: ids[rows]})
    eff = compute_effects(src.drop(columns=[id_column]), "RR" if measure == "SR" else measure)
    src_ids = (src[id_column].astype(str).str.strip().to_numpy())
    eff_gid = pd.Categorical(src_ids[np.asarray(eff.rows) - 1], categories=order).codes
    # One (meta-analyses x studies) array, pooled in one vectorised pass (pool_batch).
    pos = pd.Series(eff_gid).groupby(eff_gid).cumcount().to_numpy()
    width = int(pos.max()) + 1 if len(pos) else 1
    Y = np.full((len(order), width), np.nan)
    Vv = np.full((len(order), width), np.nan)
    Y[eff_gid, pos], Vv[eff_gid, pos] = eff.yi, eff.vi
    fits = pool_batch(Y, Vv, model="random", tau2_method=tau2_method, ci_method=ci_method,
                      level=level)
    for col, src_col in (("classical", "estimate"), ("classical_low", "ci_low"),
                         ("classical_high", "ci_high"), ("tau2", "tau2"), ("i2", "i2")):
        out[col] = fits[src_col].to_numpy()
    why, problems = [], []
    for r in out.itertuples():
        problem = ""
        if not (np.isfinite(r.causal) and np.isfinite(r.causal_low)):
            problem = ("no usable 2x2 rows" if r.k == 0 else "the causal estimate is not "
                       "defined (no events, or only events, in an arm)")
        elif not np.isfinite(r.classical):
            problem = "no study gives a classical estimate"
        problems.append(problem)
        why.append("" if problem else " ".join(verdict(
            (r.classical, r.classical_low, r.classical_high),
            (r.causal, r.causal_low, r.causal_high), measure)))
    out["problem"] = problems
    out["why"] = why
    out["discordant"] = out["why"] != ""
    if measure != "RD":
        for col in ("causal", "causal_low", "causal_high", "classical", "classical_low",
                    "classical_high"):
            out[col] = np.exp(out[col])
    return out
