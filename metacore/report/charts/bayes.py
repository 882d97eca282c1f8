"""Posterior densities and interval rows for the Bayesian page."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

from metacore.report.charts.common import (
    HALF_PAGE,
    axis,
    nice_ticks,
)


def density_chart(x: np.ndarray, series: dict[str, np.ndarray], title: str, x_title: str,
                  ratio: bool = False, subtitle: str = "", width: int = HALF_PAGE
                  ) -> alt.Chart:
    """Line chart of one or more densities over a common grid (natural scale for ratios).

    ``width`` is the whole chart's (Streamlit fits the plot, axes and legend in it).
    """
    t = np.exp if ratio else (lambda v: v)
    pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), 500)).astype(int))
    frame = pd.concat([pd.DataFrame({"x": t(x[pick]), "density": d[pick], "curve": name})
                       for name, d in series.items()], ignore_index=True)
    frame = frame[np.isfinite(frame["density"])]
    colors = ["#1d4ed8", "#b45309", "#15803d", "#7c3aed"][:len(series)]
    lo, hi = float(frame["x"].min()), float(frame["x"].max())
    x_axis = alt.Axis(values=nice_ticks(lo, hi, True, width=width), format="~g") if ratio \
        else axis(width)
    return alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=alt.X("x:Q", title=x_title, axis=x_axis,
                scale=alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                                domain=[lo, hi])),
        y=alt.Y("density:Q", title="Density"),
        color=alt.Color("curve:N", title=None, scale=alt.Scale(domain=list(series),
                                                             range=colors)),
        tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("x:Q", format=".3f"),
                 alt.Tooltip("density:Q", format=".3f")],
    ).properties(width=width, height=220, title=alt.TitleParams(title, subtitle=subtitle,
                                                             anchor="start", fontSize=14))


def interval_rows_chart(frame: pd.DataFrame, title: str, x_title: str, ratio: bool = False,
                        subtitle: str = "", color_field: str = "group",
                        width: int = 460,
                        domain: tuple[float, float] | None = None) -> alt.Chart:
    """Point and interval per labelled row: columns ``label est lo hi`` and ``group``
    (``width``: the whole chart's; :data:`HALF_PAGE` in a column of two).

    ``domain`` (analysis scale) fixes the x range, so that panels set side by side share
    one axis and their widths can be compared."""
    t = np.exp if ratio else (lambda v: v)
    # rows are identities and labels only names: two studies called "ARCHAIC" are two rows
    frame = frame.reset_index(drop=True).assign(est=t(frame["est"].to_numpy()),
                                                lo=t(frame["lo"].to_numpy()),
                                                hi=t(frame["hi"].to_numpy()),
                                                row=np.arange(len(frame)))
    vals = frame[["lo", "hi"]].to_numpy(float).ravel()
    vals = vals[np.isfinite(vals)]
    if domain is not None:
        vals = np.asarray(t(np.asarray(domain, float)), float)
    # tick density for the plot's share of the width (the row labels take about 200 px)
    ticks = nice_ticks(float(vals.min()), float(vals.max()), ratio, width=width - 200) \
        if vals.size else None
    scale = alt.Scale(type="log" if ratio else "linear", zero=False, nice=False,
                      domain=[min(ticks[0], vals.min()), max(ticks[-1], vals.max())]
                      if ticks else alt.Undefined)
    labels = json.dumps([str(x) for x in frame["label"]], ensure_ascii=False)
    y = alt.Y("row:O", sort="ascending", title=None,
              axis=alt.Axis(labelExpr=f"{labels}[datum.value]", labelLimit=240))
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
    ).properties(width=width, height=max(120, 20 * len(frame)), title=alt.TitleParams(
        title, subtitle=subtitle, anchor="start", fontSize=14))



def tau_sensitivity_chart(yi: np.ndarray, vi: np.ndarray, references: dict[str, float], *,
                          x_title: str, width: int = 460) -> alt.LayerChart:
    """Doc 002's τ sensitivity: the estimate of μ and its 95% interval given τ (flat prior on
    μ: the 1/(vᵢ + τ²)-weighted mean), against β_F, which does not depend on τ at all;
    ``references`` marks τ values (e.g. DerSimonian–Laird's, REML's).

    >>> c = tau_sensitivity_chart(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.04]),
    ...                           {"DL": 0.2}, x_title="effect")
    >>> len(c.to_dict()["layer"])
    4
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    top = max(3 * float(np.std(yi)), 3 * max(references.values(), default=0), 1e-3)
    tau = np.linspace(0, top, 121)
    w = 1 / (vi[None, :] + tau[:, None] ** 2)
    mu = (w @ yi) / w.sum(1)
    se = 1 / np.sqrt(w.sum(1))
    beta_f = float(np.sum(yi / vi) / np.sum(1 / vi))
    se_f = float(1 / np.sqrt(np.sum(1 / vi)))
    frame = pd.concat([
        pd.DataFrame({"tau": tau, "est": mu, "lo": mu - 1.96 * se, "hi": mu + 1.96 * se,
                      "what": "μ given τ"}),
        pd.DataFrame({"tau": tau, "est": beta_f, "lo": beta_f - 1.96 * se_f,
                      "hi": beta_f + 1.96 * se_f, "what": "β_F"})])
    color = alt.Color("what:N", title=None, scale=alt.Scale(
        domain=["μ given τ", "β_F"], range=["#1d4ed8", "#b45309"]),
        legend=alt.Legend(orient="top", labelLimit=0))
    x = alt.X("tau:Q", title="τ (fixed)")
    band = alt.Chart(frame).mark_area(opacity=0.18).encode(x=x, y="lo:Q", y2="hi:Q",
                                                           color=color)
    line = alt.Chart(frame).mark_line(strokeWidth=2.5).encode(
        x=x, y=alt.Y("est:Q", title=x_title), color=color)
    # names one above the other: two estimators' τ̂ are often close
    refs = pd.DataFrame({"tau": list(references.values()), "name": list(references)})
    rule = alt.Chart(refs).mark_rule(color="#6b7280", strokeDash=[4, 3]).encode(x="tau:Q")
    text = alt.layer(*[alt.Chart(refs.iloc[[i]]).mark_text(
        align="left", dx=4, dy=4 + 18 * i, baseline="top", color="#374151").encode(
        x="tau:Q", y=alt.value(0), text="name:N") for i in range(len(refs))])
    return alt.layer(band, line, rule, text).properties(
        width=width, height=260, title=alt.TitleParams(
            "μ moves with τ; β_F does not", anchor="start", fontSize=14,
            subtitle="Estimate and 95% interval for each fixed τ"))


