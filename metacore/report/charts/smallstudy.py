"""Funnel (contour-enhanced, with trim-and-fill and Egger's line), Baujat and GOSH charts."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from metacore.diagnostics.smallstudy import EggerResult, TrimFillResult
from metacore.models.effects import MEASURE_LABELS, EffectSizes
from metacore.models.pooling import PoolResult
from metacore.report.charts.common import (
    ACCENT,
    INK,
    PLOT_SIZED,
    clip_label,
    label_sides,
    nice_ticks,
    side_text,
)

__all__ = ["baujat_chart", "funnel_chart", "gosh_chart"]



def funnel_chart(effects: EffectSizes, res: PoolResult, *, trimfill: TrimFillResult | None = None,
                 egger: EggerResult | None = None, width: int = 520,
                 height: int = 380) -> alt.LayerChart:
    """Contour-enhanced funnel plot: standard error (reversed) against the effect.

    Shaded regions around the null mark where a study would be significant at p < 0.10,
    0.05 and 0.01 (darker = smaller p); dashed lines are the pseudo-CI funnel around the
    pooled estimate; open circles are studies filled in by trim-and-fill.
    """
    ratio = effects.ratio
    t = np.exp if ratio else (lambda x: x)
    se = np.sqrt(effects.vi)
    null = 0.0
    extra_y = trimfill.filled_yi if trimfill is not None else np.zeros(0)
    top = float(max(se.max(), np.sqrt(trimfill.filled_vi).max() if extra_y.size else 0)) * 1.08
    grid = np.linspace(0, top, 60)
    z_max = float(special.ndtri(1 - 0.01 / 2))
    y_all = np.concatenate([effects.yi, extra_y, [res.estimate]])
    lo = float(min(y_all.min(), null - z_max * top))
    hi = float(max(y_all.max(), null + z_max * top))
    ticks = nice_ticks(t(lo), t(hi), ratio, width=width)
    x_dom = [min(ticks[0], t(lo)), max(ticks[-1], t(hi))]
    x_scale = alt.Scale(type="log" if ratio else "linear", nice=False, zero=False,
                        domain=x_dom)
    y_scale = alt.Scale(domain=[top, 0], nice=False, zero=False)
    name = MEASURE_LABELS.get(effects.measure, effects.measure)
    x_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined,
                      title=f"{name} (log scale)" if ratio else name, grid=False)
    y_enc = alt.Y("se:Q", scale=y_scale, title="Standard error")
    # Nested regions around the null, widest first: p < 0.01 outside everything, then
    # 0.01-0.05, 0.05-0.10, and p > 0.10 (white) innermost. One layer each keeps the order.
    names = ["p < 0.01", "0.01 < p < 0.05", "0.05 < p < 0.10", "p > 0.10"]
    colors = ["#9ca3af", "#d1d5db", "#f3f4f6", "#ffffff"]
    color = alt.Color("p:N", title="Two-sided p of a study", sort=names,
                      scale=alt.Scale(domain=names, range=colors),
                      legend=alt.Legend(symbolStrokeColor="#9ca3af", symbolStrokeWidth=1))
    shades = [alt.Chart(pd.DataFrame({"se": [0.0, top], "lo": [x_dom[0]] * 2,
                                      "hi": [x_dom[1]] * 2, "p": names[0]}))
              .mark_area(orient="horizontal").encode(
                  y=y_enc, x=alt.X("lo:Q", scale=x_scale, axis=x_axis), x2="hi:Q",
                  color=color)]
    for label, p in zip(names[1:], (0.01, 0.05, 0.10), strict=True):
        z = float(special.ndtri(1 - p / 2))
        region = pd.DataFrame({"se": grid, "lo": t(null - z * grid), "hi": t(null + z * grid),
                               "p": label})
        shades.append(alt.Chart(region).mark_area(orient="horizontal").encode(
            y=y_enc, x=alt.X("lo:Q", scale=x_scale), x2="hi:Q",
            color=alt.Color("p:N", sort=names, scale=alt.Scale(domain=names, range=colors),
                            legend=None)))
    z95 = float(special.ndtri(0.975))
    funnel = pd.DataFrame([{"se": g, "x": t(res.estimate + s * z95 * g), "side": s}
                           for s in (-1, 1) for g in (0, top)])
    lines = alt.Chart(funnel).mark_line(strokeDash=[5, 4], color="#4b5563").encode(
        y=alt.Y("se:Q", scale=y_scale), x=alt.X("x:Q", scale=x_scale), detail="side:N")
    refs = [{"x": t(res.estimate), "what": "Pooled estimate"}]
    if trimfill is not None and trimfill.k0 > 0:
        refs.append({"x": t(trimfill.result.estimate), "what": "Adjusted (trim-and-fill)"})
    vlines = alt.Chart(pd.DataFrame(refs)).mark_rule(strokeWidth=2).encode(
        x=alt.X("x:Q", scale=x_scale),
        color=alt.Color("what:N", title=None, scale=alt.Scale(
            domain=["Pooled estimate", "Adjusted (trim-and-fill)"],
            range=[ACCENT, "#dc2626"])),
        strokeDash=alt.condition("datum.what == 'Pooled estimate'", alt.value([1, 0]),
                                 alt.value([6, 3])),
        tooltip=[alt.Tooltip("what:N", title=" "), alt.Tooltip("x:Q", format=".3f")])
    pts = pd.DataFrame({"study": [clip_label(s, 50) for s in effects.study],
                        "x": t(effects.yi), "se": se, "kind": "Observed study"})
    if extra_y.size:
        pts = pd.concat([pts, pd.DataFrame({"study": [f"Filled {i + 1}" for i in
                                                       range(extra_y.size)],
                                            "x": t(extra_y),
                                            "se": np.sqrt(trimfill.filled_vi),
                                            "kind": "Filled (trim-and-fill)"})])
    tip = [alt.Tooltip("study:N", title="Study"), alt.Tooltip("x:Q", title=name, format=".3f"),
           alt.Tooltip("se:Q", title="SE", format=".3f")]
    observed = alt.Chart(pts[pts["kind"] == "Observed study"]).mark_circle(
        size=60, color=INK, opacity=0.9, stroke="white", strokeWidth=1).encode(
        x=alt.X("x:Q", scale=x_scale), y=alt.Y("se:Q", scale=y_scale), tooltip=tip)
    filled = alt.Chart(pts[pts["kind"] != "Observed study"]).mark_point(
        size=60, color="#dc2626", strokeWidth=1.8, filled=False).encode(
        x=alt.X("x:Q", scale=x_scale), y=alt.Y("se:Q", scale=y_scale), tooltip=tip)
    studies = alt.layer(observed, filled)
    layers = [*shades, lines, vlines, studies]
    if egger is not None:
        # The regression y = limit + slope * se, drawn over the SE range.
        slope = _egger_slope(effects, egger)
        eg = pd.DataFrame({"se": grid, "x": t(egger.limit + slope * grid)})
        layers.append(alt.Chart(eg).mark_line(color="#b45309", strokeWidth=2).encode(
            y=alt.Y("se:Q", scale=y_scale), x=alt.X("x:Q", scale=x_scale),
            tooltip=[alt.Tooltip("se:Q", title="SE", format=".3f"),
                     alt.Tooltip("x:Q", title="Egger's line", format=".3f")]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        width=width, height=height, title=alt.TitleParams(
            "Contour-enhanced funnel plot", anchor="start", fontSize=15,
            subtitle=["Shading: a study's two-sided p against no effect; dashed: the 95% "
                      "pseudo-confidence funnel",
                      "around the pooled estimate; open red circles: studies filled in by "
                      "trim-and-fill"]))


def _egger_slope(effects: EffectSizes, egger: EggerResult) -> float:
    """The slope of Egger's line, refitted by the same model as the test."""
    from metacore.models.metareg import fit_mixed

    X = np.column_stack([np.ones(effects.k), np.sqrt(effects.vi)])
    if egger.model == "lm":
        w = 1.0 / effects.vi
        Xw = X * w[:, None]
        return float(np.linalg.solve(X.T @ Xw, Xw.T @ effects.yi)[1])
    return float(fit_mixed(X, effects.yi, effects.vi, model=egger.model).beta[1])


