"""The one place an analysis is run: a table and the dashboard's settings in, effect
sizes and the fit out. The app, the report and the R script all describe this run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pandas as pd

from metacore.data.table import StudyTable, generic_scale, standardize
from metacore.models.effects import compute_effects
from metacore.models.mh import pool_mh, pool_peto
from metacore.models.pooling import pool

__all__ = ["analysis_of"]


def analysis_of(table: pd.DataFrame | StudyTable, *, measure: str = "RR", model: str = "random",
                tau2_method: str = "REML", ci_method: str = "z", level: float = 0.95,
                cc: float = 0.5, cc_to: str = "only0", drop00: bool = False,
                mapping: Mapping[object, str | None] | None = None,
                leave_out: Sequence[int] = (), scale: str | None = None,
                label: str = "") -> tuple:
    """``(effects, result, shadow)`` for a table and settings, as the dashboard runs them.

    ``scale``/``label`` describe ready-made effects (``None``: read from the table, see
    :func:`metacore.data.table.generic_scale`). ``shadow`` has every row included, so left-out
    studies can be listed with their data.

    Examples
    --------
    >>> import metacore as mc
    >>> effects, result, shadow = analysis_of(mc.datasets.load("bcg"), measure="OR", model="MH")
    >>> # R: rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg, measure = "OR")
    >>> round(result.natural()["estimate"], 4), shadow is None
    (0.6229, True)
    """
    st = standardize(table, mapping)
    data = st.data
    if leave_out:
        data = data.assign(include=data["include"] & ~data["row"].isin(list(leave_out)))
        st = dataclasses.replace(st, data=data)
    measure = measure.upper()
    if measure == "GEN" and scale is None:
        scale, guess, _ = generic_scale(st)
        label = label or guess
    kw = {"cc": cc, "cc_to": cc_to, "drop00": drop00, "scale": scale, "label": label}
    effects = compute_effects(st, measure, **kw)
    shadow = None
    if not data["include"].all():
        shadow = compute_effects(dataclasses.replace(st, data=data.assign(include=True)),
                                 measure, **kw)
    if model == "MH":
        result = pool_mh(st, measure, level=level)
    elif model == "PETO":
        result = pool_peto(st, level=level)
    else:
        result = pool(effects, model=model, tau2_method=tau2_method, ci_method=ci_method,
                      level=level)
    return effects, result, shadow
