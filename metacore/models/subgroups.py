"""Subgroup analysis: each subgroup's pooled effect and the test for differences.

Two conventions, both from the anchor tools:

* separate τ² per subgroup (meta's default, RevMan's): each subgroup is pooled on its
  own; the test for subgroup differences is a Wald χ² on the subgroup estimates and
  their standard errors (Hartung-Knapp ones under HKSJ), G - 1 df;
* a common τ² (metafor's ``rma(yi, vi, mods = ~ factor(g))``): one mixed-effects model;
  QM is the test (an F statistic under HKSJ) and each subgroup's estimate comes from the
  model without intercept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.table import as_label
from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes
from metacore.models.metareg import design_matrix, fit_mixed
from metacore.models.pooling import PoolResult, pool

__all__ = ["GroupResult", "SubgroupResult", "subgroups"]


@dataclass(frozen=True, eq=False)
class GroupResult:
    """One subgroup: its pooled effect (analysis scale) and its own heterogeneity.

    ``fit`` is the subgroup pooled on its own (its Q, I² and, with separate τ², its
    estimate); with a common τ² the estimate, SE and CI come from the joint model.
    """

    label: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    tau2: float
    fit: PoolResult
    rows: tuple[int, ...] = ()

    @property
    def q(self) -> float:
        return self.fit.q

    @property
    def q_df(self) -> int:
        return self.fit.q_df

    @property
    def q_pvalue(self) -> float:
        return self.fit.q_pvalue

    @property
    def i2(self) -> float:
        return self.fit.i2


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Subgroups in order of first appearance, the overall result and the test of
    differences (``q_between``: χ², or F with ``q_between_df2`` under HKSJ and a common τ²)."""

    groups: dict[str, GroupResult]
    overall: PoolResult
    q_between: float
    q_between_df: int
    q_between_pvalue: float
    tau2: float | None
    by: str
    tau2_common: bool
    model: str
    tau2_method: str
    ci_method: str
    level: float
    measure: str
    ratio: bool = False
    q_between_df2: int | None = None
    notes: tuple[str, ...] = ()

    def transform(self, x):
        """Back-transform from the analysis scale (exp for ratios)."""
        return np.exp(x) if self.ratio else x

    def to_frame(self) -> pd.DataFrame:
        """One row per subgroup (and the overall one): k, estimate, CI, τ², Q, I²."""
        rows = [{"subgroup": g.label, "k": g.k, "estimate": g.estimate, "se": g.se,
                 "ci_low": g.ci_low, "ci_high": g.ci_high, "pvalue": g.pvalue, "tau2": g.tau2,
                 "q": g.q, "q_df": g.q_df, "q_pvalue": g.q_pvalue, "i2": g.i2}
                for g in self.groups.values()]
        o = self.overall
        rows.append({"subgroup": "Overall", "k": o.k, "estimate": o.estimate, "se": o.se,
                     "ci_low": o.ci_low, "ci_high": o.ci_high, "pvalue": o.pvalue,
                     "tau2": o.tau2, "q": o.q, "q_df": o.q_df, "q_pvalue": o.q_pvalue,
                     "i2": o.i2})
        return pd.DataFrame(rows)

    def test_text(self) -> str:
        """RevMan's line: 'Test for subgroup differences: Chi² = …, df = … (P = …)'."""
        from metacore.numbers import p_clause

        if self.q_between_df2:
            stat = (f"F = {self.q_between:.2f}, df = ({self.q_between_df}, "
                    f"{self.q_between_df2})")
        else:
            stat = f"Chi² = {self.q_between:.2f}, df = {self.q_between_df}"
        return f"Test for subgroup differences: {stat} ({p_clause(self.q_between_pvalue)})"