def baujat_chart(frame: pd.DataFrame, *, width: int = 330, height: int = 260) -> alt.LayerChart:
    """Baujat plot: each study's contribution to heterogeneity (x) against its influence on
    the pooled result (y); influential studies in red and named.

    ``frame`` is :func:`metacore.diagnostics.influence` output.
    """
    data = frame.assign(label=[clip_label(s, 30) for s in frame["study"]],
                        flag=np.where(frame["inf"], "Influential", "Not flagged"))
    bx, by = data["baujat_x"].to_numpy(float), data["baujat_y"].to_numpy(float)
    top_x, top_y = (float(np.max(v[np.isfinite(v)], initial=0.0)) or 1.0 for v in (bx, by))
    # round axis ends chosen here, not by Vega, so the names below are placed where drawn
    end_x, end_y = nice_ticks(0.0, top_x, False)[-1], nice_ticks(0.0, top_y, False)[-1]
    x = alt.X("baujat_x:Q", title="Contribution to overall heterogeneity (Q)",
              scale=alt.Scale(domain=[0, end_x], nice=False))
    y = alt.Y("baujat_y:Q", title="Influence on the pooled result",
              scale=alt.Scale(domain=[0, end_y], nice=False))
    base = alt.Chart(data).encode(
        x=x, y=y,
        tooltip=[alt.Tooltip("study:N", title="Study"),
                 alt.Tooltip("baujat_x:Q", title="Contribution to Q", format=".2f"),
                 alt.Tooltip("baujat_y:Q", title="Influence", format=".2f"),
                 alt.Tooltip("cook_d:Q", title="Cook's distance", format=".3f"),
                 alt.Tooltip("flag:N", title=" ")])
    points = base.mark_circle(size=90, opacity=0.85).encode(
        color=alt.Color("flag:N", title=None, scale=alt.Scale(
            domain=["Not flagged", "Influential"], range=[INK, "#dc2626"]),
        legend=alt.Legend(orient="bottom")))
    # Names where they fit: influential studies first, then the farthest from the origin
    # (the ones a reader looks for); the others are named by their tooltip.
    reach = bx / top_x + by / top_y + 10 * data["inf"].to_numpy(bool)
    sides = label_sides(bx, by, data["label"].tolist(), reach, width=width, height=height,
                        x_domain=(0.0, end_x), y_domain=(0.0, end_y))
    labels = side_text(data[["baujat_x", "baujat_y", "label"]], x, y, "label:N", sides,
                       fontSize=10, color="#374151")
    hidden = int((sides == "").sum())
    return alt.layer(points, labels).properties(
        width=width, height=height, autosize=PLOT_SIZED, title=alt.TitleParams(
        "Baujat plot", anchor="start", fontSize=15,
        subtitle=["Top right: studies that add much heterogeneity and move the result",
                  *([f"{hidden} name{'s' if hidden > 1 else ''} left off where "
                     "names would overlap: hover over a point"] if hidden else [])]))


