"""Altair charts built from metacore results (pages only display them).

Ratio measures are drawn on a log axis whose ticks are labelled on the natural
scale; confidence intervals are explicit rules, not Vega-Lite error bars, which
misbehave on log scales.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from metacore.effects import MEASURE_LABELS, EffectSizes
from metacore.pooling import PoolResult
from metacore.report import format_effect

__all__ = ["estimator_chart", "forest_chart", "forest_frame", "leave_one_out_chart",
           "nice_ticks"]

INK = "#1f2937"
GREY = "#9ca3af"
ACCENT = "#1d4ed8"
DIAMOND = {"common": "#b45309", "random": "#1d4ed8", "MH": "#7c3aed", "PETO": "#0f766e"}
ROW_PX = 24
#: Longest study label drawn; longer ones end in an ellipsis (the table keeps the full text).
MAX_LABEL = 60


def clip_label(text: object, limit: int = MAX_LABEL) -> str:
    """A label cut to ``limit`` characters with an ellipsis.

    >>> clip_label("x" * 70)[-3:], len(clip_label("x" * 70))
    ('xx…', 60)
    """
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


_POOLED_LABEL = {"common": "Common effect", "random": "Random effects",
                 "MH": "Mantel-Haenszel", "PETO": "Peto"}


def nice_ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Tick values covering [lo, hi]: 1-2-5 steps on a log axis, round steps otherwise.

    >>> nice_ticks(0.12, 1.9, log=True)
    [0.1, 0.2, 0.5, 1.0, 2.0]
    """
    if log and hi / lo < 4:
        # A narrow range: round steps on the natural scale read better than 1-2-5 decades.
        return [t for t in nice_ticks(lo, hi, log=False) if t > 0] or [lo, hi]
    if log:
        ticks = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in (1, 2, 5):
                t = round(m * 10.0**e, 12)
                if lo / 1.0001 <= t * 2.5 and t / 2.5 <= hi * 1.0001:
                    ticks.append(t)
        inside = [t for t in ticks if lo * 0.999 <= t <= hi * 1.001]
        below = [t for t in ticks if t < lo * 0.999]
        above = [t for t in ticks if t > hi * 1.001]
        return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (m * step) <= 7:
            step *= m
            break
    start = math.floor(lo / step) * step
    return [round(start + i * step, 10) for i in range(int(math.ceil((hi - start) / step)) + 1)]


def _axis_title(measure: str, ratio: bool, favours: tuple[str, str] | None) -> str:
    name = MEASURE_LABELS.get(measure, measure)
    title = f"{name} (log scale)" if ratio else name
    if favours:
        return f"\u2190 {favours[0]}        {title}        {favours[1]} \u2192"
    return title