def subgroups(effects: EffectSizes, by: str = "subgroup", *, model: str = "random",
              tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
              tau2_common: bool = False) -> SubgroupResult:
    """Pool within each subgroup and test whether the subgroups differ.

    Parameters
    ----------
    effects
        Study effect sizes; ``by`` is a column of ``effects.data`` (text or numbers).
    by
        The subgrouping column.
    model, tau2_method, ci_method, level
        As for :func:`metacore.pool`.
    tau2_common
        One τ² for all subgroups (metafor's ``mods = ~ factor(g)``) instead of one each.

    Examples
    --------
    >>> import metacore as mc
    >>> sg = subgroups(mc.compute_effects(mc.datasets.load("bcg"), "RR"), "subgroup")
    >>> list(sg.groups), sg.q_between_df
    (['random', 'alternate', 'systematic'], 2)
    """
    if by not in effects.data.columns:
        raise DataError(f"No column named '{by}' in the study table to form subgroups.")
    if model not in ("random", "common"):
        raise OptionError(f"model must be 'common' or 'random', not '{model}'.")
    values = effects.data[by]
    # whole-number codes read as floats (1.0, 2.0) are labelled 1, 2
    text = pd.Series([as_label(v) for v in values], index=values.index, dtype=object)
    present = text.notna() & text.fillna("").ne("")
    labels = text.where(present, None).tolist()
    notes = []
    if not present.all():
        gone = [s for s, ok in zip(effects.study, present, strict=True) if not ok]
        notes.append(f"{len(gone)} stud{'y has' if len(gone) == 1 else 'ies have'} no "
                     f"{by} and {'is' if len(gone) == 1 else 'are'} only in the overall "
                     "result: " + ", ".join(gone[:8]) + (" …" if len(gone) > 8 else "") + ".")
    order = list(dict.fromkeys(label for label in labels if label is not None))
    if len(order) < 2:
        raise DataError(f"The column '{by}' has {len(order)} subgroup"
                        f"{'' if len(order) == 1 else 's'} among the studies analysed; "
                        "subgroup analysis needs at least two.")
    def rows_of(label: str) -> tuple[int, ...]:
        return tuple(effects.rows[i] for i in range(effects.k) if labels[i] == label) \
            if effects.rows else ()

    overall = pool(effects, model=model, tau2_method=tau2_method, ci_method=ci_method,
                   level=level)
    alone = {}
    for label in order:
        idx = np.array([lab == label for lab in labels])
        sub = effects.subset(idx)
        alone[label] = pool(sub, model=model, tau2_method=tau2_method, ci_method=ci_method,
                            level=level)
        if sub.k == 1:
            notes.append(f"Subgroup '{label}' has a single study: its estimate is that "
                         "study's, and its heterogeneity cannot be assessed.")
    if not tau2_common:
        groups = {lab: GroupResult(label=lab, k=r.k, estimate=r.estimate, se=r.se,
                                   ci_low=r.ci_low, ci_high=r.ci_high, pvalue=r.pvalue,
                                   tau2=r.tau2, fit=r, rows=rows_of(lab))
                  for lab, r in alone.items()}
        est = np.array([g.estimate for g in groups.values()])
        se = np.array([g.se for g in groups.values()])
        usable = np.isfinite(se) & (se > 0)
        w = 1.0 / se[usable] ** 2
        mean = float(w @ est[usable] / w.sum()) if usable.any() else float("nan")
        q = float(w @ (est[usable] - mean) ** 2)
        df = int(usable.sum()) - 1
        if not usable.all():
            notes.append("Subgroups whose standard error is 0 (identical estimates under "
                         "HKSJ) are left out of the test for differences.")
        return SubgroupResult(
            groups=groups, overall=overall, q_between=q, q_between_df=df,
            q_between_pvalue=float(special.chdtrc(df, q)) if df > 0 else float("nan"),
            tau2=None, by=by, tau2_common=False, model=model, tau2_method=tau2_method,
            ci_method=ci_method, level=float(level), measure=effects.measure,
            ratio=effects.ratio, notes=tuple(notes))
    # Common tau^2: one model with the subgroup as a factor.
    keep = np.array([lab is not None for lab in labels])
    data = pd.DataFrame({by: [lab for lab in labels if lab is not None]})
    y, v = effects.yi[keep], effects.vi[keep]
    with_int = design_matrix(data, [by])
    fit = fit_mixed(with_int.X, y, v, model=model, tau2_method=tau2_method,
                    ci_method=ci_method, level=level)
    no_int = design_matrix(data, [by], intercept=False)
    cell = fit_mixed(no_int.X, y, v, model=model, tau2=fit.tau2, ci_method=ci_method,
                     level=level)
    se = np.sqrt(np.diag(cell.vcov))
    stat = cell.beta / np.where(se > 0, se, np.nan)
    pv = 2 * special.ndtr(-np.abs(stat)) if cell.df is None else \
        2 * special.stdtr(cell.df, -np.abs(stat))
    by_level = dict(zip(no_int.levels[by], range(len(order)), strict=True))
    groups = {lab: GroupResult(label=lab, k=alone[lab].k, estimate=float(cell.beta[j]),
                               se=float(se[j]), ci_low=float(cell.beta[j] - cell.crit * se[j]),
                               ci_high=float(cell.beta[j] + cell.crit * se[j]),
                               pvalue=float(pv[j]), tau2=fit.tau2, fit=alone[lab],
                               rows=rows_of(lab))
              for lab in order for j in [by_level[lab]]}
    m = with_int.p - 1
    b, vb = fit.beta[1:], fit.vcov[1:, 1:]
    qm = float(b @ np.linalg.solve(vb, b))
    if fit.df is None:
        qm_p, df2 = float(special.chdtrc(m, qm)), None
    else:
        qm /= m
        qm_p, df2 = float(special.fdtrc(m, fit.df, qm)), fit.df
    return SubgroupResult(
        groups=groups, overall=overall, q_between=qm, q_between_df=m,
        q_between_pvalue=qm_p, tau2=fit.tau2, by=by, tau2_common=True, model=model,
        tau2_method=tau2_method, ci_method=ci_method, level=float(level),
        measure=effects.measure, ratio=effects.ratio, q_between_df2=df2,
        notes=tuple(notes + list(fit.notes)))