def gosh_chart(frame: pd.DataFrame, highlight: int | None = None, label: str = "",
               *, ratio: bool = False, measure: str = "GEN", width: int = 460,
               height: int = 340, max_points: int = 4_000) -> alt.Chart:
    """GOSH plot: pooled estimate against I² for every subset; subsets containing study
    ``highlight`` in red. Beyond ``max_points`` subsets a density (binned) view is drawn."""
    t = np.exp if ratio else (lambda x: x)
    name = MEASURE_LABELS.get(measure, measure)
    data = pd.DataFrame({"estimate": t(frame["estimate"].to_numpy()),
                         "i2": frame["i2"].to_numpy(), "k": frame["k"].to_numpy()})
    has = frame[f"s{highlight}"].to_numpy() if highlight is not None else \
        np.zeros(len(frame), dtype=bool)
    data["group"] = np.where(has, f"with {clip_label(label, 30)}",
                             f"without {clip_label(label, 30)}" if label else "subsets")
    x_title = f"{name} (log scale)" if ratio else name
    # explicit ticks, thinned for the width: Vega's own log ticks overprint ("0.50.6")
    est = data["estimate"].to_numpy(float)
    est = est[np.isfinite(est)]
    ticks = nice_ticks(float(est.min()), float(est.max()), ratio, width=width) \
        if est.size and est.min() < est.max() else None
    x_scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                        domain=[min(ticks[0], est.min()), max(ticks[-1], est.max())]
                        if ticks else alt.Undefined)
    x_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined,
                      labelOverlap=True) if ticks else alt.Axis(labelOverlap=True)
    title = alt.TitleParams("GOSH plot", anchor="start", fontSize=15,
                            subtitle=f"{len(frame):,} subsets"
                            + (" (a random sample)" if frame.attrs.get("sampled") else
                               " (all of them)") + "; each point pools one subset")
    colors = alt.Color("group:N", title=None, scale=alt.Scale(range=["#dc2626", "#6b7280"]
                                                              if highlight is not None
                                                              else [ACCENT]))
    if len(data) <= max_points:
        return alt.Chart(data).mark_circle(size=10, opacity=0.35).encode(
            x=alt.X("estimate:Q", title=x_title, scale=x_scale, axis=x_axis),
            y=alt.Y("i2:Q", title="I² (%)", scale=alt.Scale(domain=[0, 100])),
            color=colors,
            tooltip=[alt.Tooltip("estimate:Q", format=".3f"),
                     alt.Tooltip("i2:Q", title="I² (%)", format=".1f"),
                     alt.Tooltip("k:Q", title="Studies in subset")]).properties(
            width=width, height=height, title=title)
    # Many subsets: bin on a 60 x 40 grid (on the analysis scale for ratios).
    xs = frame["estimate"].to_numpy()
    xb = np.linspace(xs.min(), xs.max() + 1e-12, 61)
    yb = np.linspace(0, 100 + 1e-9, 41)
    ix = np.clip(np.digitize(xs, xb) - 1, 0, 59)
    iy = np.clip(np.digitize(data["i2"].to_numpy(), yb) - 1, 0, 39)
    cells = pd.DataFrame({"ix": ix, "iy": iy, "has": has}).groupby(["ix", "iy"]).agg(
        n=("has", "size"), share=("has", "mean")).reset_index()
    cells["x"], cells["x2"] = t(xb[cells["ix"]]), t(xb[cells["ix"] + 1])
    cells["y"], cells["y2"] = yb[cells["iy"]], yb[cells["iy"] + 1]
    color = alt.Color("share:Q", title=f"Share with {clip_label(label, 20)}",
                      scale=alt.Scale(scheme="reds", domain=[0, 1])) if highlight is not None \
        else alt.Color("n:Q", title="Subsets", scale=alt.Scale(scheme="blues", type="log"))
    return alt.Chart(cells).mark_rect().encode(
        x=alt.X("x:Q", title=x_title, scale=x_scale, axis=x_axis), x2="x2:Q",
        y=alt.Y("y:Q", title="I² (%)", scale=alt.Scale(domain=[0, 100])), y2="y2:Q",
        color=color, opacity=alt.Opacity("n:Q", legend=None, scale=alt.Scale(type="log",
                                                                            range=[0.35, 1])),
        tooltip=[alt.Tooltip("n:Q", title="Subsets"),
                 alt.Tooltip("share:Q", title="Share with the study", format=".0%")]
    ).properties(width=width, height=height, title=title)
