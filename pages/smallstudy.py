"""Small-study effects, influence, cumulative evidence and GOSH."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.table import extra_columns
from metacore.numbers import format_effect, format_p
from metacore.report.describe import SHORT_NAMES
from ui import analysis as an
from ui import widgets
from ui.page import setup
from ui.smallstudy import (
    GOSH_SAMPLE,
    GOSH_SUBSETS,
    baujat_spec,
    cumulative_of,
    cumulative_spec,
    fit_kw,
    funnel_spec,
    gosh_of,
    gosh_spec,
    influence_of,
    ok,
    tests_for,
)
from ui.text import md

setup()
s = st.session_state
st.title("Small-study effects & influence")
result = widgets.analysis_or_stop()
eff, res = result.effects, result.result
kw = fit_kw(res)
inputs = an.current_inputs()
st.caption(widgets.settings_line(res) + (" Mantel-Haenszel and Peto fits are shown by their "
                                          "inverse-variance common-effect counterpart here."
                                          if res.model in ("MH", "PETO") else ""))
if eff.k < 3:
    st.warning(f"These methods need at least 3 studies; this analysis has {eff.k}.",
               icon=":material/warning:")
    st.stop()
if eff.k < 10:
    st.warning("With fewer than 10 studies, funnel-plot asymmetry tests have little power and "
               "can mislead; read them as hints, not verdicts (metafor and meta warn too).",
               icon=":material/warning:")

st.header("Funnel plot and small-study tests")
c1, c2 = st.columns([2, 3])
show_egger = c1.toggle("Draw Egger's regression line", key="ss_egger_line")
egger_model = c2.radio("Egger's test", ["model", "lm"], key="ss_egger_model", horizontal=True,
                       format_func={"model": "with the fit's model (metafor's default)",
                                    "lm": "classical weighted regression"}.get)
tests = tests_for(inputs, tuple(kw.items()), egger_model)
tf, eg = ok(tests, "trimfill"), ok(tests, "egger")
pooled = mc.pool(eff, **kw)
funnel = funnel_spec(inputs, tuple(kw.items()), egger_model, bool(show_egger))
st.vega_lite_chart(funnel, key="ss_funnel", width="content", theme=None)
t = pooled.transform
rows = []
if eg:
    rows.append({"method": "Egger's regression test", "result":
                 f"{'t' if eg.df else 'z'} = {eg.statistic:.2f}, p = {format_p(eg.pvalue)}",
                 "meaning": f"limit estimate (SE → 0) {format_effect(t(eg.limit), 3)} "
                            f"[{format_effect(t(eg.limit_ci_low), 3)}, "
                            f"{format_effect(t(eg.limit_ci_high), 3)}]"})
bg = tests["begg"]
if not isinstance(bg, str):
    rows.append({"method": "Begg's rank test", "result":
                 f"Kendall's τ = {bg.tau:.3f}, p = {format_p(bg.pvalue)}",
                 "meaning": "exact p" if bg.exact else "normal approximation (ties)"})
if tf:
    rows.append({"method": "Trim-and-fill (L0)", "result":
                 f"{tf.k0} stud{'y' if tf.k0 == 1 else 'ies'} filled on the {tf.side}",
                 "meaning": f"adjusted {format_effect(t(tf.result.estimate), 3)} "
                            f"[{format_effect(t(tf.result.ci_low), 3)}, "
                            f"{format_effect(t(tf.result.ci_high), 3)}] vs "
                            f"{format_effect(t(pooled.estimate), 3)}"})
for key, label in (("rosenthal", "Fail-safe N (Rosenthal)"), ("orwin", "Fail-safe N (Orwin)"),
                   ("rosenberg", "Fail-safe N (Rosenberg)")):
    f = tests[key]
    if not isinstance(f, str):
        rows.append({"method": label, "result": f"{f.n:,.0f}",
                     "meaning": {"rosenthal": "null studies to make p > 0.05 (one-sided)",
                                 "orwin": "null studies to halve the mean effect",
                                 "rosenberg": "null studies to make p > 0.05 (weighted)"}[key]})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={"meaning": st.column_config.TextColumn(width="large")})
for name in ("egger", "begg", "trimfill"):
    if isinstance(tests[name], str):
        st.caption(f":material/info: {md(tests[name])}")
short = SHORT_NAMES.get(eff.measure, "effect")
st.info("Funnel asymmetry means small studies report different effects from large ones. It "
        "can come from publication bias, but also from genuine heterogeneity, chance, or "
        "small studies being different (sicker patients, other doses). Trim-and-fill's "
        f"adjusted {short} is a sensitivity analysis, not a corrected truth; fail-safe N "
        "ignores heterogeneity and is best read as a rough gauge.", icon=":material/chat:")
widgets.chart_downloads(funnel, "funnel", "dl_funnel", label="Funnel plot")

st.header("Influence")
inf, error = influence_of(inputs, tuple(kw.items()))
if error:
    st.warning(md(error), icon=":material/warning:")
else:
    c1, c2 = st.columns([3, 2])
    with c1:
        st.vega_lite_chart(baujat_spec(inputs, tuple(kw.items())), key="ss_baujat",
                           width="content", theme=None)
    with c2:
        flagged = inf[inf["inf"]]
        if len(flagged):
            st.warning("Influential by metafor's rule: " + ", ".join(md(x) for x in
                                                                    flagged["study"]) + ".",
                       icon=":material/warning:")
        else:
            st.success("No study is influential by metafor's rule.",
                       icon=":material/check_circle:")
        # Picked by row, not by name: two studies may share a name.
        labels = {r: f"{name} (row {r})" for name, r in zip(eff.study, eff.rows, strict=True)}
        pick = st.selectbox("Leave a study out everywhere", [None, *labels], key="ss_leave",
                            format_func=lambda r: "—" if r is None else labels[r])
        if st.button("Leave it out", key="ss_leave_button", disabled=pick is None):
            s[an.LEAVE_OUT] = sorted({*s.get(an.LEAVE_OUT, []), pick})
            st.rerun()
    shown = inf[["study", "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del",
                 "hat", "weight", "inf"]].rename(columns={"inf": "influential"})
    st.dataframe(shown.round(4).style.apply(
        lambda r: ["background-color: #fee2e2" if r["influential"] else "" for _ in r], axis=1),
        hide_index=True, width="stretch")
    st.download_button("Influence table (CSV)", widgets.deferred_csv(shown),
                       "influence.csv", "text/csv", key="dl_influence", on_click="ignore")

st.header("Cumulative meta-analysis")
numeric = [c for c in extra_columns(eff.data) if pd.api.types.is_numeric_dtype(eff.data[c])]
options = ["table order", *numeric]
order = st.selectbox("Add the studies in", options, key="ss_order",
                     index=options.index("year") if "year" in options else 0)
by = None if order == "table order" else order
cu = cumulative_of(inputs, tuple(kw.items()), by)
st.vega_lite_chart(cumulative_spec(inputs, tuple(kw.items()), by,
                                   f"Each row: the pooled estimate with every study up to it "
                                   f"({order}); {res.level:.0%} CI"),
                   key="ss_cumul", width="content", theme=None)
st.download_button("Cumulative results (CSV)", widgets.deferred_csv(cu), "cumulative.csv",
                   "text/csv", key="dl_cumul", on_click="ignore")

st.header("GOSH")
st.caption("Graphical display of study heterogeneity: the pooled estimate and I² of every "
           f"subset of studies (up to 20 studies; beyond, a random sample of {GOSH_SAMPLE:,}). "
           "Clusters "
           "that separate when one study is in or out point to an outlier.")
c1, c2 = st.columns(2)
gosh_model = c1.radio("Model", ["common", "random"], key="ss_gosh_model", horizontal=True,
                      format_func={"common": "common effect (metafor's default)",
                                   "random": "random effects (DL)"}.get)
mark = c2.selectbox("Colour the subsets that contain", range(eff.k), key="ss_gosh_study",
                    format_func=lambda i: eff.study[i])
if 2**eff.k - 1 > GOSH_SUBSETS:
    st.info(f"With {eff.k} studies there are {2**eff.k - 1:,} subsets; a random sample of "
            f"{GOSH_SAMPLE:,} is drawn.")
bar = st.progress(0.0, text="Fitting every subset…")
g = gosh_of(inputs, gosh_model, lambda f: bar.progress(f, text="Fitting every subset…"))
bar.empty()
gchart = gosh_spec(inputs, gosh_model, int(mark), g)
st.vega_lite_chart(gchart, key="ss_gosh", width="content", theme=None)
widgets.chart_downloads(gchart, "gosh", "dl_gosh", label="GOSH plot")
