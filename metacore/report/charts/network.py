"""Charts of a network meta-analysis: the network graph, the forest plot of every
treatment vs the reference, the league table as a coloured grid, P-scores and SUCRA,
the rankogram and the comparison-adjusted funnel plot.

``width`` is the whole chart's (Streamlit fits the plot, its axes and legend in it). Each
builder takes a :class:`~metacore.models.network.NetworkResult` (or a frame the
diagnostics return) and returns an Altair chart; pages only display them.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from metacore.models.effects import MEASURE_LABELS
from metacore.models.network import NetworkResult
from metacore.numbers import format_effect
from metacore.report.charts.common import (
    ACCENT,
    GREY,
    INK,
    chart_title,
    clip_label,
    color_if,
    effect_scale,
    records,
)

__all__ = ["comparison_funnel_chart", "league_chart", "network_forest_chart",
           "network_graph_chart", "ranking_chart", "rankogram_chart"]

#: Longest treatment name drawn in a chart (tables keep the full text).
NAME_LIMIT = 24
_MULTI = "#f59e0b"


def _named(chart: alt.TopLevelMixin, frames: dict[str, pd.DataFrame]) -> alt.TopLevelMixin:
    """The chart with its data as named top-level datasets, which its layers refer to by
    name (``alt.NamedData``): Altair then neither sanitises nor deep-copies the rows once per
    layer, which made a what-if slow."""
    chart.datasets = {name: records(frame) for name, frame in frames.items()}
    return chart


def _measure_name(nm: NetworkResult) -> str:
    return MEASURE_LABELS.get(nm.measure, nm.measure)


def graph_layout(treatments: list[str]) -> pd.DataFrame:
    """Node positions on the unit circle, the first treatment at the top, clockwise.

    >>> graph_layout(["a", "b", "c", "d"]).round(3)[["x", "y"]].values.tolist()
    [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, -0.0]]
    """
    n = len(treatments)
    angle = math.pi / 2 - 2 * math.pi * np.arange(n) / max(n, 1)
    return pd.DataFrame({"treatment": treatments, "x": np.cos(angle), "y": np.sin(angle)})


def network_graph_chart(nm: NetworkResult, *, width: int = 600) -> alt.LayerChart:
    """The network: treatments on a circle (area by participants, or by studies when a
    contrast table gives no arm sizes), a line per direct comparison (width by number of
    studies) and multi-arm studies shaded as polygons of their treatments.

    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    >>> spec = network_graph_chart(nm).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]][:3]
    ['line', 'line', 'circle']
    """
    g = nm.geometry
    pos = graph_layout(list(nm.treatments)).set_index("treatment")
    nodes = g.treatments.copy()
    by_people = bool(np.isfinite(nodes["participants"]).all() and nodes["participants"].gt(0)
                     .all())
    nodes["size"] = nodes["participants"] if by_people else nodes["studies"].astype(float)
    nodes["x"] = pos.loc[nodes["treatment"], "x"].to_numpy()
    nodes["y"] = pos.loc[nodes["treatment"], "y"].to_numpy()
    nodes["name"] = [clip_label(t, NAME_LIMIT) for t in nodes["treatment"]]
    # Labels sit outside the circle, on the side the node faces, so they never cross edges.
    nodes["align"] = np.where(nodes["x"] > 0.2, "left", np.where(nodes["x"] < -0.2, "right",
                                                                  "center"))
    # a label above or below its node clears the largest node; one beside it needs less
    nodes["lx"] = nodes["x"] * 1.16
    nodes["ly"] = nodes["y"] * np.where(nodes["align"] == "center", 1.3, 1.16)
    nodes["participants"] = nodes["participants"].where(np.isfinite(nodes["participants"]))
    edges = []
    for i, e in enumerate(g.edges.itertuples(index=False)):
        for t in (e.t1, e.t2):
            edges.append({"edge": i, "x": pos.loc[t, "x"], "y": pos.loc[t, "y"],
                          "comparison": f"{e.t1} vs {e.t2}", "studies": int(e.studies),
                          "participants": float(e.participants)
                          if np.isfinite(e.participants) else None})
    edge_frame = pd.DataFrame(edges)
    multi = []
    for s in nm.studies:
        if len(s.treatments) > 2:
            # the polygon's corners in circle order, so it never crosses itself
            corners = sorted(s.treatments, key=list(nm.treatments).index)
            for j, t in enumerate(corners):
                multi.append({"study": s.name, "order": j, "x": pos.loc[t, "x"],
                              "y": pos.loc[t, "y"], "design": " : ".join(corners)})
    domain = [-1.75, 1.75]
    sx = alt.Scale(domain=domain, nice=False, zero=False)
    sy = alt.Scale(domain=[-1.35, 1.35], nice=False, zero=False)
    x = alt.X("x:Q", scale=sx, axis=None)
    y = alt.Y("y:Q", scale=sy, axis=None)
    height = int(width * 2.7 / 3.5)
    top = max(1, int(edge_frame["studies"].max())) if len(edge_frame) else 1
    multi_frame = pd.DataFrame(multi, columns=["study", "order", "x", "y", "design"])
    multi_layer = alt.Chart(alt.NamedData("multi")).mark_line(
        interpolate="linear-closed", fill=_MULTI, fillOpacity=0.18, stroke=_MULTI,
        strokeOpacity=0.5, strokeWidth=1).encode(
        x=x, y=y, order=alt.Order("order:Q"), detail=alt.Detail("study:N"),
        tooltip=[alt.Tooltip("study:N", title="Multi-arm study"),
                 alt.Tooltip("design:N", title="Arms")])
    edge_layer = alt.Chart(alt.NamedData("edges")).mark_line(color=GREY, strokeCap="round").encode(
        x=x, y=y, detail=alt.Detail("edge:N"),
        strokeWidth=alt.StrokeWidth("studies:Q", scale=alt.Scale(domain=[1, top],
                                                                  range=[1.5, 9]),
                                    legend=alt.Legend(title="Studies", orient="bottom",
                                                      values=sorted({1, top}))),
        tooltip=[alt.Tooltip("comparison:N", title="Comparison"),
                 alt.Tooltip("studies:Q", title="Studies"),
                 alt.Tooltip("participants:Q", title="Participants", format=",.0f")])
    size_title = "Participants" if by_people else "Studies"
    node_layer = alt.Chart(alt.NamedData("nodes")).mark_circle(
        color=ACCENT, opacity=0.95, stroke="white", strokeWidth=1.5).encode(
        x=x, y=y,
        size=alt.Size("size:Q", scale=alt.Scale(range=[120, 1400], zero=True),
                      legend=alt.Legend(title=size_title, orient="bottom", format=",.0f",
                                        tickCount=3)),
        tooltip=[alt.Tooltip("treatment:N", title="Treatment"),
                 alt.Tooltip("studies:Q", title="Studies"),
                 alt.Tooltip("participants:Q", title="Participants", format=",.0f")])
    # alignment is a mark property, not a channel: one text layer per side
    text_layers = [
        alt.Chart(alt.NamedData("nodes")).transform_filter(f"datum.align == '{side}'").mark_text(
            fontSize=12, color=INK, fontWeight="bold", align=side).encode(
            x=alt.X("lx:Q", scale=sx, axis=None), y=alt.Y("ly:Q", scale=sy, axis=None),
            text=alt.Text("name:N"), tooltip=[alt.Tooltip("treatment:N", title="Treatment")])
        for side in ("left", "right", "center") if (nodes["align"] == side).any()]
    multi_note = (f"; shaded: {len(g.multi_arm)} multi-arm "
                  f"{'study' if len(g.multi_arm) == 1 else 'studies'}" if g.multi_arm else "")
    # one flat layer list: nested layers are deep-copied again at every level (slow)
    chart = alt.layer(multi_layer, edge_layer, node_layer, *text_layers,
        width=width, height=height,
        title=chart_title("Network of treatments",
                     f"{len(nm.treatments)} treatments, {nm.n_studies} studies; node area: "
                     f"{size_title.lower()}; line width: studies{multi_note}"),
    ).configure_view(stroke=None)
    return _named(chart, {"multi": multi_frame, "edges": edge_frame,
                          "nodes": nodes.drop(columns="events", errors="ignore")})


def network_forest_chart(nm: NetworkResult, *, show_pi: bool = True,
                         width: int = 560) -> alt.LayerChart:
    """Every treatment vs the reference: estimate, confidence interval (thick) and, under
    random effects and ``show_pi``, prediction interval (thin); ratios on a log axis,
    labelled on the natural scale.

    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> len(network_forest_chart(nm).to_dict()["datasets"]) >= 1
    True
    """
    nat = nm.natural()["estimates"]
    frame = nat.assign(name=[clip_label(t, NAME_LIMIT) for t in nat["treatment"]])
    frame = frame.sort_values("estimate", kind="stable").reset_index(drop=True)
    show_pi = show_pi and nm.model == "random"
    cols = ["ci_low", "ci_high"] + (["pi_low", "pi_high"] if show_pi else [])
    plot_w = max(200, width - 200)
    scale, ticks = effect_scale(frame[cols].to_numpy(float), nm.ratio, plot_w)
    measure = _measure_name(nm)
    x_title = f"{measure} vs {clip_label(nm.reference, NAME_LIMIT)}" + (
        " (log scale)" if nm.ratio else "")
    y = alt.Y("name:N", sort=list(frame["name"]), title=None,
              axis=alt.Axis(labelLimit=200, labelFontSize=12))
    x_axis = alt.Axis(values=ticks, format="~g" if nm.ratio else alt.Undefined, grid=False,
                      title=x_title)
    frame["text"] = [f"{format_effect(e, 3)} [{format_effect(lo, 3)}, {format_effect(hi, 3)}]"
                     for e, lo, hi in zip(frame["estimate"], frame["ci_low"], frame["ci_high"],
                                          strict=True)]
    tip = [alt.Tooltip("treatment:N", title="Treatment"),
           alt.Tooltip("text:N", title=f"{measure} [{nm.level:.0%} CI]")]
    if show_pi:
        tip.append(alt.Tooltip("pi_low:Q", title="Prediction from", format=".3f"))
        tip.append(alt.Tooltip("pi_high:Q", title="Prediction to", format=".3f"))
    base = alt.Chart(frame).encode(y=y, tooltip=tip)
    null = alt.Chart(pd.DataFrame({"x": [1.0 if nm.ratio else 0.0]})).mark_rule(
        color=GREY, strokeDash=[4, 3]).encode(x=alt.X("x:Q", scale=scale))
    layers = [null]
    if show_pi:
        layers.append(base.mark_rule(color="#93c5fd", strokeWidth=1.5).encode(
            x=alt.X("pi_low:Q", scale=scale, axis=x_axis), x2=alt.X2("pi_high:Q")))
    layers.append(base.mark_rule(color=ACCENT, strokeWidth=3.5).encode(
        x=alt.X("ci_low:Q", scale=scale, axis=x_axis), x2=alt.X2("ci_high:Q")))
    layers.append(base.mark_point(shape="diamond", filled=True, size=110, color=INK).encode(
        x=alt.X("estimate:Q", scale=scale)))
    sub = f"{nm.level:.0%} confidence intervals (thick)" + (
        "; prediction intervals (thin)" if show_pi else "")
    return alt.layer(*layers,
        width=width, height=max(90, 30 * len(frame)) + 90,
        title=chart_title(f"Each treatment vs {clip_label(nm.reference, NAME_LIMIT)}", sub))


def league_chart(grid: pd.DataFrame, nm: NetworkResult, *, cell: int = 84) -> alt.LayerChart:
    """The league table as a coloured grid (``grid`` from :func:`metacore.league_grid`,
    natural scale): below the diagonal the network estimate of row vs column, above it the
    pooled direct evidence where the pair was compared; colour by estimate (diverging
    around no effect), treatment names on the diagonal, bold where the interval excludes
    no effect.

    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    >>> spec = league_chart(mc.league_grid(nm), nm).to_dict()
    >>> spec["layer"][0]["mark"]["type"]
    'rect'
    """
    names = list(nm.treatments)
    short = {t: clip_label(t, 14) for t in names}
    null = 1.0 if nm.ratio else 0.0
    cells = grid.copy()
    cells["row_name"] = cells["row"].map(short)
    cells["col_name"] = cells["col"].map(short)
    shown = cells["estimate"].notna()
    cells["line1"] = [format_effect(e, 2) if ok else "" for e, ok in
                      zip(cells["estimate"], shown, strict=True)]
    cells["line2"] = [f"[{format_effect(lo, 2)}, {format_effect(hi, 2)}]" if ok else ""
                      for lo, hi, ok in zip(cells["ci_low"], cells["ci_high"], shown,
                                            strict=True)]
    cells["significant"] = [bool(ok and (lo > null or hi < null)) for lo, hi, ok in
                            zip(cells["ci_low"], cells["ci_high"], shown, strict=True)]
    cells["what"] = np.where(cells["kind"] == "network", "Network estimate (row vs column)",
                             "Direct evidence (row vs column)")
    cells["value"] = np.log(cells["estimate"]) if nm.ratio else cells["estimate"]
    cells.loc[~shown, "what"] = "Never compared directly"
    diag = pd.DataFrame({"row_name": [short[t] for t in names],
                         "col_name": [short[t] for t in names], "treatment": names})
    lim = float(np.nanmax(np.abs(cells["value"]))) if shown.any() else 1.0
    lim = lim if lim > 0 else 1.0
    order = [short[t] for t in names]
    x = alt.X("col_name:N", sort=order, title=None,
              axis=alt.Axis(orient="top", labelAngle=-35, labelLimit=110, labelFontSize=11))
    y = alt.Y("row_name:N", sort=order, title=None, axis=alt.Axis(labelLimit=110,
                                                                   labelFontSize=11))
    measure = _measure_name(nm)
    tip = [alt.Tooltip("row:N", title="Row"), alt.Tooltip("col:N", title="Column"),
           alt.Tooltip("what:N", title="Cell"),
           alt.Tooltip("estimate:Q", title=measure, format=".3f"),
           alt.Tooltip("ci_low:Q", title=f"{nm.level:.0%} CI from", format=".3f"),
           alt.Tooltip("ci_high:Q", title="to", format=".3f")]
    cells["shown"] = shown
    data = alt.NamedData("cells")
    rect = alt.Chart(data).transform_filter("datum.shown").mark_rect(
        stroke="white", strokeWidth=1).encode(
        x=x, y=y, tooltip=tip,
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domain=[-lim, lim],
                                                   domainMid=0,
                                                   reverse=False),
                        legend=None))
    empty = alt.Chart(data).transform_filter("!datum.shown").mark_rect(
        color="#f3f4f6", stroke="white").encode(
        x=x, y=y, tooltip=tip)
    diag_layer = alt.Chart(alt.NamedData("diag")).mark_rect(
        color="#e5e7eb", stroke="white").encode(
        x=x, y=y, tooltip=[alt.Tooltip("treatment:N", title="Treatment")])
    diag_text = alt.Chart(alt.NamedData("diag")).mark_text(
        fontSize=10, fontWeight="bold", color=INK, limit=cell - 6).encode(
        x=x, y=y, text=alt.Text("row_name:N"))
    # dark text on pale cells, white on saturated ones
    dark = f"abs(datum.value) < {0.55 * lim}"
    # font weight is a mark property, not a channel: bold and normal cells in two layers
    text1 = [
        alt.Chart(data).transform_filter(
            "datum.shown && " + ("datum.significant" if bold else "!datum.significant")
        ).mark_text(
            fontSize=11, dy=-7, fontWeight="bold" if bold else "normal").encode(
            x=x, y=y, text=alt.Text("line1:N"), tooltip=tip,
            color=color_if(dark, INK, "white"))
        for bold in (True, False) if (shown & (cells["significant"] == bold)).any()]
    text2 = alt.Chart(data).transform_filter("datum.shown").mark_text(fontSize=9, dy=7).encode(
        x=x, y=y, text=alt.Text("line2:N"), tooltip=tip,
        color=color_if(dark, INK, "white"))
    n = len(names)
    chart = alt.layer(rect, empty, diag_layer, diag_text, *text1, text2,
        width=cell * n + 120, height=int(cell * 0.55) * n + 120,
        title=chart_title(f"League table ({measure}, row vs column)",
                     "Below the diagonal: network estimates; above: direct evidence only "
                     "(blank: never compared directly). Bold: the interval excludes no "
                     "effect."))
    return _named(chart, {"cells": cells, "diag": diag})


def ranking_chart(pscores: pd.Series, sucra: pd.Series, *, width: int = 460) -> alt.LayerChart:
    """P-score (bar) and SUCRA (tick) of each treatment, best first.

    >>> s = pd.Series({"a": 0.9, "b": 0.1}); spec = ranking_chart(s, s).to_dict()
    >>> spec["layer"][0]["mark"]["type"]
    'bar'
    """
    frame = pd.DataFrame({"treatment": list(pscores.index),
                          "pscore": pscores.to_numpy(float),
                          "sucra": sucra.reindex(pscores.index).to_numpy(float)})
    frame["name"] = [clip_label(t, NAME_LIMIT) for t in frame["treatment"]]
    frame = frame.sort_values("pscore", ascending=False, kind="stable")
    y = alt.Y("name:N", sort=list(frame["name"]), title=None,
              axis=alt.Axis(labelLimit=200, labelFontSize=12))
    x_scale = alt.Scale(domain=[0, 1], nice=False)
    tip = [alt.Tooltip("treatment:N", title="Treatment"),
           alt.Tooltip("pscore:Q", title="P-score", format=".3f"),
           alt.Tooltip("sucra:Q", title="SUCRA", format=".3f")]
    bars = alt.Chart(frame).mark_bar(color="#93c5fd", height=16).encode(
        y=y, x=alt.X("pscore:Q", scale=x_scale, title="P-score (bar) and SUCRA (black tick)",
                     axis=alt.Axis(format=".0%", values=[0, 0.25, 0.5, 0.75, 1])),
        tooltip=tip)
    ticks = alt.Chart(frame).mark_tick(color=INK, thickness=3, size=20).encode(
        y=y, x=alt.X("sucra:Q", scale=x_scale), tooltip=tip)
    labels = alt.Chart(frame).mark_text(align="left", dx=6, fontSize=11, color=INK).encode(
        y=y, x=alt.X("pscore:Q", scale=x_scale), text=alt.Text("pscore:Q", format=".2f"))
    return alt.layer(bars, ticks, labels,
        width=width, height=max(80, 26 * len(frame)) + 80,
        title=chart_title("Ranking: P-scores and SUCRA",
                     "Each: the mean certainty of being better than the others (1 = best)"))


def rankogram_chart(probs: pd.DataFrame, *, cell: int = 44) -> alt.LayerChart:
    """Probability of each rank (1 = best) for each treatment, as a heat map with the
    percentages written in (rows: treatments in ``probs`` order; columns: ranks).

    >>> p = pd.DataFrame([[0.8, 0.2], [0.2, 0.8]], index=["a", "b"], columns=[1, 2])
    >>> rankogram_chart(p).to_dict()["layer"][1]["mark"]["type"]
    'text'
    """
    frame = probs.rename_axis("treatment").reset_index().melt(
        id_vars="treatment", var_name="rank", value_name="p")
    frame["rank"] = frame["rank"].astype(int)
    frame["name"] = [clip_label(t, NAME_LIMIT) for t in frame["treatment"]]
    frame["label"] = [f"{100 * p:.0f}" if p >= 0.01 else "" for p in frame["p"]]
    names = [clip_label(t, NAME_LIMIT) for t in probs.index]
    x = alt.X("rank:O", title="Rank (1 = best)", axis=alt.Axis(labelAngle=0, orient="top"))
    y = alt.Y("name:N", sort=names, title=None, axis=alt.Axis(labelLimit=200,
                                                              labelFontSize=12))
    tip = [alt.Tooltip("treatment:N", title="Treatment"), alt.Tooltip("rank:O", title="Rank"),
           alt.Tooltip("p:Q", title="Probability", format=".1%")]
    rect = alt.Chart(frame).mark_rect(stroke="white").encode(
        x=x, y=y, tooltip=tip,
        color=alt.Color("p:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(title="Probability", format=".0%",
                                          orient="bottom", gradientLength=160)))
    text = alt.Chart(frame).mark_text(fontSize=11).encode(
        x=x, y=y, text=alt.Text("label:N"), tooltip=tip,
        color=color_if("datum.p > 0.5", "white", INK))
    n = probs.shape[1]
    return alt.layer(rect, text,
        width=cell * n + 200, height=28 * len(probs) + 160,
        title=chart_title("Rankogram: probability of each rank (%)",
                     "From draws of the network estimates"))


def comparison_funnel_chart(points: pd.DataFrame, nm: NetworkResult, *,
                            width: int = 520) -> alt.LayerChart:
    """Comparison-adjusted funnel plot (``points`` from :func:`metacore.comparison_adjusted`):
    each study's contrast minus the network estimate of that comparison, against its
    standard error (reversed), with the pseudo 95% funnel around 0.

    >>> import metacore as mc
    >>> nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    >>> spec = comparison_funnel_chart(mc.comparison_adjusted(nm), nm).to_dict()
    >>> spec["layer"][-1]["mark"]["type"]
    'point'
    """
    pts = points.copy()
    pts["comparison"] = [f"{clip_label(a, 16)} vs {clip_label(b, 16)}"
                         for a, b in zip(pts["t1"], pts["t2"], strict=True)]
    pts["study_name"] = [clip_label(s, 50) for s in pts["study"]]
    top = float(pts["sei"].max()) * 1.08 if len(pts) else 1.0
    z = float(special.ndtri(0.975))
    span = max(float(np.abs(pts["centred"]).max()) if len(pts) else 0.0, z * top) * 1.05
    funnel = pd.DataFrame({"se": [top, 0.0, top], "x": [-z * top, 0.0, z * top]})
    sx = alt.Scale(domain=[-span, span], nice=False, zero=False)
    sy = alt.Scale(domain=[top, 0], nice=False, zero=False)
    scale_word = "log " if nm.ratio else ""
    x_title = f"Study contrast minus network estimate ({scale_word}{_measure_name(nm)})"
    lines = alt.Chart(funnel).mark_line(color="#4b5563", strokeDash=[5, 4]).encode(
        x=alt.X("x:Q", scale=sx, title=x_title), y=alt.Y("se:Q", scale=sy,
                                                          title="Standard error"))
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color=GREY).encode(
        x=alt.X("x:Q", scale=sx))
    many = pts["comparison"].nunique() > 10
    color = alt.Color("comparison:N", title="Comparison",
                      legend=None if many else alt.Legend(orient="bottom", columns=2,
                                                          labelLimit=220))
    dots = alt.Chart(pts).mark_point(filled=True, size=60, opacity=0.85).encode(
        x=alt.X("centred:Q", scale=sx), y=alt.Y("sei:Q", scale=sy), color=color,
        shape=alt.Shape("comparison:N", legend=None),
        tooltip=[alt.Tooltip("study_name:N", title="Study"),
                 alt.Tooltip("comparison:N", title="Comparison"),
                 alt.Tooltip("yi:Q", title="Study contrast", format=".3f"),
                 alt.Tooltip("network:Q", title="Network estimate", format=".3f"),
                 alt.Tooltip("sei:Q", title="SE", format=".3f")])
    # the legend below takes height from the plot's share: add it back
    legend_px = 0 if many else 40 + 18 * -(-pts["comparison"].nunique() // 2)
    return alt.layer(lines, zero, dots,
        width=width, height=int(width * 0.7) + legend_px,
        title=chart_title("Comparison-adjusted funnel plot",
                     "Each point: a study's comparison centred on its network estimate; "
                     "dashed: pseudo 95% limits"))
