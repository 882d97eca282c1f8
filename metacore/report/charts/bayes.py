"""Posterior densities and interval rows for the Bayesian page."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

from metacore.report.charts.common import (
    HALF_PAGE,
    axis,
    nice_ticks,
)


def density_chart(x: np.ndarray, series: dict[str, np.ndarray], title: str, x_title: str,
                  ratio: bool = False, subtitle: str = "", width: int = HALF_PAGE
                  ) -> alt.Chart:
    """Line chart of one or more densities over a common grid (natural scale for ratios).

    ``width`` is the whole chart's (Streamlit fits the plot, axes and legend in it).
    """
    t = np.exp if ratio else (lambda v: v)
    pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), 500)).astype(int))
    frame = pd.concat([pd.DataFrame({"x": t(x[pick]), "density": d[pick], "curve": name})
                       for name, d in series.items()], ignore_index=True)
    frame = frame[np.isfinite(frame["density"])]
    colors = ["#1d4ed8", "#b45309", "#15803d", "#7c3aed"][:len(series)]
    lo, hi = float(frame["x"].min()), float(frame["x"].max())
    x_axis = alt.Axis(values=nice_ticks(lo, hi, True, width=width), format="~g") if ratio \
        else axis(width)
    return alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=alt.X("x:Q", title=x_title, axis=x_axis,
                scale=alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                                domain=[lo, hi])),
        y=alt.Y("density:Q", title="Density"),
        color=alt.Color("curve:N", title=None, scale=alt.Scale(domain=list(series),
                                                             range=colors)),
        tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("x:Q", format=".3f"),
                 alt.Tooltip("density:Q", format=".3f")],
    ).properties(width=width, height=220, title=alt.TitleParams(title, subtitle=subtitle,
                                                             anchor="start", fontSize=14))


def interval_rows_chart(frame: pd.DataFrame, title: str, x_title: str, ratio: bool = False,
                        subtitle: str = "", color_field: str = "group",
                        width: int = 460,
                        domain: tuple[float, float] | None = None) -> alt.Chart:
    """Point and interval per labelled row: columns ``label est lo hi`` and ``group``
    (``width``: the whole chart's; :data:`HALF_PAGE` in a column of two).

    ``domain`` (analysis scale) fixes the x range, so that panels set side by side share
    one axis and their widths can be compared."""
    t = np.exp if ratio else (lambda v: v)
    # rows are identities and labels only names: two studies called "ARCHAIC" are two rows
    frame = frame.reset_index(drop=True).assign(est=t(frame["est"].to_numpy()),
                                                lo=t(frame["lo"].to_numpy()),
                                                hi=t(frame["hi"].to_numpy()),
                                                row=np.arange(len(frame)))
    vals = frame[["lo", "hi"]].to_numpy(float).ravel()
    vals = vals[np.isfinite(vals)]
    if domain is not None:
        vals = np.asarray(t(np.asarray(domain, float)), float)
    # tick density for the plot's share of the width (the row labels take about 200 px)
    ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio, width=width - 200) \
        if vals.size else None
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], vals.min()), max(ticks[-1], vals.max())]
                      if ticks else alt.Undefined)
    labels = json.dumps([str(x) for x in frame["label"]], ensure_ascii=False)
    y = alt.Y("row:O", sort="ascending", title=None,
              axis=alt.Axis(labelExpr=f"{labels}[datum.value]", labelLimit=240))
    color = alt.Color(f"{color_field}:N", title=None)
    tooltip = [alt.Tooltip("label:N"), alt.Tooltip("est:Q", format=".3f"),
               alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f")]
    base = alt.Chart(frame).encode(y=y, color=color, tooltip=tooltip)
    return alt.layer(
        base.mark_rule(strokeWidth=2).encode(
            x=alt.X("lo:Q", scale=scale, title=x_title,
                    axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)
                    if ticks else alt.Axis()), x2="hi:Q"),
        base.mark_point(filled=True, size=50).encode(x=alt.X("est:Q", scale=scale)),
    ).properties(width=width, height=max(120, 20 * len(frame)), title=alt.TitleParams(
        title, subtitle=subtitle, anchor="start", fontSize=14))

