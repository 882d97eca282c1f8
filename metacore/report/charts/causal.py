"""Classical versus causal: comparison panels, many meta-analyses, simulation."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from metacore.numbers import format_effect
from metacore.report.charts.common import (
    PLOT_SIZED,
    clip_label,
    effect_scale,
    label_sides,
    nice_ticks,
    side_text,
)

METHOD_COLORS = {"Common effect": "#b45309", "Random effects": "#1d4ed8",
                 "Causal (target population)": "#15803d"}


def comparison_chart(frame: pd.DataFrame, level: float = 0.95,
                     width: int = 460) -> alt.VConcatChart:
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
        null = 1.0 if ratio else 0.0
        scale, ticks = effect_scale(sub[["lo", "hi"]].to_numpy(float), ratio, width)
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
        ).properties(width=width, height=90, title=alt.TitleParams(name, anchor="start",
                                                                 fontSize=13)))
    return alt.vconcat(*panels, spacing=18).properties(title=alt.TitleParams(
        "Classical versus causal meta-analysis", anchor="start", fontSize=15,
        subtitle=f"Point estimates with {level:.0%} confidence intervals"))


#: Points drawn at most; beyond, every discordant one and a random sample of the rest.
MAX_POINTS = 4_000
WIDTH, HEIGHT = 460, 420


def many_scatter(frame: pd.DataFrame, measure: str) -> alt.LayerChart:
    """Classical random effects (x) against causal (y), one point per meta-analysis.

    ``frame`` is :func:`metacore.models.causal.causal_many` output; discordant ones are red.
    Beyond :data:`MAX_POINTS` meta-analyses, the discordant ones are kept first and the
    concordant ones sampled (the subtitle says so).
    """
    ratio = measure != "RD"
    ok = frame[(frame["problem"] == "") & np.isfinite(frame["classical"])
               & np.isfinite(frame["causal"])].copy()
    total = len(ok)
    if total > MAX_POINTS:
        disc = ok[ok["discordant"]].head(MAX_POINTS)
        rest = ok[~ok["discordant"]]
        rest = rest.sample(n=min(len(rest), MAX_POINTS - len(disc)), random_state=0)
        ok = pd.concat([disc, rest])
    ok["status"] = np.where(ok["discordant"], "Discordant", "Concordant")
    vals = ok[["classical", "causal"]].to_numpy(float)
    vals = vals[np.isfinite(vals) & ((vals > 0) if ratio else True)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.5, 2.0)
    ticks = nice_ticks(lo, hi, ratio, width=min(WIDTH, HEIGHT)) if (not ratio or lo > 0) else None
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
    # The most discordant are named where a name fits (at most 10; the rest by tooltip).
    gap = np.abs(np.log(ok["classical"] / ok["causal"])) if ratio else \
        np.abs(ok["classical"] - ok["causal"])
    priority = np.where(ok["discordant"], gap, -np.inf)
    dom = tuple(domain) if ticks else None
    names = ok.assign(label=[clip_label(m, 30) for m in ok["meta_id"]])[
        ["classical", "causal", "label"]]
    sides = label_sides(names["classical"], names["causal"], names["label"].tolist(), priority,
                        width=WIDTH, height=HEIGHT, x_domain=dom, y_domain=dom, log_x=ratio,
                        log_y=ratio, max_labels=10)
    labels = side_text(names, alt.X("classical:Q", scale=scale), alt.Y("causal:Q", scale=scale),
                       "label:N", sides, fontSize=10, color="#991b1b")
    named = int((sides != "").sum())
    return alt.layer(line, points, labels).properties(
        width=WIDTH, height=HEIGHT, autosize=PLOT_SIZED, title=alt.TitleParams(
            f"Classical versus causal {name}", anchor="start", fontSize=15,
            subtitle=["One point per meta-analysis; dashed: x = y (agreement).",
                      *([f"Drawn: {len(ok):,} of {total:,} (every discordant one first)."]
                        if len(ok) < total else []),
                      "Red: the conclusions differ"
                      + (f" (the {named} most discordant that fit are named; hover for any)."
                         if named else ".")]))


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
        ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio, width=480)
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


