"""The publication forest plot, laid out as RevMan and journals print it.

Study | arm data (events and totals, or mean, SD and total, or estimate and SE) |
weight | effect with its CI | the plot; then the total row, total events, the
prediction interval, the heterogeneity and overall-effect lines, the axis and the
favours labels. One Vega-Lite view whose columns are placed by expressions of the
view's width: the chart fills its container and drops data columns as it narrows
(SDs first, then all arm data, then the weights) instead of clipping the plot, so
it reads on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
from scipy import special

from metacore.models.effects import EffectSizes
from metacore.models.pooling import PoolResult
from metacore.numbers import MINUS, format_effect, p_clause
from metacore.report.charts.common import (
    DIAMOND,
    GREY,
    INK,
    clip_label,
    largest_rows,
    nice_ticks,
    records,
    thin_ticks,
)
from metacore.report.charts.rob import ROB_COLOURS
from metacore.review.rob import TOOLS, RobTable

__all__ = ["BREAKPOINTS", "STYLES", "publication_forest", "revman_header"]

#: Container widths (px) at which the layout changes: all columns, no SDs, no arm data,
#: phone (no weights).
BREAKPOINTS = (960, 720, 520)
STYLES = ("journal", "colour")
FONTS = {"sans": "Helvetica, Arial, sans-serif", "serif": "Times New Roman, Times, serif"}
ROW = 20

_REVMAN_NAMES = {"OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference",
                 "PETO": "Peto Odds Ratio", "AS": "Arcsine Difference",
                 "MD": "Mean Difference", "SMD": "Std. Mean Difference",
                 "SMDH": "Std. Mean Difference", "ROM": "Ratio of Means"}
_METHOD = {"MH": "M-H", "PETO": "Peto"}


def revman_header(result: PoolResult) -> tuple[str, str]:
    """The effect column's two header lines, as RevMan writes them.

    >>> import metacore as mc
    >>> revman_header(mc.pool_mh(mc.datasets.load("bcg"), "RR"))
    ('Risk Ratio', 'M-H, Fixed, 95% CI')
    """
    if result.measure == "GEN":
        name = result.name.title() if result.label else "Effect Size"
    else:
        name = _REVMAN_NAMES.get(result.measure, result.measure)
    method = _METHOD.get(result.model, "IV")
    if result.model == "random":
        extra = [result.tau2_method or ""]
        if result.ci_method.startswith("hksj"):
            extra.append("HKSJ" if result.ci_method == "hksj" else
                         "mHKSJ" if result.ci_method == "hksj-adhoc" else
                         "HKSJ-" + result.ci_method.split("-")[1].upper())
        model = f"Random ({', '.join(e for e in extra if e)})"
    else:
        model = "Fixed" + (" (HKSJ)" if result.ci_method.startswith("hksj") else "")
    return name, f"{method}, {model}, {result.level * 100:g}% CI"


def _num(x: float, digits: int | None = None) -> str:
    if x is None or not np.isfinite(x):
        return ""
    if digits is None:
        return f"{x:,.0f}".replace(",", "\u2009") if float(x).is_integer() else f"{x:g}"
    return format_effect(float(x), digits)


def _stat(x: float, digits: int = 2) -> str:
    return format_effect(float(x), digits) if np.isfinite(x) else "n/a"


def heterogeneity_line(result: PoolResult) -> str:
    """"Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12 (P < 0.0001); I² = 92%"."""
    if result.k < 2:
        return "Heterogeneity: not applicable (one study)"
    parts = []
    if result.model == "random":
        parts.append(f"Tau² = {_stat(result.tau2)}")
    parts.append(f"Chi² = {_stat(result.q)}, df = {result.q_df} ({p_clause(result.q_pvalue)})")
    parts.append(f"I² = {result.i2:.0f}%" if np.isfinite(result.i2) else "I² = n/a")
    return "Heterogeneity: " + "; ".join(parts)


def overall_line(result: PoolResult) -> str:
    """"Test for overall effect: Z = 3.94 (P < 0.0001)" (t with its df under HKSJ)."""
    if result.df is not None and np.isfinite(result.df):
        stat = f"t = {_stat(abs(result.statistic))}, df = {result.df:g}"
    else:
        stat = f"Z = {_stat(abs(result.statistic))}"
    return f"Test for overall effect: {stat} ({p_clause(result.pvalue)})"


def _columns(kind: str, effects: EffectSizes) -> list[tuple[str, str, int, int]]:
    """``(field, header, arm, drop level)`` of the data columns; arm 0/1 or -1 (none).

    The drop level is the first breakpoint index at which the column disappears.
    """
    if kind == "binary":
        return [("events_t", "Events", 0, 2), ("n_t", "Total", 0, 2),
                ("events_c", "Events", 1, 2), ("n_c", "Total", 1, 2)]
    if kind == "continuous":
        return [("mean_t", "Mean", 0, 2), ("sd_t", "SD", 0, 1), ("n_t", "Total", 0, 2),
                ("mean_c", "Mean", 1, 2), ("sd_c", "SD", 1, 1), ("n_c", "Total", 1, 2)]
    log = "log" if effects.ratio else ""
    name = (effects.label or "effect").upper() if effects.label else "Effect"
    return [("g_yi", f"{log}[{name}]" if log else name, -1, 2), ("g_se", "SE", -1, 2)]


def _kind(effects: EffectSizes, result: PoolResult) -> str:
    cols = set(effects.data.columns)
    if result.measure in ("OR", "RR", "RD", "AS", "PETO") and \
            {"events_t", "n_t", "events_c", "n_c"} <= cols:
        return "binary"
    if result.measure in ("MD", "SMD", "SMDH", "ROM") and {"mean_t", "n_t"} <= cols:
        return "continuous"
    return "generic"


def _layout(data_cols: list[tuple[str, str, int, int]]) -> list[dict]:
    """Column positions (px from the left) at each of the four layouts."""
    out = []
    for bp in range(4):
        label_w = (190, 170, 160, 112)[bp]
        x = label_w
        pos: dict[str, float] = {}
        for field, _, _, drop in data_cols:
            if bp < drop:
                pos[field] = x + 46     # right edge of a right-aligned number column
                x += 50
        if bp < 3:
            pos["weight"] = x + 52
            x += 60
        pos["ci"] = x + 6
        x += 128 if bp == 3 else 148
        out.append({"label_w": label_w, "pos": pos, "plot_left": x + 6})
    return out


def _by_bp(values: Sequence[float | str]) -> str:
    """A Vega expression choosing one value per layout (bp = 0..3)."""
    v = [str(x) for x in values]
    return f"bp == 0 ? {v[0]} : bp == 1 ? {v[1]} : bp == 2 ? {v[2]} : {v[3]}"


def publication_forest(effects: EffectSizes, result: PoolResult, *,
                       shadow: EffectSizes | None = None, style: str = "journal",
                       font: str = "sans", arms: tuple[str, str] = ("Experimental", "Control"),
                       favours: tuple[str, str] = ("Favours experimental", "Favours control"),
                       show_pi: bool = True, sort: str = "input", title: str | None = None,
                       width: int | str = "container", max_studies: int = 150,
                       digits: int = 2, rob: RobTable | None = None) -> alt.LayerChart:
    """A RevMan-style forest plot of one analysis.

    Parameters
    ----------
    effects, result
        The analysed studies and the fit drawn as the total diamond.
    shadow
        Effect sizes with every row included: studies the user left out are listed
        with their data and "Not estimable"/"left out" instead of an estimate.
    style
        ``"journal"`` (black and white) or ``"colour"``.
    font
        ``"sans"`` or ``"serif"``.
    arms, favours
        Names of the two arms (the data column headers) and the favours labels
        under the axis (left, right).
    width
        ``"container"`` fills the page and adapts its columns to the width; a number
        of pixels fixes it (for exports).
    rob
        Risk-of-bias judgements (studies by the names the effects carry): a column per
        domain and the overall judgement at the right edge, each a letter in a circle of
        robvis' colour, as RevMan 5.3 and meta's ``rob()`` draw them.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> spec = publication_forest(eff, mc.pool(eff)).to_dict()
    >>> spec["width"]
    'container'
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    kind = _kind(effects, result)
    data_cols = _columns(kind, effects)
    layouts = _layout(data_cols)
    ratio = effects.ratio
    t = np.exp if ratio else (lambda x: x)
    nat = result.natural()
    colour = style == "colour"
    ink = INK if colour else "#000000"
    dia = DIAMOND.get(result.model, INK) if colour else "#000000"
    sq = "#1d4ed8" if colour else "#000000"

    # --- rows -------------------------------------------------------------------------
    z = float(special.ndtri(0.5 + result.level / 2))
    weights = np.asarray(result.weights, float) if result.k == effects.k else \
        np.full(effects.k, np.nan)
    rows: list[dict] = []
    data = effects.data.reset_index(drop=True)

    def cells(rec: pd.Series | None, gy: float = np.nan, gse: float = np.nan) -> dict:
        out = {}
        for field, _, _, _ in data_cols:
            if field == "g_yi":
                out[field] = _num(gy, 3 if abs(gy) < 10 else 2) if np.isfinite(gy) else ""
            elif field == "g_se":
                out[field] = _num(gse, 4 if gse < 0.1 else 3) if np.isfinite(gse) else ""
            elif rec is not None and field in rec:
                out[field] = _num(rec[field])
            else:
                out[field] = ""
        return out

    rob_n, rob_by, rob_heads = 0, {}, []
    if rob is not None and rob.assessments:
        tool = TOOLS[rob.tool]
        rob_heads = [f"D{j}" for j in range(1, len(tool.domains) + 1)] + ["All"]
        rob_n = len(rob_heads)
        names = dict(rob.names)
        for a in rob.assessments:
            levels = [d.level for d in a.domains] + [a.overall.level]
            rob_by[names.get(a.study_id, a.study_id)] = {
                **{f"rob{j}": tool.letter(v) for j, v in enumerate(levels)},
                **{f"rc{j}": ROB_COLOURS[v] for j, v in enumerate(levels)}}

    for i in range(effects.k):
        y, se = float(effects.yi[i]), float(np.sqrt(effects.vi[i]))
        rec = data.iloc[i] if i < len(data) else None
        rows.append({"kind": "study", "label": clip_label(study_label(effects.study[i], rec), 40),
                     "full": clip_label(effects.study[i], 300), "est": float(t(y)),
                     "lo": float(t(y - z * se)), "hi": float(t(y + z * se)),
                     "weight": float(weights[i]),
                     "weight_text": f"{weights[i]:.1f}%" if np.isfinite(weights[i]) else "",
                     "ci_text": _ci(float(t(y)), float(t(y - z * se)), float(t(y + z * se)),
                                    digits),
                     **cells(rec, y, se), **rob_by.get(str(effects.study[i]), {})})
    # a readable plot: the studies carrying the most weight; the rest are counted
    rows, hidden = largest_rows(rows, weights, max_studies, sort)
    if hidden:
        rows.append({"kind": "note", "label": f"… {hidden} smaller studies not drawn",
                     "full": "only the largest weights are drawn; all are in the analysis"})
    shadow_data = shadow.data.set_index("row") if shadow is not None and \
        "row" in shadow.data else None
    for (name, reason), row in list(zip(effects.excluded, effects.excluded_rows,
                                        strict=True))[:max_studies]:
        rec = shadow_data.loc[row] if shadow_data is not None and row in shadow_data.index \
            else None
        left_out = "left out" in reason or "unticked" in reason or "include" in reason
        rows.append({"kind": "excluded", "label": clip_label(study_label(name, rec), 40),
                     "full": clip_label(name, 300),
                     "ci_text": "Left out" if left_out else "Not estimable",
                     "note": reason.split(": ", 1)[-1], **cells(rec)})

    totals: dict[str, str] = {}
    if kind in ("binary", "continuous"):
        for arm in ("t", "c"):
            if f"n_{arm}" in data:
                totals[f"n_{arm}"] = _num(float(np.nansum(data[f"n_{arm}"].to_numpy(float))))
    level = f"{result.level * 100:g}%"
    rows.append({"kind": "total", "label": f"Total ({level} CI)", "bold": True,
                 "est": nat["estimate"], "lo": nat["ci_low"], "hi": nat["ci_high"],
                 "weight_text": "100.0%" if result.k else "",
                 "ci_text": _ci(nat["estimate"], nat["ci_low"], nat["ci_high"], digits),
                 "full": result.settings, **totals})
    if kind == "binary":
        rows.append({"kind": "events", "label": "Total events",
                     "events_t": _num(float(np.nansum(data["events_t"].to_numpy(float)))),
                     "events_c": _num(float(np.nansum(data["events_c"].to_numpy(float))))})
    if show_pi and result.model == "random" and result.k >= 3 and np.isfinite(nat["pi_low"]):
        rows.append({"kind": "pi", "label": "Prediction interval", "est": nat["estimate"],
                     "lo": nat["pi_low"], "hi": nat["pi_high"],
                     "ci_text": f"[{format_effect(nat['pi_low'], digits)}, "
                                f"{format_effect(nat['pi_high'], digits)}]",
                     "full": "where a new study's true effect would likely be"})
    het, test = heterogeneity_line(result), overall_line(result)
    cut = het.find(" (P")
    het_a, het_b = (het[:cut], het[cut + 1:]) if cut > 0 else (het, "")
    rows.append({"kind": "text", "label": het, "narrow": het_a})
    rows.append({"kind": "text", "label": test, "narrow": het_b})
    rows.append({"kind": "text", "label": "", "narrow": test})
    frame = pd.DataFrame(rows)
    name, method = revman_header(result)
    # A method header longer than the effect column ("IV, Random (REML, HKSJ), 95% CI")
    # wraps before its level: at 1024-1280 px it overprinted the plot's own header.
    method_lines = [method]
    if len(method) > 22 and ", " in method:
        head, _, tail = method.rpartition(", ")
        method_lines = [head + ",", tail]
    header_rows = 1 + len(method_lines)
    frame["pos"] = np.arange(len(frame), dtype=float) + header_rows
    for col in ("est", "lo", "hi", "weight"):
        if col not in frame:
            frame[col] = np.nan
    for col in ("label", "ci_text", "weight_text", "note", "full", "narrow",
                *[c for c, *_ in data_cols], *[f"rob{j}" for j in range(rob_n)],
                *[f"rc{j}" for j in range(rob_n)]):
        frame[col] = frame[col].fillna("").astype(str) if col in frame else ""
    if "bold" not in frame:
        frame["bold"] = False
    frame["bold"] = frame["bold"].fillna(False).astype(bool)
    axis_pos = float(len(frame) + header_rows) + 0.3
    n_rows = axis_pos + 2.6

    # --- x scale: the plot's own domain, clamped values (arrows mark clipped CIs) -------
    vals = frame.loc[frame["kind"].isin(["study", "total", "pi"]), ["lo", "hi"]].to_numpy(float)
    vals = vals[np.isfinite(vals)]
    null = 1.0 if ratio else 0.0
    if vals.size:
        lo_d, hi_d = min(float(vals.min()), null), max(float(vals.max()), null)
    else:
        lo_d, hi_d = (0.5, 2.0) if ratio else (-1.0, 1.0)
    if ratio:
        # at most 4 decades either side of 1 keep the plot readable; the rest is clipped
        lo_d, hi_d = max(lo_d, 1e-4), min(max(hi_d, lo_d * 1.01), 1e4)
        span = max(abs(math.log10(lo_d)), abs(math.log10(hi_d)), math.log10(2))
        lo_d, hi_d = 10 ** -span, 10 ** span     # RevMan's symmetric ratio axis
    ticks = nice_ticks(lo_d, hi_d, ratio)
    domain = [min(ticks[0], lo_d), max(ticks[-1], hi_d)]
    # tick density follows the plot's width at each layout (narrowest width of each)
    shown = [set(thin_ticks(ticks, ratio, max(w - lay["plot_left"] - 12, 60)))
             for w, lay in zip((*BREAKPOINTS, 340), layouts, strict=True)]
    for col in ("est", "lo", "hi"):
        frame[f"{col}_c"] = frame[col].clip(domain[0], domain[1])
    frame["clip_lo"] = frame["lo"] < domain[0]
    frame["clip_hi"] = frame["hi"] > domain[1]

    plot_left = _by_bp([lay["plot_left"] for lay in layouts])
    bp_expr = (f"width >= {BREAKPOINTS[0]} ? 0 : width >= {BREAKPOINTS[1]} ? 1 : "
               f"width >= {BREAKPOINTS[2]} ? 2 : 3")
    params = [alt.param(name="bp", expr=bp_expr),
              alt.param(name="plotL", expr=plot_left)]
    # the risk-of-bias columns take the right edge; the plot ends before them
    rob_step = 17
    rob_w = rob_step * rob_n + (8 if rob_n else 0)
    x_scale = alt.Scale(type="log" if ratio else "linear", domain=domain, nice=False,
                        zero=False,
                        range=[alt.ExprRef("plotL"), alt.ExprRef(f"width - 12 - {rob_w}")])
    y_scale = alt.Scale(domain=[n_rows - 0.5, -0.5], nice=False, zero=False)
    y = alt.Y("pos:Q", scale=y_scale, axis=None)
    base = alt.Chart(alt.Data(name="rows"))
    family = FONTS.get(font, FONTS["sans"])
    tip_name = revman_header(result)[0]
    tooltip = [alt.Tooltip("full:N", title="Study"),
               alt.Tooltip("ci_text:N", title=f"{tip_name} [{level} CI]"),
               alt.Tooltip("weight_text:N", title="Weight"),
               alt.Tooltip("note:N", title="Note")]
    fs = 12

    def text_layer(field: str, x: str, align: str, *, filt: str | None = None,
                   visible: str = "true", color: str = ink,
                   limit: str | None = None, tip: bool = True) -> alt.Chart:
        mark: dict = {"type": "text", "align": align, "baseline": "middle", "fontSize": fs,
                      "font": family, "x": alt.ExprRef(x), "color": color}
        # bold for the total row: a mark property expression evaluated per datum
        mark["fontWeight"] = alt.ExprRef("datum.bold ? 'bold' : 'normal'")
        if limit:
            mark["limit"] = alt.ExprRef(limit)
        layer = base.mark_text(**{k: v for k, v in mark.items() if k != "type"})
        # hidden columns are filtered out, not made transparent: invisible marks would
        # still widen the view
        layer = layer.transform_filter(f"({filt or 'true'}) && ({visible})")
        enc = {"y": y, "text": alt.Text(f"{field}:N")}
        if tip:
            enc["tooltip"] = tooltip
        enc["color"] = alt.condition("datum.kind == 'excluded'", alt.value(GREY if colour
                                                                           else "#555555"),
                                     alt.value(color))
        return layer.encode(**enc)

    def header(text: str, x: str, row: float, align: str, visible: str = "true") -> alt.Chart:
        return alt.Chart(alt.Data(values=[{"pos": row}])).mark_text(
            align=alt.ExprRef(align) if "?" in align else align, baseline="middle",
            fontSize=fs, font=family, fontWeight="bold", color=ink,
            x=alt.ExprRef(x)).transform_filter(visible).encode(y=y, text=alt.value(text))

    layers: list[alt.Chart] = []
    label_limit = _by_bp([lay["label_w"] - 8 for lay in layouts])
    # on a phone the arm data are hidden, and with them the total events
    studyish = "datum.kind != 'text' && (datum.kind != 'events' || bp < 2)"
    layers.append(text_layer("label", "0", "left", filt=studyish, limit=label_limit))
    wide_text = "datum.kind == 'text'"
    layers.append(text_layer("label", "0", "left", filt=wide_text, visible="bp < 3",
                             tip=False))
    layers.append(text_layer("narrow", "0", "left", filt=wide_text, visible="bp == 3",
                             tip=False))
    bottom = header_rows - 1            # the row of the column headers
    layers.append(header("Study or Subgroup", "0", bottom, "left"))
    # arm data columns
    for field, head, _, drop in data_cols:
        xs = [lay["pos"].get(field, -999) for lay in layouts]
        vis = f"bp < {drop}"
        layers.append(text_layer(field, _by_bp(xs), "right", visible=vis))
        layers.append(header(head, _by_bp(xs), bottom, "right", vis))
    for arm_i, arm_name in enumerate(arms):
        fields = [f for f, _, a, _ in data_cols if a == arm_i]
        if not fields:
            continue
        centres = []
        for lay in layouts:
            xs = [lay["pos"][f] for f in fields if f in lay["pos"]]
            centres.append((min(xs) - 46 + max(xs)) / 2 if xs else -999)
        vis = f"bp < {max(d for f, _, a, d in data_cols if a == arm_i)}"
        layers.append(header(clip_label(arm_name, 24), _by_bp(centres), bottom - 1, "center",
                             vis))
    w_x = _by_bp([lay["pos"].get("weight", -999) for lay in layouts])
    layers.append(text_layer("weight_text", w_x, "right", visible="bp < 3"))
    layers.append(header("Weight", w_x, bottom, "right", "bp < 3"))
    ci_x = _by_bp([lay["pos"]["ci"] for lay in layouts])
    layers.append(text_layer("ci_text", ci_x, "left"))
    # on a phone one header spans the effect column and the plot
    plot_mid = f"bp < 3 ? (plotL + width - 12) / 2 : {layouts[3]['pos']['ci']}"
    for row, text in enumerate([name, *method_lines]):
        layers.append(header(text, ci_x, row, "left", "bp < 3"))
        layers.append(header(text, plot_mid, row, "bp < 3 ? 'center' : 'left'"))

    for j, head in enumerate(rob_heads):
        rx = f"width - {rob_w - 8 - j * rob_step - rob_step / 2}"
        has = f"datum.kind == 'study' && datum.rob{j} != ''"
        layers.append(base.transform_filter(has).mark_circle(
            size=190, opacity=1, x=alt.ExprRef(rx), stroke=ink, strokeWidth=0.4).encode(
            y=y, color=alt.Color(f"rc{j}:N", scale=None, legend=None)))
        layers.append(base.transform_filter(has).mark_text(
            fontSize=9, fontWeight="bold", font=family, color="black", x=alt.ExprRef(rx),
            baseline="middle", align="center").encode(y=y, text=alt.Text(f"rob{j}:N")))
        layers.append(header(head if head != "All" else "O", rx, bottom, "center"))
    if rob_heads:
        layers.append(header("Risk of bias", f"width - {rob_w / 2 - 4}", bottom - 1,
                             "center"))

    # --- the plot ---------------------------------------------------------------------
    x = alt.X("est_c:Q", scale=x_scale, axis=None)
    first, last = header_rows - 0.5, float(frame.loc[frame["kind"] == "total", "pos"].iloc[0]) + 0.5
    refs = [{"null": null, "y0": first, "y1": last, "axis": axis_pos}]
    ref = alt.Chart(alt.Data(values=refs))
    layers.append(ref.mark_rule(color=ink, strokeWidth=1).encode(
        x=alt.X("null:Q", scale=x_scale, axis=None), y=alt.Y("y0:Q", scale=y_scale, axis=None),
        y2="y1:Q"))
    studies = base.transform_filter("datum.kind == 'study'")
    layers.append(studies.mark_rule(color=ink, strokeWidth=1.2).encode(
        x=alt.X("lo_c:Q", scale=x_scale, axis=None), x2="hi_c:Q", y=y, tooltip=tooltip))
    layers.append(studies.mark_square(color=sq, opacity=1).encode(
        x=x, y=y, tooltip=tooltip,
        size=alt.Size("weight:Q", legend=None, scale=alt.Scale(range=[10, 220], zero=False))))
    for side, field, angle in (("lo", "lo_c", 270), ("hi", "hi_c", 90)):
        layers.append(studies.transform_filter(f"datum.clip_{side}").mark_point(
            shape="triangle", filled=True, size=36, color=ink, angle=angle).encode(
            x=alt.X(f"{field}:Q", scale=x_scale, axis=None), y=y))
    pi = base.transform_filter("datum.kind == 'pi'")
    layers.append(pi.mark_rule(strokeWidth=5, color=ink if not colour else "#1d4ed8",
                               opacity=0.5 if colour else 0.85).encode(
        x=alt.X("lo_c:Q", scale=x_scale, axis=None), x2="hi_c:Q", y=y, tooltip=tooltip))
    total = frame[frame["kind"] == "total"].iloc[0]
    diamond = []
    if np.isfinite(total["est"]):
        for xv, h in ((total["lo_c"], 0.0), (total["est_c"], 0.38), (total["hi_c"], 0.0)):
            diamond.append({"x": float(xv), "y": total["pos"] - h, "y2": total["pos"] + h,
                            "full": total["full"], "ci_text": total["ci_text"],
                            "weight_text": "100.0%", "note": ""})
        layers.append(alt.Chart(alt.Data(values=diamond)).mark_area(
            color=dia, opacity=1, line={"color": ink, "strokeWidth": 0.6}).encode(
            x=alt.X("x:Q", scale=x_scale, axis=None),
            y=alt.Y("y:Q", scale=y_scale, axis=None), y2="y2:Q", tooltip=tooltip))
    # the axis, drawn as marks so it sits in its row under the studies
    tick_rows = [{"x": tv, "label": _tick(tv), "y": axis_pos,
                  **{f"show{b}": tv in shown[b] for b in range(4)}} for tv in ticks]
    ax = alt.Chart(alt.Data(values=[{"a": domain[0], "b": domain[1], "y": axis_pos}]))
    layers.append(ax.mark_rule(color=ink).encode(
        x=alt.X("a:Q", scale=x_scale, axis=None), x2="b:Q",
        y=alt.Y("y:Q", scale=y_scale, axis=None)))
    tk = alt.Chart(alt.Data(values=tick_rows)).transform_filter("datum['show' + bp]")
    layers.append(tk.mark_tick(color=ink, orient="vertical", size=6, thickness=1, yOffset=3)
                  .encode(x=alt.X("x:Q", scale=x_scale, axis=None),
                          y=alt.Y("y:Q", scale=y_scale, axis=None)))
    layers.append(tk.mark_text(baseline="top", fontSize=11, font=family, color=ink, dy=8)
                  .encode(x=alt.X("x:Q", scale=x_scale, axis=None),
                          y=alt.Y("y:Q", scale=y_scale, axis=None), text="label:N"))
    fav = alt.Chart(alt.Data(values=[{"null": null, "y": axis_pos + 1.25}]))
    # each label may use the room between the line of no effect and its side of the plot
    room = {"right": f"scale('x', {null}) - plotL",
            "left": f"width - {rob_w} - scale('x', {null}) - 8"}
    for text, align, dx in ((favours[0], "right", -6), (favours[1], "left", 6)):
        layers.append(fav.mark_text(fontSize=alt.ExprRef("bp == 3 ? 10 : 11"), font=family,
                                    color=ink, align=align, dx=dx, baseline="top",
                                    lineBreak=alt.ExprRef("bp == 3 ? ' ' : '\\n'"),
                                    limit=alt.ExprRef(f"max({room[align]}, 40)")).encode(
            x=alt.X("null:Q", scale=x_scale, axis=None),
            y=alt.Y("y:Q", scale=y_scale, axis=None), text=alt.value(clip_label(text, 30))))
    chart = alt.layer(*layers).add_params(*params).properties(
        width=width, height=int(ROW * n_rows))
    if title:
        chart = chart.properties(title=alt.TitleParams(title, anchor="start", fontSize=15,
                                                       font=family, color=ink))
    chart = chart.configure_view(stroke=None).configure(font=family, background="white")
    chart.datasets = {"rows": records(frame)}
    return chart


def study_label(name: str, record: pd.Series | None) -> str:
    """Author and year, as RevMan prints them: a ``year`` column is added to a name
    that does not already carry it ("Shechter" + 1991 -> "Shechter 1991").

    >>> study_label("Shechter", pd.Series({"year": 1991.0})), study_label("Morton 1984", None)
    ('Shechter 1991', 'Morton 1984')
    """
    if record is None or "year" not in record.index:
        return str(name)
    year = record["year"]
    try:
        year = int(float(year))
    except (TypeError, ValueError):
        return str(name)
    if not 1000 <= year <= 2999 or str(year) in str(name):
        return str(name)
    return f"{name} {year}"


def _ci(est: float, lo: float, hi: float, digits: int) -> str:
    if not np.isfinite(est):
        return "Not estimable"
    return (f"{format_effect(est, digits)} [{format_effect(lo, digits)}, "
            f"{format_effect(hi, digits)}]")


def _tick(v: float) -> str:
    text = f"{v:g}"
    return text.replace("-", MINUS)
