"""No, partial and complete pooling (the course notes' shrinkage picture)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.charts.common import (
    ACCENT,
    INK,
    nice_ticks,
)
from metacore.effects import MEASURE_LABELS


def shrinkage_chart(path: pd.DataFrame, pooled: float, tau: float, measure: str,
                    ratio: bool) -> alt.LayerChart:
    """Seed 001's picture: each study under no pooling (hollow) and partial pooling
    (filled), an arrow between them, and the complete-pooling estimate (dashed).

    ``path`` is :func:`metacore.shrinkage.shrinkage_path` output.
    """
    t = np.exp if ratio else (lambda x: x)
    frame = path.assign(obs=t(path["yi"]), part=t(path["pred"]),
                        precision=1 / (path["se"] ** 2),
                        moved=(path["pred"] - path["yi"]).abs())
    frame["study"] = frame["study"].astype(str)
    name = MEASURE_LABELS.get(measure, measure)
    vals = np.concatenate([frame["obs"], frame["part"], [t(pooled)]])
    lo, hi = float(np.min(vals)), float(np.max(vals))
    ticks = nice_ticks(lo, hi, ratio) if (not ratio or lo > 0) else None
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], lo), max(ticks[-1], hi)] if ticks else alt.Undefined)
    axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined) if ticks else \
        alt.Axis()
    y = alt.Y("study:N", sort=frame["study"].tolist(), title=None, axis=alt.Axis(labelLimit=200))
    tooltip = [alt.Tooltip("study:N"), alt.Tooltip("obs:Q", title="No pooling", format=".3f"),
               alt.Tooltip("part:Q", title="Partial pooling", format=".3f"),
               alt.Tooltip("shrinkage:Q", title="Share pulled to the mean", format=".0%")]
    base = alt.Chart(frame).encode(y=y, tooltip=tooltip)
    arrows = base.mark_rule(color="#6b7280", strokeWidth=1.5).encode(
        x=alt.X("obs:Q", scale=scale, axis=axis, title=f"{name}{' (log scale)' if ratio else ''}"),
        x2="part:Q")
    head = base.mark_point(shape="triangle-right", filled=True, size=60, color="#6b7280",
                           opacity=0.9).encode(
        x=alt.X("part:Q", scale=scale),
        angle=alt.condition("datum.part < datum.obs", alt.value(180), alt.value(0)))
    observed = base.mark_point(filled=False, size=90, strokeWidth=2, color=INK).encode(
        x=alt.X("obs:Q", scale=scale))
    partial = base.mark_circle(size=90, color=ACCENT, opacity=0.95).encode(
        x=alt.X("part:Q", scale=scale))
    complete = alt.Chart(pd.DataFrame({"x": [t(pooled)]})).mark_rule(
        strokeDash=[6, 4], color="#b45309", strokeWidth=2).encode(x=alt.X("x:Q", scale=scale))
    return alt.layer(complete, arrows, head, observed, partial).properties(
        width=560, height=max(160, 30 * len(frame)), title=alt.TitleParams(
            f"No, partial and complete pooling (τ = {tau:.3g})", anchor="start", fontSize=15,
            subtitle="Hollow: each study alone; blue: partial pooling; dashed: complete "
                     "pooling. Noisy studies move most."))


