"""How much do the tau^2 estimator and single studies matter?"""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.diagnostics.sensitivity import compare_estimators, leave_one_out
from metacore.models.pooling import CI_LABELS
from metacore.report.charts import estimator_chart, leave_one_out_chart
from ui import state, widgets
from ui.cache import cached
from ui.page import setup

setup()
s = st.session_state
st.title("Estimators & sensitivity")
result = widgets.analysis_or_stop()
res, eff = result.result, result.effects
st.caption(widgets.settings_line(res))


@cached(max_entries=64)
def _compare(yi, vi, measure, ratio, ci, level):
    eff = mc.EffectSizes(yi=yi, vi=vi, study=tuple(str(i) for i in range(len(yi))),
                         measure=measure, ratio=ratio)
    return compare_estimators(eff, ci_method=ci, level=level)


@cached(max_entries=64)
def _leave_one_out(yi, vi, study, measure, ratio, model, tau2, ci, level):
    eff = mc.EffectSizes(yi=yi, vi=vi, study=study, measure=measure, ratio=ratio)
    return leave_one_out(eff, model=model, tau2_method=tau2, ci_method=ci, level=level)


st.subheader("All τ² estimators side by side")
if eff.k < 2:
    st.warning("With fewer than two studies there is no between-study variance to estimate.")
else:
    ci = res.ci_method if res.model in ("random", "common") else "z"
    table = _compare(eff.yi, eff.vi, eff.measure, eff.ratio, ci, res.level)
    st.vega_lite_chart(estimator_chart(table, eff.measure, eff.ratio, res.level)
                       .to_dict(validate=False), key="est_chart", width="content", theme=None)
    t = res.transform
    lvl = f"{res.level:.0%}"
    shown = pd.DataFrame({
        "estimator": table["label"] + " (" + table["method"] + ")",
        "estimate": t(table["estimate"]), f"{lvl} CI low": t(table["ci_low"]),
        f"{lvl} CI high": t(table["ci_high"]), "PI low": t(table["pi_low"]),
        "PI high": t(table["pi_high"]), "τ²": table["tau2"], "τ": table["tau"],
        "I² (%)": table["i2"], "converged": table["converged"]})
    st.dataframe(shown.round(4), hide_index=True, width="stretch")
    spread = float(t(table["estimate"]).max() - t(table["estimate"]).min())
    st.caption(f"Across estimators the pooled estimate ranges over {spread:.3g} "
               f"({'ratio units' if eff.ratio else 'effect units'}); τ² from "
               f"{table['tau2'].min():.3g} to {table['tau2'].max():.3g}. "
               f"CI method: {CI_LABELS.get(ci, ci)}.")

st.subheader("Leave-one-out")
if eff.k < 3:
    st.warning("Leave-one-out needs at least three studies.")
else:
    model = res.model if res.model in ("random", "common") else "random"
    l1o = _leave_one_out(eff.yi, eff.vi, eff.study, eff.measure, eff.ratio, model,
                         s[state.TAU2], res.ci_method, res.level)
    full = res if res.model in ("random", "common") else result.others[0]
    st.vega_lite_chart(leave_one_out_chart(l1o, full).to_dict(validate=False), key="l1o_chart",
                       width="content", theme=None)
    t = full.transform
    lvl = f"{res.level:.0%}"
    shown = pd.DataFrame({"study left out": l1o["study"], "estimate": t(l1o["estimate"]),
                          f"{lvl} CI low": t(l1o["ci_low"]), f"{lvl} CI high": t(l1o["ci_high"]),
                          "p": l1o["pvalue"], "Q": l1o["q"], "τ²": l1o["tau2"],
                          "I² (%)": l1o["i2"]})
    st.dataframe(widgets.rounded(shown), hide_index=True, width="stretch")
    st.download_button("Leave-one-out table (CSV)", widgets.deferred_csv(shown),
                       "metacore_leave_one_out.csv", "text/csv", key="dl_l1o",
                       on_click="ignore")
