"""Charts of dependent effect sizes: naive, multilevel and robust intervals side by side,
the variance split into its levels, and the pooled estimate over an assumed within-cluster
correlation ρ.

``width`` is always the whole chart's: Streamlit fits the plot, its axes and legend in it.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.report.charts.common import ACCENT, GREY, INK, chart_title, color_if, effect_scale

__all__ = ["dependence_chart", "rho_chart", "variance_split_chart"]

MODEL_LABELS = {"naive": "Naive (rows independent)", "multilevel": "Multilevel model",
                "robust": "Multilevel + cluster-robust (CR2)"}
_COLORS = ["#9ca3af", ACCENT, "#b45309"]


def dependence_chart(table: pd.DataFrame, *, ratio: bool, x_title: str, level: float = 0.95,
                     width: int = 560) -> alt.LayerChart:
    """The three rows of :func:`metacore.dependence_table` as estimate and interval
    (natural scale for ratios, on a log axis).

    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    >>> tab = mc.dependence_table(eff, ["district", "school"])
    >>> len(dependence_chart(tab, ratio=False, x_title="SMD").to_dict()["layer"])
    3
    """
    t = np.exp if ratio else (lambda v: v)
    frame = pd.DataFrame({"model": table["model"].map(MODEL_LABELS).fillna(table["model"]),
                          "estimate": t(table["estimate"].to_numpy(float)),
                          "ci_low": t(table["ci_low"].to_numpy(float)),
                          "ci_high": t(table["ci_high"].to_numpy(float)),
                          "width_ratio": table["width_ratio"].to_numpy(float)})
    plot_w = max(200, width - 230)
    scale, ticks = effect_scale(frame[["ci_low", "ci_high"]].to_numpy(float), ratio, plot_w)
    order = list(frame["model"])
    y = alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=230,
                                                                labelFontSize=12))
    color = alt.Color("model:N", sort=order, legend=None,
                      scale=alt.Scale(domain=order, range=_COLORS[:len(order)]))
    tip = [alt.Tooltip("model:N", title="Model"),
           alt.Tooltip("estimate:Q", title="Estimate", format=".3f"),
           alt.Tooltip("ci_low:Q", title=f"{level:.0%} CI from", format=".3f"),
           alt.Tooltip("ci_high:Q", title="to", format=".3f"),
           alt.Tooltip("width_ratio:Q", title="Width vs naive", format=".2f")]
    base = alt.Chart(frame).encode(y=y, color=color, tooltip=tip)
    null = alt.Chart(pd.DataFrame({"x": [1.0 if ratio else 0.0]})).mark_rule(
        color=GREY, strokeDash=[4, 3]).encode(x=alt.X("x:Q", scale=scale))
    x_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined, grid=False,
                      title=x_title + (" (log scale)" if ratio else ""))
    return alt.layer(
        null,
        base.mark_rule(strokeWidth=4).encode(x=alt.X("ci_low:Q", scale=scale, axis=x_axis),
                                             x2=alt.X2("ci_high:Q")),
        base.mark_point(shape="diamond", filled=True, size=130, color=INK).encode(
            x=alt.X("estimate:Q", scale=scale)),
        width=width, height=40 * len(frame) + 90,
        title=chart_title("Pooled effect: ignoring, modelling and robustly testing the dependence",
                     f"{level:.0%} confidence intervals"))


def variance_split_chart(split: pd.DataFrame, *, width: int = 560) -> alt.LayerChart:
    """One stacked bar: the total variance split into sampling and each level's part
    (``split`` from :meth:`MultilevelResult.variance_split`), with the percentages.

    >>> s = pd.DataFrame({"component": ["sampling", "district"], "variance": [1.0, 3.0],
    ...                   "percent": [25.0, 75.0]})
    >>> variance_split_chart(s).to_dict()["layer"][0]["mark"]["type"]
    'bar'
    """
    frame = split.copy()
    frame["order"] = np.arange(len(frame))
    frame["end"] = frame["percent"].cumsum()
    frame["start"] = frame["end"] - frame["percent"]
    frame["mid"] = (frame["start"] + frame["end"]) / 2
    frame["label"] = [f"{p:.0f}%" if p >= 6 else "" for p in frame["percent"]]
    frame["bar"] = "variance"
    names = list(frame["component"])
    palette = ["#d1d5db", "#1d4ed8", "#60a5fa", "#93c5fd", "#bfdbfe"][:len(names)]
    color = alt.Color("component:N", sort=names, title=None,
                      scale=alt.Scale(domain=names, range=palette),
                      legend=alt.Legend(orient="bottom", columns=1, labelLimit=320))
    tip = [alt.Tooltip("component:N", title="Part"),
           alt.Tooltip("variance:Q", title="Variance", format=".4f"),
           alt.Tooltip("percent:Q", title="Share (%)", format=".1f")]
    x = alt.X("start:Q", scale=alt.Scale(domain=[0, 100], nice=False),
              title="Share of the total variance (%)",
              axis=alt.Axis(values=[0, 25, 50, 75, 100]))
    bars = alt.Chart(frame).mark_bar(height=38).encode(
        x=x, x2=alt.X2("end:Q"), y=alt.Y("bar:N", axis=None), color=color, tooltip=tip)
    text = alt.Chart(frame).mark_text(fontSize=12, fontWeight="bold").encode(
        x=alt.X("mid:Q", scale=alt.Scale(domain=[0, 100])), y=alt.Y("bar:N", axis=None),
        text=alt.Text("label:N"), tooltip=tip,
        color=color_if("datum.order == 0", INK, "white"))
    return alt.layer(bars, text,
        width=width, height=80 + 18 * len(frame) + 70,
        title=chart_title("Where the variance lies",
                     "Typical sampling variance of one estimate, and the variance of the "
                     "true effects at each level"))


def rho_chart(tab: pd.DataFrame, *, ratio: bool, x_title: str, level: float = 0.95,
              width: int = 560) -> alt.LayerChart:
    """The pooled estimate (line) and its interval (band) over the assumed within-cluster
    correlation ρ (``tab`` from :func:`metacore.rho_sensitivity`).

    >>> tab = pd.DataFrame({"rho": [0.0, 0.5], "estimate": [0.1, 0.12], "ci_low": [0.0, 0.0],
    ...                     "ci_high": [0.2, 0.25]})
    >>> [layer["mark"]["type"] for layer in rho_chart(tab, ratio=False,
    ...                                                x_title="SMD").to_dict()["layer"]]
    ['area', 'line', 'point']
    """
    t = np.exp if ratio else (lambda v: v)
    frame = pd.DataFrame({"rho": tab["rho"].to_numpy(float),
                          "estimate": t(tab["estimate"].to_numpy(float)),
                          "ci_low": t(tab["ci_low"].to_numpy(float)),
                          "ci_high": t(tab["ci_high"].to_numpy(float))})
    scale, ticks = effect_scale(frame[["ci_low", "ci_high"]].to_numpy(float), ratio, 240)
    y_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined,
                      title=x_title + (" (log scale)" if ratio else ""))
    x = alt.X("rho:Q", title="Assumed correlation ρ between estimates of one cluster",
              scale=alt.Scale(domain=[0, float(max(0.9, frame["rho"].max()))], nice=False),
              axis=alt.Axis(values=[round(0.1 * i, 1) for i in range(10)], format=".1f"))
    tip = [alt.Tooltip("rho:Q", title="ρ", format=".1f"),
           alt.Tooltip("estimate:Q", title="Estimate", format=".3f"),
           alt.Tooltip("ci_low:Q", title=f"{level:.0%} CI from", format=".3f"),
           alt.Tooltip("ci_high:Q", title="to", format=".3f")]
    base = alt.Chart(frame).encode(x=x, tooltip=tip)
    return alt.layer(
        base.mark_area(color="#bfdbfe", opacity=0.7).encode(
            y=alt.Y("ci_low:Q", scale=scale, axis=y_axis), y2=alt.Y2("ci_high:Q")),
        base.mark_line(color=ACCENT, strokeWidth=2).encode(y=alt.Y("estimate:Q", scale=scale)),
        base.mark_point(color=ACCENT, filled=True, size=40).encode(
            y=alt.Y("estimate:Q", scale=scale)),
        width=width, height=240,
        title=chart_title("Sensitivity to the within-cluster correlation ρ",
                     f"Multilevel estimate (line) and {level:.0%} CI (band)"))
