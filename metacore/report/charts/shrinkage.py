"""No, partial and complete pooling (the course notes' shrinkage picture)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.models.effects import MEASURE_LABELS
from metacore.report.charts.common import (
    ACCENT,
    INK,
    PLOT_SIZED,
    ROW_PX,
    nice_ticks,
)


def shrinkage_chart(path: pd.DataFrame, pooled: float, tau: float, measure: str,
                    ratio: bool, common: float | None = None) -> alt.LayerChart:
    """The course notes' picture: each study under no pooling (hollow) and partial pooling
    (filled), an arrow between them, the mean at this tau (solid) and the
    complete-pooling (common-effect) estimate (dashed).

    ``path`` is :func:`metacore.models.shrinkage.shrinkage_path` output; ``pooled`` the
    random-effects mean at ``tau``; ``common`` the common-effect estimate (analysis scale).
    """
    t = np.exp if ratio else (lambda x: x)
    frame = path.assign(obs=t(path["yi"]), part=t(path["pred"]),
                        precision=1 / (path["se"] ** 2),
                        moved=(path["pred"] - path["yi"]).abs())
    frame["study"] = frame["study"].astype(str)
    name = MEASURE_LABELS.get(measure, measure)
    refs = [t(pooled)] + ([t(common)] if common is not None else [])
    vals = np.concatenate([frame["obs"], frame["part"], refs])
    lo, hi = float(np.min(vals)), float(np.max(vals))
    ticks = nice_ticks(lo, hi, ratio, width=560) if (not ratio or lo > 0) else None
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
    lines = [("Mean at this τ", t(pooled), ACCENT, [1, 0])]
    if common is not None:
        lines.append(("Complete pooling (common effect)", t(common), "#b45309", [6, 4]))
    refs = pd.DataFrame({"what": [w for w, *_ in lines], "x": [x for _, x, *_ in lines]})
    rule = alt.Chart(refs).mark_rule(strokeWidth=2).encode(
        x=alt.X("x:Q", scale=scale),
        color=alt.Color("what:N", title=None, scale=alt.Scale(
            domain=list(refs["what"]), range=[c for *_, c, _ in lines]),
            # labelLimit 0: the longest entry is never cut to "Complete pooling (common e…"
            legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0)),
        strokeDash=alt.StrokeDash("what:N", legend=None, scale=alt.Scale(
            domain=list(refs["what"]), range=[d for *_, d in lines])),
        tooltip=[alt.Tooltip("what:N", title="Line"),
                 alt.Tooltip("x:Q", title=name, format=".3f")])
    # The height is the plot's own (autosize "pad"): title, legend and axis come on top of
    # it, so six studies keep a full row each instead of sharing what the legend left.
    return alt.layer(rule, arrows, head, observed, partial).properties(
        width=560, height=max(4, len(frame)) * (ROW_PX + 6), autosize=PLOT_SIZED,
        padding={"top": 6, "bottom": 6, "left": 6, "right": 6},   # the title off the edge
        title=alt.TitleParams(
            f"No, partial and complete pooling (τ = {tau:.3g})", anchor="start", fontSize=15,
            subtitle=["Hollow: each study alone; blue dots: partial pooling at this τ.",
                      "Noisy studies move most; at τ = 0 every study sits on the common "
                      "effect."]))




#: The rows a lecture reveals after the studies, in the order the course notes build them.
REVEAL_ROWS = ("Common effect", "Random effects", "Prediction interval", "Causal estimate")
_REVEAL_COLORS = {"study": INK, "Common effect": "#b45309", "Random effects": ACCENT,
                  "Prediction interval": "#60a5fa", "Causal estimate": "#047857"}


def reveal_chart(study: list[str], yi: np.ndarray, sei: np.ndarray,
                 pooled: list[tuple[str, float, float, float]], shown: int, *, ratio: bool,
                 x_title: str, level: float = 0.95, width: int = 560,
                 height: int | None = None) -> alt.LayerChart:
    """A forest plot built up step by step: the studies, then the first ``shown`` of the
    ``pooled`` rows (``(name, estimate, low, high)`` on the analysis scale, names from
    :data:`REVEAL_ROWS`). The x axis is fixed by every row, shown or not, so the picture
    does not jump as rows arrive. ``height`` (the plot's) defaults to one row each.

    Examples
    --------
    >>> import numpy as np
    >>> chart = reveal_chart(["A", "B"], np.array([0.1, 0.3]), np.array([0.1, 0.2]),
    ...                      [("Common effect", 0.14, 0.0, 0.3)], 0, ratio=False, x_title="d")
    >>> spec = chart.to_dict()
    >>> len(spec["datasets"][spec["layer"][1]["data"]["name"]])      # the studies only
    2
    """
    from scipy import special

    t = np.exp if ratio else (lambda v: v)
    z = float(special.ndtri(0.5 + level / 2))
    yi, sei = np.asarray(yi, float), np.asarray(sei, float)
    rows = [{"row": name, "kind": "study", "est": t(y), "lo": t(y - z * s), "hi": t(y + z * s)}
            for name, y, s in zip(study, yi, sei, strict=True)]
    extra = [{"row": name, "kind": name, "est": t(e), "lo": t(lo), "hi": t(hi)}
             for name, e, lo, hi in pooled]
    everything = pd.DataFrame(rows + extra)
    vals = everything[["lo", "hi", "est"]].to_numpy(float).ravel()
    vals = vals[np.isfinite(vals)]
    lo, hi = float(vals.min()), float(vals.max())
    null = 1.0 if ratio else 0.0
    lo, hi = min(lo, null), max(hi, null)
    ticks = nice_ticks(lo, hi, ratio, width=width) if (not ratio or lo > 0) else None
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], lo), max(ticks[-1], hi)] if ticks else [lo, hi])
    axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined, title=x_title) \
        if ticks else alt.Axis(title=x_title)
    order = list(study) + [name for name, *_ in pooled]
    frame = pd.DataFrame(rows + extra[:shown])
    frame["row_id"] = [order.index(r) for r in frame["row"]]
    # rows still to come keep their place but not their name: the first slide has no pooled row
    labels = [str(s) for s in order[:len(study) + shown]] + [""] * (len(pooled) - shown)
    y = alt.Y("row_id:O", title=None, scale=alt.Scale(domain=list(range(len(order)))),
              axis=alt.Axis(labelExpr=f"{labels!r}[datum.value]".replace("'", '"'),
                            labelLimit=220))
    color = alt.Color("kind:N", legend=None, scale=alt.Scale(
        domain=list(_REVEAL_COLORS), range=list(_REVEAL_COLORS.values())))
    tooltip = [alt.Tooltip("row:N", title="Row"), alt.Tooltip("est:Q", format=".3f"),
               alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f")]
    base = alt.Chart(frame).encode(y=y, color=color, tooltip=tooltip)
    null_rule = alt.Chart(pd.DataFrame({"x": [null]})).mark_rule(
        color="#6b7280", strokeDash=[4, 3]).encode(x=alt.X("x:Q", scale=scale, axis=axis))
    lines = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lo:Q", scale=scale, axis=axis), x2="hi:Q",
        strokeWidth=alt.condition("datum.kind == 'Prediction interval'", alt.value(7),
                                  alt.value(2)))
    points = base.mark_point(filled=True, size=80).encode(
        x=alt.X("est:Q", scale=scale),
        shape=alt.Shape("kind:N", legend=None, scale=alt.Scale(
            domain=list(_REVEAL_COLORS),
            range=["square", "diamond", "diamond", "stroke", "triangle-up"])))
    return alt.layer(null_rule, lines, points).properties(
        width=width, height=height or ROW_PX * len(order), autosize=PLOT_SIZED)


def covariate_shrinkage_chart(x: np.ndarray, yi: np.ndarray, shrunk: np.ndarray,
                              intercept: float, slope: float, *, x_title: str, y_title: str,
                              width: int = 560, height: int = 320) -> alt.LayerChart:
    """Doc 001's partial pooling with a covariate: each unit's own estimate (hollow) is pulled
    toward the fitted line (not toward one mean) to its partial-pooling estimate (filled).

    >>> import numpy as np
    >>> c = covariate_shrinkage_chart(np.array([1.0, 2.0]), np.array([0.5, -0.1]),
    ...                               np.array([0.3, 0.0]), 0.0, 0.1, x_title="x", y_title="y")
    >>> len(c.to_dict()["layer"])
    4
    """
    frame = pd.DataFrame({"x": np.asarray(x, float), "observed": yi, "shrunk": shrunk})
    pad = 0.03 * max(float(np.ptp(frame["x"])), 1e-9)
    xs = np.array([frame["x"].min() - pad, frame["x"].max() + pad])
    line = pd.DataFrame({"x": xs, "y": intercept + slope * xs})
    xsc = alt.Scale(zero=False, nice=False, domain=[float(xs[0]), float(xs[1])])
    # ticks at the covariate's own values: every year between would crowd the axis
    marks = sorted({float(v) for v in frame["x"]})
    xa = alt.X("x:Q", scale=xsc, title=x_title, axis=alt.Axis(
        format="~g", values=marks if len(marks) <= 12 else alt.Undefined))
    ys = alt.Scale(zero=False)
    base = alt.Chart(frame)
    fitted = alt.Chart(line).mark_line(color="#b45309", strokeWidth=2.5).encode(
        x=xa, y=alt.Y("y:Q", scale=ys, title=y_title))
    arrows = base.mark_rule(color="#9ca3af").encode(x=xa, y=alt.Y("observed:Q", scale=ys),
                                                    y2="shrunk:Q")
    observed = base.mark_point(filled=False, size=60, color=INK).encode(
        x=xa, y=alt.Y("observed:Q", scale=ys))
    partial = base.mark_circle(size=60, color=ACCENT).encode(
        x=xa, y=alt.Y("shrunk:Q", scale=ys))
    return alt.layer(fitted, arrows, observed, partial).properties(
        width=width, height=height, autosize=PLOT_SIZED, title=alt.TitleParams(
            "Partial pooling toward a fitted line", anchor="start", fontSize=15,
            subtitle=["Hollow: each unit alone; blue: partial pooling; orange: the fitted "
                      "regression line.", "Units shrink toward the line at their own "
                      "covariate value, noisy ones most."]))
