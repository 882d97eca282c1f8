"""The Dependence page's fits and chart specs, cached per state, so the page only lays
them out: naive, multilevel and robust results side by side, the variance split and the
sensitivity to the within-cluster correlation ρ."""

from __future__ import annotations

import pandas as pd

import metacore as mc
from metacore.report.charts.dependence import dependence_chart, rho_chart, variance_split_chart
from ui import analysis as an
from ui.cache import cached

#: The inner level that makes each row its own group: the usual three-level model of
#: several effect sizes per study (``row`` is the input row number in ``effects.data``).
EACH_ROW = "row"
EXAMPLE = "konstantopoulos2011"
RHOS = tuple(round(0.1 * i, 1) for i in range(10))


def cluster_candidates(data: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns that can say which cluster a row belongs to: some value repeats (a column
    with a different value in every row clusters nothing), best candidates first.

    >>> d = pd.DataFrame({"year": [1, 2, 3], "study": ["a", "a", "b"]})
    >>> cluster_candidates(d, ["year", "study"])
    ['study']
    """
    out = []
    for c in columns:
        values = data[c].dropna().astype(str).str.strip()
        values = values[values != ""]
        if 1 < values.nunique() < len(values):
            out.append(c)
    return sorted(out, key=lambda c: (not is_preferred(c), out.index(c)))


#: Column names that say a column holds studies or clusters.
PREFERRED = ("study", "study_id", "studlab", "cluster", "district", "author", "trial", "lab",
             "paper", "article", "sample")


def is_preferred(column: object) -> bool:
    """True when the column's name says it names studies or clusters.

    >>> is_preferred("Study"), is_preferred("alloc")
    (True, False)
    """
    return str(column).strip().lower() in PREFERRED


def mapped_settings(tau2: str, ci: str) -> tuple[str, str, list[str]]:
    """The sidebar's estimator and interval as the multilevel model takes them, and a
    sentence for each one that had to change."""
    notes = []
    if tau2 not in ("REML", "ML"):
        notes.append(f"The multilevel model is fitted by REML or ML; {tau2} has no multilevel "
                     "form, so REML is used.")
        tau2 = "REML"
    ml_ci = "z"
    if ci.startswith("hksj"):
        ml_ci = "t"
        notes.append("Hartung-Knapp (and its modified forms) has no multilevel form; the "
                     "multilevel interval uses t with k − 1 df (metafor's test = \"t\"), and "
                     "the robust row its own Satterthwaite df.")
    return tau2, ml_ci, notes


@cached(max_entries=32)
def fits(inputs: tuple, levels: tuple[str, ...], tau2: str, ci: str, level: float,
         rho: float | None) -> tuple[dict | None, str]:
    """``({"table", "ml", "robust"}, "")`` or ``(None, message)`` for one set of inputs."""
    eff = an.analyse(*inputs).effects
    try:
        table = mc.dependence_table(eff, list(levels), tau2_method=tau2, level=level, rho=rho)
        ml = mc.multilevel(eff, list(levels), tau2_method=tau2, ci_method=ci, level=level,
                           rho=rho)
        rb = mc.robust(ml, cluster=levels[0], small_sample=True)
    except mc.MetacoreError as err:
        return None, str(err)
    return {"table": table, "ml": ml, "robust": rb}, ""


@cached(max_entries=32)
def rho_table(inputs: tuple, levels: tuple[str, ...], tau2: str, ci: str,
              level: float) -> tuple[pd.DataFrame | None, str]:
    """The pooled estimate over ρ = 0, 0.1, ..., 0.9, or the reason it cannot be drawn."""
    eff = an.analyse(*inputs).effects
    try:
        return mc.rho_sensitivity(eff, list(levels), rhos=RHOS, tau2_method=tau2,
                                  ci_method=ci, level=level), ""
    except mc.MetacoreError as err:
        return None, str(err)


def x_title(eff: mc.EffectSizes) -> str:
    return mc.measure_name(eff.measure, eff.label)


@cached(max_entries=32)
def table_spec(inputs: tuple, levels: tuple[str, ...], tau2: str, ci: str, level: float,
               rho: float | None) -> dict:
    eff = an.analyse(*inputs).effects
    out = fits(inputs, levels, tau2, ci, level, rho)[0]
    return dependence_chart(out["table"], ratio=eff.ratio, x_title=x_title(eff),
                            level=level).to_dict(validate=False)


@cached(max_entries=32)
def split_spec(inputs: tuple, levels: tuple[str, ...], tau2: str, ci: str, level: float,
               rho: float | None) -> dict:
    out = fits(inputs, levels, tau2, ci, level, rho)[0]
    return variance_split_chart(split_frame(out["ml"])).to_dict(validate=False)


def split_frame(ml: mc.MultilevelResult) -> pd.DataFrame:
    """The variance split with each level named for a reader ("between districts")."""
    split = ml.variance_split()
    names = ["sampling error (within each estimate)"]
    for i, name in enumerate(ml.levels):
        inner = "rows (effect sizes)" if name == EACH_ROW else f"'{name}'"
        names.append(f"between clusters ('{name}')" if i == 0
                     else f"within '{ml.levels[i - 1]}', between {inner}")
    return split.assign(component=names)


@cached(max_entries=32)
def rho_spec(inputs: tuple, levels: tuple[str, ...], tau2: str, ci: str, level: float) -> dict:
    eff = an.analyse(*inputs).effects
    tab = rho_table(inputs, levels, tau2, ci, level)[0]
    return rho_chart(tab, ratio=eff.ratio, x_title=x_title(eff), level=level).to_dict(
        validate=False)