def _ci_text(est: float, lo: float, hi: float, kind: str, digits: int) -> str:
    if not np.isfinite(est):
        return "not estimable"
    text = (f"{format_effect(est, digits)} [{format_effect(lo, digits)}, "
            f"{format_effect(hi, digits)}]")
    return text + " left out" if kind == "excluded" else text


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
    hidden = 0
    if len(rows) > max_studies:
        # A readable plot: the studies carrying the most weight; the rest are counted.
        keep = set(np.argsort(-np.nan_to_num(weights, nan=0.0), kind="stable")[:max_studies])
        hidden = len(rows) - max_studies
        rows = [r for i, r in enumerate(rows) if i in keep]
    if sort == "estimate":
        rows.sort(key=lambda r: r["est"])
    elif sort == "weight":
        rows.sort(key=lambda r: -r["weight"])
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
        rows.append({"study": f"{_POOLED_LABEL.get(res.model, res.model)}"
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
    frame["ci_text"] = [_ci_text(e, a, b, k, digits) for e, a, b, k in
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
    ticks = nice_ticks(lo, hi, ratio)
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
    chart.datasets = {"rows": _records(frame), "diamonds": _records(pd.DataFrame(diamond_rows)),
                      "refs": refs}
    return chart


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe records (NaN becomes null)."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 (v.item() if isinstance(v, np.generic) else v)) for k, v in row.items()}
            for row in frame.to_dict("records")]


def estimator_chart(table: pd.DataFrame, measure: str, ratio: bool,
                    level: float = 0.95) -> alt.VConcatChart:
    """Pooled estimate with CI and the tau^2 estimate under each estimator.

    ``table`` is :func:`metacore.sensitivity.compare_estimators` output.
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
    ticks = nice_ticks(min(lo, null), max(hi, null), ratio) if (not ratio or lo > 0) else None
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
        x=alt.X("tau2:Q", title="τ² (between-study variance)")).properties(
        width=220, height=24 * len(frame), title=alt.TitleParams("τ² estimate", fontSize=13))
    return alt.hconcat(effect, tau).resolve_scale(y="shared").properties(
        title=alt.TitleParams("How much does the choice of τ² estimator matter?",
                              anchor="start", fontSize=15))


def leave_one_out_chart(table: pd.DataFrame, full: PoolResult) -> alt.LayerChart:
    """Pooled estimate with CI after omitting each study, against the full estimate.

    ``table`` is :func:`metacore.sensitivity.leave_one_out` output.
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
    ticks = nice_ticks(lo, hi, ratio)
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


METHOD_COLORS = {"Common effect": "#b45309", "Random effects": "#1d4ed8",
                 "Causal (target population)": "#15803d"}


def comparison_chart(frame: pd.DataFrame, level: float = 0.95) -> alt.VConcatChart:
    """Classical and causal estimates with CIs, one panel per effect measure.

    ``frame`` has columns ``measure method est lo hi`` on the natural scale.
    Ratio panels use a log axis labelled on the natural scale.
    """
    panels = []
    for measure, sub in frame.groupby("measure", sort=False):
        ratio = measure != "RD"
        sub = sub.assign(ci_text=[f"{format_effect(e, 3)} [{format_effect(a, 3)}, "
                                  f"{format_effect(b, 3)}]" for e, a, b in
                                  zip(sub["est"], sub["lo"], sub["hi"], strict=True)])
        finite = sub[["lo", "hi"]].to_numpy(float)
        finite = finite[np.isfinite(finite) & ((finite > 0) if ratio else True)]
        null = 1.0 if ratio else 0.0
        lo = min(float(finite.min()), null) if finite.size else null - 1
        hi = max(float(finite.max()), null) if finite.size else null + 1
        ticks = nice_ticks(lo, hi, ratio)
        scale = alt.Scale(type="log" if ratio else "linear", nice=False, zero=False,
                          domain=[min(ticks[0], lo), max(ticks[-1], hi)])
        name = {"RD": "Risk difference", "RR": "Risk ratio", "OR": "Odds ratio",
                "SR": "Survival ratio"}.get(measure, measure)
        color = alt.Color("method:N", legend=None, scale=alt.Scale(
            domain=list(METHOD_COLORS), range=list(METHOD_COLORS.values())))
        y = alt.Y("method:N", title=None, sort=list(METHOD_COLORS),
                  axis=alt.Axis(labelLimit=220))
        tooltip = [alt.Tooltip("method:N", title="Method"),
                   alt.Tooltip("ci_text:N", title=f"{name} [{level:.0%} CI]")]
        base = alt.Chart(sub).encode(y=y, color=color, tooltip=tooltip)
        panels.append(alt.layer(
            alt.Chart(pd.DataFrame({"x": [null]})).mark_rule(strokeDash=[4, 4],
                                                             color="#6b7280")
            .encode(x=alt.X("x:Q", scale=scale)),
            base.mark_rule(strokeWidth=2.5).encode(
                x=alt.X("lo:Q", scale=scale, title=f"{name}{' (log scale)' if ratio else ''}",
                        axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)),
                x2="hi:Q"),
            base.mark_point(filled=True, size=90, opacity=1).encode(
                x=alt.X("est:Q", scale=scale)),
        ).properties(width=460, height=90, title=alt.TitleParams(name, anchor="start",
                                                                 fontSize=13)))
    return alt.vconcat(*panels, spacing=18).properties(title=alt.TitleParams(
        "Classical versus causal meta-analysis", anchor="start", fontSize=15,
        subtitle=f"Point estimates with {level:.0%} confidence intervals"))


def many_scatter(frame: pd.DataFrame, measure: str) -> alt.LayerChart:
    """Classical random effects (x) against causal (y), one point per meta-analysis.

    ``frame`` is :func:`metacore.causal.causal_many` output; discordant ones are red.
    """
    ratio = measure != "RD"
    ok = frame[(frame["problem"] == "") & np.isfinite(frame["classical"])
               & np.isfinite(frame["causal"])].copy()
    ok["status"] = np.where(ok["discordant"], "Discordant", "Concordant")
    vals = ok[["classical", "causal"]].to_numpy(float)
    vals = vals[np.isfinite(vals) & ((vals > 0) if ratio else True)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.5, 2.0)
    ticks = nice_ticks(lo, hi, ratio) if (not ratio or lo > 0) else None
    domain = [min(ticks[0], lo), max(ticks[-1], hi)] if ticks else alt.Undefined
    scale = alt.Scale(type="log" if ratio else "linear", domain=domain, nice=False,
                      zero=False)
    name = {"RD": "risk difference", "RR": "risk ratio", "OR": "odds ratio",
            "SR": "survival ratio"}.get(measure, measure)
    axis = alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined) if ticks else \
        alt.Axis()
    line = alt.Chart(pd.DataFrame({"a": domain if ticks else [lo, hi]})).mark_line(
        strokeDash=[5, 4], color="#6b7280").encode(x=alt.X("a:Q", scale=scale),
                                                  y=alt.Y("a:Q", scale=scale))
    points = alt.Chart(ok).mark_circle(size=45, opacity=0.75).encode(
        x=alt.X("classical:Q", scale=scale, axis=axis, title=f"Classical random-effects {name}"),
        y=alt.Y("causal:Q", scale=scale, axis=axis, title=f"Causal {name}"),
        color=alt.Color("status:N", title=None, scale=alt.Scale(
            domain=["Concordant", "Discordant"], range=["#1d4ed8", "#dc2626"])),
        tooltip=[alt.Tooltip("meta_id:N", title="Meta-analysis"), alt.Tooltip("k:Q"),
                 alt.Tooltip("classical:Q", format=".3f", title="Classical"),
                 alt.Tooltip("causal:Q", format=".3f", title="Causal"),
                 alt.Tooltip("why:N", title="Why discordant")])
    return alt.layer(line, points).properties(
        width=460, height=420, title=alt.TitleParams(
            f"Classical versus causal {name}, one point per meta-analysis", anchor="start",
            fontSize=15, subtitle="Dashed: x = y (perfect agreement); red: conclusions differ"))


