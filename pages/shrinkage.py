"""Pooling and shrinkage (seeds 000, 001, 002): from no pooling to complete pooling."""

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.models.shrinkage import blup, shrinkage_path
from metacore.numbers import format_effect
from metacore.report.charts import shrinkage_chart
from ui import present, state, teaching, widgets
from ui.page import setup

setup()
s = st.session_state
st.title("Pooling & shrinkage")
st.markdown(
    "How much should studies borrow from each other? **No pooling** takes each study alone; "
    "**complete pooling** assumes one common effect; **partial pooling** (the hierarchical "
    "model θᵢ ~ N(μ, τ²)) shrinks each study toward the mean — noisy studies a lot, precise "
    "ones a little. τ sets how much: τ = 0 is complete pooling, τ → ∞ no pooling.")

result = widgets.analysis_or_stop()
if present.on():    # the lecture builds the pooled rows one key press at a time
    teaching.reveal(result)
eff = result.effects
fit = result.result if result.result.model == "random" else next(
    (r for r in result.others if r.model == "random"), None)
if fit is None:
    fit = mc.pool(eff, model="random", tau2_method=s[state.TAU2], ci_method=s[state.CI],
                  level=float(s[state.LEVEL]))
tau_hat = fit.tau
tau_max = float(max(3 * tau_hat, 3 * np.sqrt(eff.vi.max()), 3 * np.std(eff.yi), 1e-3))
key = "shrink_tau"
if s.get("shrink_scale") != tau_max or key not in s:   # new data: start at the estimate
    s["shrink_scale"] = tau_max
    s[key] = float(round(tau_hat, 4))


def _use_estimate() -> None:
    s[key] = float(round(tau_hat, 4))


c1, c2 = st.columns([4, 1])
tau = c1.slider("τ (between-study standard deviation)", 0.0, round(tau_max, 4), key=key,
                step=round(tau_max / 200, 5) or 0.0001, format="%.4f",
                help="0 = complete pooling; the right end is close to no pooling.")
c2.button(f"Use the estimate (τ̂ = {tau_hat:.3g})", key="shrink_use_estimate",
          on_click=_use_estimate, width="stretch")
path = shrinkage_path(eff, tau, float(s[state.LEVEL]))
w = 1 / (eff.vi + tau**2)
pooled = float(w @ eff.yi / w.sum())
ce = mc.pool(eff, model="common", level=float(s[state.LEVEL]))
st.vega_lite_chart(shrinkage_chart(path, pooled, tau, eff.measure, eff.ratio,
                                   common=ce.estimate)
                   .to_dict(validate=False), key="shrink_chart", width="content", theme=None)
st.caption(f"With τ = {tau:.3g}, the pooled mean is {format_effect(fit.transform(pooled), 3)}; "
           f"studies keep {100 * float(np.mean(1 - path['shrinkage'])):.0f}% of their own "
           "estimate on average. τ̂ comes from the sidebar's estimator "
           f"({fit.tau2_method}).")

st.subheader("Three views of the same studies")
t = fit.transform
cols = st.columns(3)
cols[0].metric("Common effect β₀", format_effect(t(ce.estimate), 3),
               help="All studies estimate one effect.")
cols[0].caption(f"SE {ce.se:.3g}; CI {format_effect(t(ce.ci_low), 3)} to "
                f"{format_effect(t(ce.ci_high), 3)}. Assumes every βᵢ equals β₀ — seldom "
                "plausible.")
cols[1].metric("Fixed effects β_F", format_effect(t(ce.estimate), 3),
               help="The same number, read as the precision-weighted average of the "
                    "studies' own effects.")
cols[1].caption(f"Spread ζ² = {ce.zeta2:.4g} (precision-weighted spread around β_F). No "
                "assumption that the βᵢ are equal.")
cols[2].metric("Random effects μ", format_effect(t(fit.estimate), 3),
               help="Mean of the distribution the studies' effects are drawn from.")
cols[2].caption(f"SE {fit.se:.3g}; CI {format_effect(t(fit.ci_low), 3)} to "
                f"{format_effect(t(fit.ci_high), 3)}; τ² = {fit.tau2:.4g}. Depends on how τ² "
                "is estimated or what prior it gets.")
teaching.terms_table()
teaching.z_decomposition(ce)

st.subheader("Empirical Bayes estimates of each study's effect (BLUPs)")
b = blup(fit)
lvl = f"{fit.level:.0%}"
st.dataframe(pd.DataFrame({
    "study": b["study"], "observed": t(b["yi"]), "shrunken": t(b["pred"]),
    f"{lvl} low": t(b["ci_low"]), f"{lvl} high": t(b["ci_high"]),
    "share pulled to the mean": b["shrinkage"]}).round(4), hide_index=True, width="stretch")
st.caption(f"As metafor's blup() for the random-effects fit ({fit.settings}).")
