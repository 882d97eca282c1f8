"""Estimator comparison and leave-one-out charts."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.models.effects import MEASURE_LABELS
from metacore.models.pooling import PoolResult
from metacore.numbers import format_effect
from metacore.report.charts.common import (
    ACCENT,
    INK,
    axis,
    nice_ticks,
)


def estimator_chart(table: pd.DataFrame, measure: str, ratio: bool,
                    level: float = 0.95) -> alt.VConcatChart:
    """Pooled estimate with CI and the tau^2 estimate under each estimator.

    ``table`` is :func:`metacore.diagnostics.sensitivity.compare_estimators` output.
    """
    t = np.exp if ratio else (lambda x: x)
    frame = table.assign(est=t(table["estimate"]), lo=t(table["ci_low"]),
                         hi=t(table["ci_high"]),
                         ci_text=[f"{format_effect(a)} [{format_effect(b)}, {format_effect(c)}]"
                                  for a, b, c in zip(t(table["estimate"]), t(table["ci_low"]),
                                                     t(table["ci_high"]), strict=True)])
    name = MEASURE_LABELS.get(measure, measure)
    lo, hi = float(frame["lo"].min()), float(frame["hi"].max())
    null = 1.0 if ratio else 0.0
    ticks = nice_ticks(min(lo, null), max(hi, null), ratio, width=420) \
        if (not ratio or lo > 0) else None
    x_scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                        domain=[ticks[0], ticks[-1]] if ticks else alt.Undefined)
    y = alt.Y("method:N", sort=frame["method"].tolist(), title="Estimator")
    tooltip = [alt.Tooltip("label:N", title="Estimator"),
               alt.Tooltip("ci_text:N", title=f"{name} [{level:.0%} CI]"),
               alt.Tooltip("tau2:Q", title="tau²", format=".4f"),
               alt.Tooltip("i2:Q", title="I² (%)", format=".1f")]
    base = alt.Chart(frame).encode(y=y, tooltip=tooltip)
    effect = alt.layer(
        alt.Chart(pd.DataFrame({"x": [null]})).mark_rule(strokeDash=[4, 4], color="#6b7280")
        .encode(x=alt.X("x:Q", scale=x_scale)),
        base.mark_rule(strokeWidth=2, color=INK).encode(
            x=alt.X("lo:Q", scale=x_scale, title=f"{name}{' (log scale)' if ratio else ''}",
                    axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)
                    if ticks else alt.Axis()),
            x2="hi:Q"),
        base.mark_point(filled=True, size=70, color=ACCENT).encode(x=alt.X("est:Q",
                                                                          scale=x_scale)),
    ).properties(width=420, height=24 * len(frame),
                 title=alt.TitleParams("Pooled estimate and CI", fontSize=13))
    tau = base.mark_bar(color="#93c5fd").encode(
        x=alt.X("tau2:Q", title="τ² (between-study variance)", axis=axis(220))).properties(
        width=220, height=24 * len(frame), title=alt.TitleParams("τ² estimate", fontSize=13))
    return alt.hconcat(effect, tau).resolve_scale(y="shared").properties(
        title=alt.TitleParams("How much does the choice of τ² estimator matter?",
                              anchor="start", fontSize=15))


def leave_one_out_chart(table: pd.DataFrame, full: PoolResult) -> alt.LayerChart:
    """Pooled estimate with CI after omitting each study, against the full estimate.

    ``table`` is :func:`metacore.diagnostics.sensitivity.leave_one_out` output.
    """
    ratio = full.ratio
    t = np.exp if ratio else (lambda x: x)
    frame = table.assign(est=t(table["estimate"]), lo=t(table["ci_low"]),
                         hi=t(table["ci_high"]))
    frame["ci_text"] = [f"{format_effect(a)} [{format_effect(b)}, {format_effect(c)}]"
                        for a, b, c in zip(frame["est"], frame["lo"], frame["hi"], strict=True)]
    name = MEASURE_LABELS.get(full.measure, full.measure)
    nat = full.natural()
    lo = min(float(frame["lo"].min()), nat["ci_low"])
    hi = max(float(frame["hi"].max()), nat["ci_high"])
    ticks = nice_ticks(lo, hi, ratio, width=520)
    x_scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                        domain=[min(ticks[0], lo), max(ticks[-1], hi)])
    y = alt.Y("study:N", sort=frame["study"].tolist(), title="Study left out",
              axis=alt.Axis(labelLimit=220))
    tooltip = [alt.Tooltip("study:N", title="Left out"),
               alt.Tooltip("ci_text:N", title=f"{name} [{full.level:.0%} CI]"),
               alt.Tooltip("tau2:Q", title="τ²", format=".4f"),
               alt.Tooltip("i2:Q", title="I² (%)", format=".1f")]
    band = alt.Chart(pd.DataFrame({"lo": [nat["ci_low"]], "hi": [nat["ci_high"]]})).mark_rect(
        color="#dbeafe", opacity=0.6).encode(x=alt.X("lo:Q", scale=x_scale), x2="hi:Q")
    full_line = alt.Chart(pd.DataFrame({"x": [nat["estimate"]]})).mark_rule(
        color=ACCENT).encode(x=alt.X("x:Q", scale=x_scale))
    base = alt.Chart(frame).encode(y=y, tooltip=tooltip)
    return alt.layer(
        band, full_line,
        base.mark_rule(strokeWidth=1.5, color=INK).encode(
            x=alt.X("lo:Q", scale=x_scale, title=f"{name}{' (log scale)' if ratio else ''}",
                    axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)),
            x2="hi:Q"),
        base.mark_point(filled=True, size=50, color=INK).encode(x=alt.X("est:Q", scale=x_scale)),
    ).properties(width=520, height=max(120, 22 * len(frame)), title=alt.TitleParams(
        "Leave-one-out: pooled estimate without each study",
        subtitle="Band and line: the estimate with every study", anchor="start", fontSize=15))