def log_tau_likelihood_chart(yi: np.ndarray, vi: np.ndarray, *, width: int = 460
                             ) -> alt.LayerChart:
    """Doc 002's log-τ picture: the restricted likelihood of log τ (μ integrated out with a
    flat prior) against Lambert's L3 prior, log τ² ~ U(−10, 10) (flat on log τ in (−5, 5)),
    both scaled to a maximum of 1. As τ → 0 the likelihood levels off at L(τ = 0), so over
    the whole left of the axis the prior, not the data, sets how much mass small τ gets.

    >>> c = log_tau_likelihood_chart(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.04]))
    >>> c.to_dict()["layer"][0]["mark"]["type"]
    'line'
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    lt = np.linspace(-6, 6, 481)
    t2 = np.exp(2 * lt)
    w = 1 / (vi[None, :] + t2[:, None])
    mu = (w @ yi) / w.sum(1)
    ll = (-0.5 * np.log(vi[None, :] + t2[:, None]).sum(1) - 0.5 * np.log(w.sum(1))
          - 0.5 * (w * (yi[None, :] - mu[:, None]) ** 2).sum(1))
    lik = np.exp(ll - ll.max())
    prior = np.where(np.abs(lt) <= 5, 1.0, 0.0)
    frame = pd.concat([pd.DataFrame({"log_tau": lt, "density": lik,
                                     "what": "likelihood (restricted)"}),
                       pd.DataFrame({"log_tau": lt, "density": prior,
                                     "what": "L3 prior: log τ² ~ U(−10, 10)"})])
    color = alt.Color("what:N", title=None, scale=alt.Scale(
        domain=["likelihood (restricted)", "L3 prior: log τ² ~ U(−10, 10)"],
        range=["#1d4ed8", "#b45309"]), legend=alt.Legend(orient="top", labelLimit=0))
    return alt.layer(alt.Chart(frame).mark_line(strokeWidth=2.5)
                     .encode(x=alt.X("log_tau:Q", title="log τ",
                                     axis=alt.Axis(values=list(range(-6, 7, 2)))),
                             y=alt.Y("density:Q", title="relative to its maximum"),
                             color=color,
                             strokeDash=alt.StrokeDash("what:N", legend=None))).properties(
        width=width, height=260, title=alt.TitleParams(
            "Likelihood of log τ against the L3 prior", anchor="start", fontSize=14,
            subtitle="Both scaled to a maximum of 1"))
