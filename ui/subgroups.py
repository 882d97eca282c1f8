"""The subgroup and meta-regression page's fits, charts and sentences, cached per state
so the page only lays them out."""

import math

import numpy as np

import metacore as mc
from metacore.numbers import format_number, p_clause
from metacore.report.charts import bubble_chart, level_chart, subgroup_forest_chart
from metacore.report.describe import SHORT_NAMES
from ui import analysis as an
from ui.cache import cached
from ui.text import md


@cached(max_entries=32)
def subgroup_view(inputs: tuple, by: str, common: bool, model: str, tau2: str, ci: str,
                  level: float, favours: tuple[str, str], style: str = "journal",
                  font: str = "sans") -> tuple[dict | None, object, str]:
    """(forest spec, SubgroupResult, error) for one set of inputs; favours labels, style
    and font as the forest page's."""
    eff = an.analyse(*inputs).effects
    try:
        sg = mc.subgroups(eff, by, model=model, tau2_method=tau2, ci_method=ci, level=level,
                          tau2_common=common)
    except mc.MetacoreError as err:
        return None, None, str(err)
    return subgroup_forest_chart(eff, sg, favours=favours, style=style,
                                 font=font).to_dict(validate=False), sg, ""


@cached(max_entries=32)
def regression(inputs: tuple, mods: tuple[str, ...], tau2: str, ci: str,
               level: float) -> tuple[object, str]:
    """(MetaRegResult, error) for one set of inputs and moderators."""
    eff = an.analyse(*inputs).effects
    try:
        return mc.metareg(eff, list(mods), tau2_method=tau2, ci_method=ci, level=level), ""
    except mc.MetacoreError as err:
        return None, str(err)


@cached(max_entries=32)
def regression_chart(inputs: tuple, mods: tuple[str, ...], tau2: str, ci: str, level: float,
                     kind: str, term: str) -> dict:
    """The bubble plot of a continuous moderator or the fitted values of a categorical one,
    built once per fit."""
    res = regression(inputs, mods, tau2, ci, level)[0]
    chart = bubble_chart(res, term) if kind == "bubble" else level_chart(res, term)
    return chart.to_dict(validate=False)


def _step(x: np.ndarray) -> float:
    """A round step for "each … higher": a power of ten near a quarter of the range."""
    span = float(np.ptp(x)) or 1.0
    return 10.0 ** math.floor(math.log10(span / 2))


def sentence(res, term: str, x: np.ndarray) -> str:
    b = float(res.coef.loc[term, "estimate"])
    step = _step(x)
    short = SHORT_NAMES.get(res.measure, "effect")
    head = (f"{md(term)} explains {res.r2:.0f}% of the between-study variance (τ² "
            f"{format_number(res.tau2_null, 2)} without it, {format_number(res.tau2, 2)} "
            "with it)")
    if res.ratio:
        factor = math.exp(b * step)
        return (f"{head}: each {format_number(step)} units higher {md(term)} goes with an "
                f"{short} {format_number(factor, 2)} times as large "
                f"({p_clause(res.coef.loc[term, 'pvalue'], 'p')}).")
    word = "higher" if b > 0 else "lower"
    return (f"{head}: each {format_number(step)} units higher {md(term)} goes with a "
            f"{short} {format_number(abs(b * step), 3)} {word} "
            f"({p_clause(res.coef.loc[term, 'pvalue'], 'p')}).")