def simulation_chart(frame: pd.DataFrame, truth: dict[str, float]) -> alt.VConcatChart:
    """Estimates over simulated meta-analyses per method, against the true theta(P*).

    ``frame`` has columns ``measure method estimate`` (natural scale).
    """
    panels = []
    for measure, sub in frame.groupby("measure", sort=False):
        ratio = measure != "RD"
        null = 1.0 if ratio else 0.0
        vals = np.append(sub["estimate"].to_numpy(float), [truth[measure], null])
        vals = vals[np.isfinite(vals) & ((vals > 0) if ratio else True)]
        ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio)
        scale = alt.Scale(type="log" if ratio else "linear", nice=False, zero=False,
                          domain=[min(ticks[0], vals.min()), max(ticks[-1], vals.max())])
        name = {"RD": "Risk difference", "RR": "Risk ratio", "OR": "Odds ratio"}[measure]
        refs = pd.DataFrame({"x": [null, truth[measure]],
                             "what": ["No effect", "True effect θ(P*)"]})
        panels.append(alt.layer(
            alt.Chart(sub).mark_tick(thickness=1.5, size=18, opacity=0.5).encode(
                x=alt.X("estimate:Q", scale=scale,
                        title=f"{name}{' (log scale)' if ratio else ''}",
                        axis=alt.Axis(values=ticks, format="~g" if ratio else alt.Undefined)),
                y=alt.Y("method:N", title=None, sort=list(METHOD_COLORS),
                        axis=alt.Axis(labelLimit=220)),
                color=alt.Color("method:N", legend=None, scale=alt.Scale(
                    domain=list(METHOD_COLORS), range=list(METHOD_COLORS.values()))),
                tooltip=[alt.Tooltip("method:N"), alt.Tooltip("estimate:Q", format=".3f")]),
            alt.Chart(refs).mark_rule(strokeWidth=2).encode(
                x=alt.X("x:Q", scale=scale),
                color=alt.Color("what:N", title=None, scale=alt.Scale(
                    domain=["No effect", "True effect θ(P*)"], range=["#9ca3af", "#dc2626"])),
                tooltip=[alt.Tooltip("what:N"), alt.Tooltip("x:Q", format=".3f")]),
        ).resolve_scale(color="independent").properties(
            width=480, height=110, title=alt.TitleParams(name, anchor="start", fontSize=13)))
    return alt.vconcat(*panels, spacing=16).properties(title=alt.TitleParams(
        "Simulated meta-analyses: classical versus causal", anchor="start", fontSize=15,
        subtitle="Each tick is one simulated meta-analysis; red: the true effect in the "
                 "population of all trials"))


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


