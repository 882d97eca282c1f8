"""Subgroup forest plot (RevMan's layout) and meta-regression charts (bubble plot,
fitted value per level of a categorical moderator)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.models.effects import MEASURE_LABELS, EffectSizes
from metacore.models.metareg import MetaRegResult
from metacore.models.subgroups import SubgroupResult
from metacore.numbers import format_effect, format_number, p_clause
from metacore.report.charts.common import (
    ACCENT,
    DIAMOND,
    GREY,
    INK,
    ROW_PX,
    clip_label,
    effect_scale,
    nice_ticks,
    records,
)

__all__ = ["bubble_chart", "level_chart", "subgroup_forest_chart"]


def _het_text(tau2: float | None, q: float, df: int, p: float, i2: float) -> str:
    if df < 1:
        return "Heterogeneity: not applicable (one study)"
    # two decimals as in the overall forest plot (RevMan), more only when τ² is smaller
    tau = f"Tau² = {format_effect(tau2, 2)}; " if tau2 is not None else ""
    # the fit's own I² (tau^2-based under random effects, as metafor and the forest page;
    # (Q - df)/Q under a common effect), so the same setting gives the same I² everywhere
    return (f"Heterogeneity: {tau}Chi² = {q:.2f}, df = {df} ({p_clause(p)}); "
            f"I² = {i2:.0f}%")


def subgroup_forest_frame(effects: EffectSizes, sg: SubgroupResult) -> pd.DataFrame:
    """Rows of the subgroup forest plot, top to bottom (natural scale for ratios)."""
    t = np.exp if effects.ratio else (lambda x: x)
    z = {s: i for i, s in enumerate(effects.rows)} if effects.rows else {}
    lo_i, hi_i = effects.ci(sg.level)
    weights = np.asarray(sg.overall.weights, float)
    lvl = f"{sg.level:.0%}"
    rows: list[dict] = []

    def add(kind: str, label: str, est=np.nan, lo=np.nan, hi=np.nan, weight=np.nan,
            group: str = "") -> None:
        ci = (f"{format_effect(est)} [{format_effect(lo)}, {format_effect(hi)}]"
              if np.isfinite(est) else "")
        rows.append({"kind": kind, "label": label, "est": est, "lo": lo, "hi": hi,
                     "weight": weight, "ci_text": ci, "group": group,
                     "weight_text": f"{weight:.1f}%" if np.isfinite(weight) else ""})

    for g in sg.groups.values():
        add("header", clip_label(g.label, 50), group=g.label)
        idx = [z[r] for r in g.rows] if g.rows and z else []
        for i in idx:
            add("study", clip_label(effects.study[i], 45), t(effects.yi[i]), t(lo_i[i]),
                t(hi_i[i]), weights[i], g.label)
        add("subtotal", f"Subtotal ({lvl} CI)", t(g.estimate), t(g.ci_low), t(g.ci_high),
            float(weights[idx].sum()) if idx else np.nan, g.label)
        add("text", _het_text(g.tau2 if sg.model == "random" else None, g.q, g.q_df,
                              g.q_pvalue, g.i2), group=g.label)
        add("gap", "")
    o = sg.overall
    add("total", f"Total ({lvl} CI)", t(o.estimate), t(o.ci_low), t(o.ci_high), 100.0)
    add("text", _het_text(o.tau2 if o.model == "random" else None, o.q, o.q_df, o.q_pvalue,
                          o.i2))
    add("text", sg.test_text())
    frame = pd.DataFrame(rows)
    frame["pos"] = np.arange(len(frame), dtype=float)
    return frame


def subgroup_forest_chart(effects: EffectSizes, sg: SubgroupResult, *, width: int = 320,
                          favours: tuple[str, str] | None = ("Favours treatment",
                                                             "Favours control")
                          ) -> alt.HConcatChart:
    """RevMan's subgroup forest plot: a header per subgroup, its studies, its diamond and
    heterogeneity line, the overall diamond and the test for subgroup differences.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> chart = subgroup_forest_chart(eff, mc.subgroups(eff, "subgroup"))
    >>> len(chart.to_dict()["hconcat"])
    4
    """
    frame = subgroup_forest_frame(effects, sg)
    n = len(frame)
    ratio = effects.ratio
    null = 1.0 if ratio else 0.0
    x_scale, ticks = effect_scale(frame[["lo", "hi"]].to_numpy(float), ratio, width)
    top = -1.6 if favours else -0.6
    y_scale = alt.Scale(domain=[n - 0.4, top], nice=False, zero=False)
    height = int(ROW_PX * (n - top))
    y = alt.Y("pos:Q", scale=y_scale, axis=None)
    name = MEASURE_LABELS.get(sg.measure, sg.measure)
    color = alt.Color("kind:N", legend=None, scale=alt.Scale(
        domain=["study", "subtotal", "total", "header", "text", "gap"],
        range=[INK, DIAMOND["common"], DIAMOND.get(sg.model, ACCENT), INK, "#374151", GREY]))
    tooltip = [alt.Tooltip("label:N", title=" "), alt.Tooltip("group:N", title="Subgroup"),
               alt.Tooltip("ci_text:N", title=f"{name} [{sg.level:.0%} CI]"),
               alt.Tooltip("weight_text:N", title="Weight")]
    data = alt.Data(name="rows")
    base = alt.Chart(data).encode(y=y)
    studies = base.transform_filter("datum.kind == 'study'")
    diamonds = []
    for _, r in frame[frame["kind"].isin(["subtotal", "total"])].iterrows():
        if not np.isfinite(r["est"]):
            continue
        for x, h in ((r["lo"], 0.0), (r["est"], 0.34), (r["hi"], 0.0)):
            diamonds.append({"x": x, "y": r["pos"] - h, "y2": r["pos"] + h, "kind": r["kind"],
                             "label": r["label"], "group": r["group"] or "All studies",
                             "ci_text": r["ci_text"], "weight_text": r["weight_text"],
                             "row": r["pos"]})
    x_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined,
                      title=f"{name} (log scale)" if ratio else name, grid=False)
    refs = pd.DataFrame({"null": [null], "fy": [-1.1]})
    layers = [
        alt.Chart(refs).mark_rule(strokeDash=[4, 4], color="#6b7280").encode(
            x=alt.X("null:Q", scale=x_scale, axis=x_axis)),
        studies.mark_rule(strokeWidth=1.5).encode(x=alt.X("lo:Q", scale=x_scale), x2="hi:Q",
                                                  color=color, tooltip=tooltip),
        studies.mark_square(opacity=1).encode(
            x=alt.X("est:Q", scale=x_scale), color=color, tooltip=tooltip,
            size=alt.Size("weight:Q", legend=None, scale=alt.Scale(range=[12, 300],
                                                                   zero=False))),
    ]
    if diamonds:
        layers.append(alt.Chart(pd.DataFrame(diamonds)).mark_area(opacity=0.95).encode(
            x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale, axis=None),
            y2="y2:Q", detail="row:N", color=color, tooltip=tooltip))
    if favours:
        for text, align, dx in ((f"\u2190 {favours[0]}", "right", -6),
                                (f"{favours[1]} \u2192", "left", 6)):
            layers.append(alt.Chart(refs).mark_text(fontSize=12, color="#4b5563", align=align,
                                                    dx=dx).encode(
                x=alt.X("null:Q", scale=x_scale), y=alt.Y("fy:Q", scale=y_scale, axis=None),
                text=alt.value(text)))
    plot = alt.layer(*layers).properties(width=width, height=height)
    # Label column: headers and diamonds in bold; heterogeneity lines run on under the plot.
    bold = "datum.kind == 'header' || datum.kind == 'subtotal' || datum.kind == 'total'"

    def text_layers(field: str, x: float, align: str, styled: bool) -> list[alt.Chart]:
        enc = {"x": alt.value(x), "text": f"{field}:N", "color": color, "tooltip": tooltip}
        out = [base.transform_filter(bold).mark_text(align=align, baseline="middle",
                                                     fontSize=12, fontWeight="bold")
               .encode(**enc),
               base.transform_filter("datum.kind == 'study'").mark_text(
                   align=align, baseline="middle", fontSize=12).encode(**enc)]
        if styled:
            out.append(base.transform_filter("datum.kind == 'text'").mark_text(
                align=align, baseline="middle", fontSize=11, fontStyle="italic").encode(**enc))
        return out

    labels = alt.layer(*text_layers("label", 0, "left", True)).properties(
        width=230, height=height, title=alt.TitleParams("Study or subgroup", fontSize=12,
                                                        anchor="start"))

    def column(field: str, header: str, w: int) -> alt.LayerChart:
        return alt.layer(*text_layers(field, w - 4, "right", False)).properties(
            width=w, height=height, title=alt.TitleParams(header, fontSize=12, anchor="end"))

    # flush bounds: the columns sit at their widths, and a heterogeneity line runs on under
    # the next columns (its row has nothing else) instead of pushing them right — the
    # chart was 970 px wide, past a 1280 px screen's 820 px page
    chart = alt.hconcat(labels, column("weight_text", "Weight", 56), plot,
                        column("ci_text", f"{name.split(' (')[0]} [{sg.level:.0%} CI]", 150),
                        spacing=8, bounds="flush").resolve_scale(y="shared")
    tau = "common τ²" if sg.tau2_common else "τ² per subgroup"
    chart = chart.properties(title=alt.TitleParams(
        f"Subgroups by {sg.by}: {name}", anchor="start", fontSize=16,
        subtitle=f"{sg.overall.settings}; {tau}; k = {sg.overall.k}")).configure_view(
        stroke=None)
    chart.datasets = {"rows": records(frame)}
    return chart


def bubble_chart(res: MetaRegResult, moderator: str, *, width: int = 520,
                 height: int = 360) -> alt.LayerChart:
    """Studies as bubbles (area by weight) against a continuous moderator, with the fitted
    line, its confidence band and its prediction band; ratio measures on a log axis.

    Other moderators are held at their mean (continuous) or first level (categorical).
    """
    des = res.design
    j = des.names.index(moderator)
    x = des.X[:, j]
    w = 1.0 / (res.vi + res.tau2)
    t = res.transform
    pts = pd.DataFrame({"study": [clip_label(s, 50) for s in res.study], "x": x,
                        "y": t(res.yi), "weight": 100 * w / w.sum(),
                        "ci": [f"{format_effect(t(a))}" for a in res.yi]})
    grid = np.linspace(x.min(), x.max(), 60)
    held = {}
    for term in res.terms:
        if term == moderator:
            continue
        held[term] = res.levels[term][0] if term in res.levels else \
            float(des.X[:, des.names.index(term)].mean())
    pred = res.predict(pd.DataFrame({moderator: grid, **{k: [v] * len(grid)
                                                         for k, v in held.items()}}))
    line = pd.DataFrame({"x": grid, "pred": t(pred["pred"]), "ci_low": t(pred["ci_low"]),
                         "ci_high": t(pred["ci_high"]), "pi_low": t(pred["pi_low"]),
                         "pi_high": t(pred["pi_high"])})
    ratio = res.ratio
    yvals = np.concatenate([pts["y"], line["pi_low"], line["pi_high"]])
    yvals = yvals[np.isfinite(yvals) & ((yvals > 0) if ratio else True)]
    ticks = nice_ticks(float(yvals.min()), float(yvals.max()), ratio, width=height)
    y_scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                        domain=[min(ticks[0], yvals.min()), max(ticks[-1], yvals.max())])
    name = MEASURE_LABELS.get(res.measure, res.measure)
    y_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined,
                      title=f"{name} (log scale)" if ratio else name)
    x_enc = alt.X("x:Q", title=moderator, scale=alt.Scale(zero=False, nice=True))
    lvl = f"{res.level:.0%}"
    band = alt.Chart(line).mark_area(color=ACCENT, opacity=0.10).encode(
        x=x_enc, y=alt.Y("pi_low:Q", scale=y_scale, axis=y_axis), y2="pi_high:Q")
    ci = alt.Chart(line).mark_area(color=ACCENT, opacity=0.22).encode(
        x=x_enc, y=alt.Y("ci_low:Q", scale=y_scale), y2="ci_high:Q")
    fit = alt.Chart(line).mark_line(color=ACCENT, strokeWidth=2.5).encode(
        x=x_enc, y=alt.Y("pred:Q", scale=y_scale),
        tooltip=[alt.Tooltip("x:Q", title=moderator, format=".3~f"),
                 alt.Tooltip("pred:Q", title=f"Fitted {name}", format=".3f"),
                 alt.Tooltip("ci_low:Q", title=f"{lvl} CI low", format=".3f"),
                 alt.Tooltip("ci_high:Q", title=f"{lvl} CI high", format=".3f")])
    bubbles = alt.Chart(pts).mark_circle(color=INK, opacity=0.55, stroke="white",
                                         strokeWidth=1).encode(
        x=x_enc, y=alt.Y("y:Q", scale=y_scale),
        size=alt.Size("weight:Q", legend=None, scale=alt.Scale(range=[30, 900])),
        tooltip=[alt.Tooltip("study:N", title="Study"),
                 alt.Tooltip("x:Q", title=moderator, format=".3~f"),
                 alt.Tooltip("y:Q", title=name, format=".3f"),
                 alt.Tooltip("weight:Q", title="Weight (%)", format=".1f")])
    null = alt.Chart(pd.DataFrame({"y": [1.0 if ratio else 0.0]})).mark_rule(
        strokeDash=[4, 4], color="#6b7280").encode(y=alt.Y("y:Q", scale=y_scale))
    shown = [f"{k} = {v}" if isinstance(v, str) else f"{k} = {format_number(v)}"
             for k, v in held.items()]
    held_text = ("; others held at " + ", ".join(shown)) if shown else ""
    return alt.layer(band, ci, null, fit, bubbles).properties(
        width=width, height=height, title=alt.TitleParams(
            f"{name} against {moderator}", anchor="start", fontSize=15,
            subtitle=["Bubbles: studies, area by weight; line: the fitted effect,",
                      f"with its {lvl} CI (dark band) and prediction interval (light band)"
                      + held_text]))


def level_chart(res: MetaRegResult, moderator: str, *, width: int = 420) -> alt.LayerChart:
    """Fitted effect with its CI for each level of a categorical moderator."""
    levels = res.levels[moderator]
    des = res.design
    held = {term: (res.levels[term][0] if term in res.levels else
                   float(des.X[:, des.names.index(term)].mean()))
            for term in res.terms if term != moderator}
    pred = res.predict(pd.DataFrame({moderator: list(levels),
                                     **{k: [v] * len(levels) for k, v in held.items()}}))
    t = res.transform
    frame = pd.DataFrame({"level": list(levels), "est": t(pred["pred"]),
                          "lo": t(pred["ci_low"]), "hi": t(pred["ci_high"])})
    frame["ci"] = [f"{format_effect(e)} [{format_effect(a)}, {format_effect(b)}]"
                   for e, a, b in zip(frame["est"], frame["lo"], frame["hi"], strict=True)]
    ratio = res.ratio
    vals = np.concatenate([frame["lo"], frame["hi"], [1.0 if ratio else 0.0]])
    ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio, width=width)
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], vals.min()), max(ticks[-1], vals.max())])
    name = MEASURE_LABELS.get(res.measure, res.measure)
    y = alt.Y("level:N", sort=list(levels), title=moderator)
    tip = [alt.Tooltip("level:N", title=moderator),
           alt.Tooltip("ci:N", title=f"Fitted {name} [{res.level:.0%} CI]")]
    base = alt.Chart(frame).encode(y=y, tooltip=tip)
    null = alt.Chart(pd.DataFrame({"x": [1.0 if ratio else 0.0]})).mark_rule(
        strokeDash=[4, 4], color="#6b7280").encode(x=alt.X("x:Q", scale=scale))
    return alt.layer(
        null,
        base.mark_rule(strokeWidth=2.5, color=ACCENT).encode(
            x=alt.X("lo:Q", scale=scale, title=f"{name} (log scale)" if ratio else name,
                    axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)),
            x2="hi:Q"),
        base.mark_point(filled=True, size=110, color=ACCENT, shape="diamond").encode(
            x=alt.X("est:Q", scale=scale)),
    ).properties(width=width, height=max(90, 34 * len(levels)), title=alt.TitleParams(
        f"Fitted {name} by {moderator}", anchor="start", fontSize=15,
        subtitle=f"{res.level:.0%} confidence intervals from the meta-regression"))
