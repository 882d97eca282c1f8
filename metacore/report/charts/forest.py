"""The forest plot: studies, diamonds, prediction interval, weights."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from metacore.models.effects import MEASURE_LABELS, EffectSizes
from metacore.models.pooling import PoolResult
from metacore.report.charts.common import (
    ACCENT,
    DIAMOND,
    GREY,
    INK,
    POOLED_LABEL,
    ROW_PX,
    ci_text,
    clip_label,
    largest_rows,
    nice_ticks,
    records,
)

MAX_FOREST_STUDIES = 150


def forest_frame(effects: EffectSizes, results: Sequence[PoolResult], *,
                 shadow: EffectSizes | None = None, sort: str = "input",
                 show_pi: bool = True, digits: int = 2,
                 max_studies: int = MAX_FOREST_STUDIES) -> pd.DataFrame:
    """The rows of a forest plot: studies (used, then excluded), pooled rows, prediction.

    Parameters
    ----------
    effects
        Effect sizes of the studies in the analysis.
    results
        Pooled results to draw as diamonds; the first one sets the study weights.
    shadow
        Effect sizes with every row included, so studies the user left out are
        drawn greyed at their own estimate.
    sort
        ``"input"``, ``"estimate"`` or ``"weight"``.
    show_pi
        Add the prediction interval row for a random-effects result.
    """
    main = results[0]
    level = main.level
    z = float(special.ndtri(0.5 + level / 2))
    t = np.exp if effects.ratio else (lambda x: x)
    lo, hi = effects.yi - z * effects.sei, effects.yi + z * effects.sei
    weights = np.asarray(main.weights) if main.k == effects.k else np.full(effects.k, np.nan)
    rows = []
    for i in range(effects.k):
        rows.append({"study": clip_label(effects.study[i]),
                     "row": effects.rows[i] if effects.rows else i + 1,
                     "kind": "study", "est": float(t(effects.yi[i])), "lo": float(t(lo[i])),
                     "hi": float(t(hi[i])), "weight": float(weights[i]), "note": ""})
    # a readable plot: the studies carrying the most weight; the rest are counted
    rows, hidden = largest_rows(rows, weights, max_studies, sort)
    if hidden:
        rows.append({"study": f"… {hidden} smaller studies not drawn", "row": np.nan,
                     "kind": "excluded", "est": np.nan, "lo": np.nan, "hi": np.nan,
                     "weight": np.nan, "note": f"only the {max_studies} studies with the "
                     "largest weights are drawn; all are in the analysis"})
    shadow_pos = {r: j for j, r in enumerate(shadow.rows)} if shadow is not None else {}
    excluded = list(zip(effects.excluded, effects.excluded_rows, strict=True))
    if len(excluded) > max_studies:
        rows.append({"study": f"… {len(excluded)} studies left out or not estimable",
                     "row": np.nan, "kind": "excluded", "est": np.nan, "lo": np.nan,
                     "hi": np.nan, "weight": np.nan, "note": "listed on the Data page"})
        excluded = []
    for (name, reason), row in excluded:
        entry = {"study": clip_label(name), "row": row, "kind": "excluded", "est": np.nan,
                 "lo": np.nan, "hi": np.nan, "weight": np.nan,
                 "note": clip_label(reason.split(": ", 1)[-1], 200)}
        j = shadow_pos.get(row)
        if j is not None:
            e, s = shadow.yi[j], math.sqrt(shadow.vi[j])
            entry.update(est=float(t(e)), lo=float(t(e - z * s)), hi=float(t(e + z * s)))
        rows.append(entry)
    for res in results:
        nat = res.natural()
        rows.append({"study": f"{POOLED_LABEL.get(res.model, res.model)}"
                              f"{' (' + res.tau2_method + ')' if res.tau2_method else ''}",
                     "row": np.nan, "kind": f"pooled_{res.model}", "est": nat["estimate"],
                     "lo": nat["ci_low"], "hi": nat["ci_high"], "weight": 100.0,
                     "note": res.settings})
    if show_pi and main.model == "random" and main.k >= 2:
        nat = main.natural()
        rows.append({"study": f"{level:.0%} prediction interval", "row": np.nan, "kind": "pi",
                     "est": nat["estimate"], "lo": nat["pi_low"], "hi": nat["pi_high"],
                     "weight": np.nan, "note": "where a new study's true effect would likely be"})
    frame = pd.DataFrame(rows)
    # Unique labels keep the ordinal y axis one row per line even with repeated names.
    seen: dict[str, int] = {}
    labels = []
    for s in frame["study"]:
        seen[s] = seen.get(s, 0) + 1
        labels.append(s if seen[s] == 1 else f"{s} ({seen[s]})")
    frame["label"] = labels
    frame["order"] = np.arange(len(frame))
    frame["ci_text"] = [ci_text(e, a, b, k, digits) for e, a, b, k in
                        zip(frame["est"], frame["lo"], frame["hi"], frame["kind"], strict=True)]
    frame.loc[frame["kind"].eq("excluded") & frame["row"].isna(), "ci_text"] = ""
    frame["weight_text"] = [f"{w:.1f}%" if k == "study" and np.isfinite(w) else ""
                            for w, k in zip(frame["weight"], frame["kind"], strict=True)]
    return frame


def forest_chart(effects: EffectSizes, results: Sequence[PoolResult], *,
                 shadow: EffectSizes | None = None, sort: str = "input", show_pi: bool = True,
                 favours: tuple[str, str] | None = ("Favours treatment", "Favours control"),
                 title: str | None = None, width: int = 460) -> alt.HConcatChart:
    """A publication-style forest plot.

    Study squares are sized by weight, with their CI as a line; pooled results
    are diamonds spanning their CI; the prediction interval is a thick bar;
    studies left out are grey. The right columns give the estimate with its CI
    and the weight. Rows sit at integer positions of a quantitative y axis
    (labelled with the study names) so diamonds can be drawn as filled areas.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> chart = forest_chart(eff, [mc.pool(eff)])
    >>> len(chart.to_dict()["hconcat"])
    3
    """
    main = results[0]
    frame = forest_frame(effects, results, shadow=shadow, sort=sort, show_pi=show_pi)
    frame["pos"] = np.arange(len(frame), dtype=float)
    n = len(frame)
    ratio = effects.ratio
    finite = frame[["lo", "hi"]].to_numpy(float)
    finite = finite[np.isfinite(finite)]
    null = 1.0 if ratio else 0.0
    lo = min(float(finite.min()), null) if finite.size else null - 1
    hi = max(float(finite.max()), null) if finite.size else null + 1
    if ratio:
        lo, hi = max(lo, 1e-6), max(hi, lo * 1.01)
    ticks = nice_ticks(lo, hi, ratio, width=width)
    domain = [min(ticks[0], lo), max(ticks[-1], hi)]
    x_scale = alt.Scale(type="log", domain=domain, nice=False) if ratio else \
        alt.Scale(domain=domain, nice=False, zero=False)
    top = -1.6 if favours else -0.6
    y_scale = alt.Scale(domain=[n - 0.4, top], nice=False, zero=False)
    height = int(ROW_PX * (n - top))
    labels = json.dumps(frame["label"].tolist())
    # Every layer repeats the same axis: Vega-Lite merges layer axes, and a layer
    # without it would bring back default labels (or none).
    y_axis = alt.Axis(values=list(range(n)), labelExpr=f"{labels}[datum.value]",
                      labelLimit=260, ticks=False, domain=False, grid=False, labelFontSize=13,
                      labelPadding=8, labelOverlap=False, labelBound=False)
    y = alt.Y("pos:Q", scale=y_scale, title=None, axis=y_axis)
    kind_color = alt.Color("kind:N", legend=None, scale=alt.Scale(
        domain=["study", "excluded", "pi", *(f"pooled_{m}" for m in DIAMOND)],
        range=[INK, GREY, ACCENT, *DIAMOND.values()]))
    measure = main.measure
    name = MEASURE_LABELS.get(measure, measure)
    tooltip = [alt.Tooltip("study:N", title="Study"),
               alt.Tooltip("ci_text:N", title=f"{name} [{main.level:.0%} CI]"),
               alt.Tooltip("weight_text:N", title="Weight"),
               alt.Tooltip("note:N", title="Note")]
    # Data travel once, as named top-level datasets: inline copies in every layer make
    # Altair deep-copy them again and again (most of the build time).
    rows_data, dia_data, ref_data = (alt.Data(name=n) for n in ("rows", "diamonds", "refs"))
    base = alt.Chart(rows_data).encode(y=y)
    title_x = f"{name} (log scale)" if ratio else name
    x_axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined, title=title_x,
                      grid=False, labelFontSize=12, titleFontSize=13)
    studies = base.transform_filter("datum.kind == 'study' || datum.kind == 'excluded'")
    ci = studies.mark_rule(strokeWidth=1.5).encode(
        x=alt.X("lo:Q", scale=x_scale, axis=x_axis), x2="hi:Q", color=kind_color,
        tooltip=tooltip)
    squares = studies.mark_square(opacity=1).encode(
        x=alt.X("est:Q", scale=x_scale), color=kind_color, tooltip=tooltip,
        size=alt.Size("weight:Q", legend=None, scale=alt.Scale(range=[12, 320], zero=False)))
    pi = base.transform_filter("datum.kind == 'pi'").mark_rule(
        strokeWidth=5, opacity=0.45, strokeCap="round").encode(
        x=alt.X("lo:Q", scale=x_scale), x2="hi:Q", color=kind_color, tooltip=tooltip)
    # Diamonds: filled areas, zero height at the CI bounds and full height at the estimate.
    diamond_rows = []
    for _, r in frame[frame["kind"].str.startswith("pooled")].iterrows():
        for x, h in ((r["lo"], 0.0), (r["est"], 0.32), (r["hi"], 0.0)):
            diamond_rows.append({"x": x, "y": r["pos"] - h, "y2": r["pos"] + h,
                                 "group": r["label"], "kind": r["kind"], "study": r["study"],
                                 "ci_text": r["ci_text"], "weight_text": "", "note": r["note"]})
    main_est = main.natural()["estimate"]
    refs = [{"null": null, "est": main_est if np.isfinite(main_est) else None, "fy": -1.1}]
    layers: list[alt.Chart] = [
        alt.Chart(ref_data).mark_rule(strokeDash=[4, 4], color="#6b7280")
        .encode(x=alt.X("null:Q", scale=x_scale))]
    if np.isfinite(main_est):
        layers.append(alt.Chart(ref_data).mark_rule(
            strokeDash=[2, 3], color=DIAMOND.get(main.model, ACCENT), opacity=0.6).encode(
            x=alt.X("est:Q", scale=x_scale)))
    layers += [ci, squares, pi]
    if diamond_rows:
        layers.append(alt.Chart(dia_data).mark_area(opacity=0.95).encode(
            x=alt.X("x:Q", scale=x_scale),
            y=alt.Y("y:Q", scale=y_scale, title=None, axis=y_axis), y2="y2:Q",
            detail="group:N", color=kind_color, tooltip=tooltip))
    if favours:
        for text, align, dx in ((f"\u2190 {favours[0]}", "right", -6),
                                (f"{favours[1]} \u2192", "left", 6)):
            layers.append(alt.Chart(ref_data)
                          .mark_text(fontSize=12, color="#4b5563", align=align, dx=dx)
                          .encode(x=alt.X("null:Q", scale=x_scale),
                                  y=alt.Y("fy:Q", scale=y_scale, title=None, axis=y_axis),
                                  text=alt.value(text)))
    plot = alt.layer(*layers).properties(width=width, height=height)

    def column(field: str, header: str, w: int) -> alt.Chart:
        return base.mark_text(align="right", baseline="middle", fontSize=13).encode(
            x=alt.value(w - 4), text=f"{field}:N", color=kind_color, tooltip=tooltip,
            y=alt.Y("pos:Q", scale=y_scale, axis=None)).properties(
            width=w, height=height, title=alt.TitleParams(header, fontSize=12, anchor="end"))

    ci_col = column("ci_text", f"{name.split(' (')[0]} [{main.level:.0%} CI]", 180)
    w_col = column("weight_text", "Weight", 70)
    chart = alt.hconcat(plot, ci_col, w_col, spacing=6).resolve_scale(y="shared")
    sub = f"{main.settings}; k = {main.k}"
    chart = chart.properties(
        title=alt.TitleParams(title or f"Forest plot: {name}", subtitle=sub, anchor="start",
                              fontSize=17, subtitleFontSize=13)).configure_view(stroke=None)
    # Set last: every Altair method copies the whole chart, datasets included.
    chart.datasets = {"rows": records(frame), "diamonds": records(pd.DataFrame(diamond_rows)),
                      "refs": refs}
    return chart