def density_chart(x: np.ndarray, series: dict[str, np.ndarray], title: str, x_title: str,
                  ratio: bool = False, subtitle: str = "") -> alt.Chart:
    """Line chart of one or more densities over a common grid (natural scale for ratios)."""
    t = np.exp if ratio else (lambda v: v)
    pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), 500)).astype(int))
    frame = pd.concat([pd.DataFrame({"x": t(x[pick]), "density": d[pick], "curve": name})
                       for name, d in series.items()], ignore_index=True)
    frame = frame[np.isfinite(frame["density"])]
    colors = ["#1d4ed8", "#b45309", "#15803d", "#7c3aed"][:len(series)]
    return alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=alt.X("x:Q", title=x_title, scale=alt.Scale(type="log" if ratio else "linear",
                                                      zero=False, nice=False)),
        y=alt.Y("density:Q", title="Density"),
        color=alt.Color("curve:N", title=None, scale=alt.Scale(domain=list(series),
                                                             range=colors)),
        tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("x:Q", format=".3f"),
                 alt.Tooltip("density:Q", format=".3f")],
    ).properties(width=420, height=220, title=alt.TitleParams(title, subtitle=subtitle,
                                                             anchor="start", fontSize=14))


def interval_rows_chart(frame: pd.DataFrame, title: str, x_title: str, ratio: bool = False,
                        subtitle: str = "", color_field: str = "group") -> alt.Chart:
    """Point and interval per labelled row: columns ``label est lo hi`` and ``group``."""
    t = np.exp if ratio else (lambda v: v)
    frame = frame.assign(est=t(frame["est"]), lo=t(frame["lo"]), hi=t(frame["hi"]))
    vals = frame[["lo", "hi"]].to_numpy(float).ravel()
    vals = vals[np.isfinite(vals)]
    ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio) if vals.size else None
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], vals.min()), max(ticks[-1], vals.max())]
                      if ticks else alt.Undefined)
    y = alt.Y("label:N", sort=frame["label"].tolist(), title=None, axis=alt.Axis(labelLimit=240))
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
    ).properties(width=460, height=max(120, 20 * len(frame)), title=alt.TitleParams(
        title, subtitle=subtitle, anchor="start", fontSize=14))
