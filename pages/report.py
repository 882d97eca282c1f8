"""Summary of findings (GRADE style), the report and the R code to hand on."""

import streamlit as st

import metacore as mc
from metacore.review.sof import CERTAINTY
from ui import analysis as an
from ui import state, widgets
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Summary of findings & report")
st.caption(f"Data: **{md(s[state.SOURCE])}**. Everything here follows the sidebar settings and "
           "the studies left out on the forest page.")
inputs = an.current_inputs()
result = an.analyse(*inputs)
if widgets.error_box(result):
    st.stop()
res, eff = result.result, result.effects
arm_t, arm_c, fav_left, fav_right, style, font = widgets.forest_labels()

st.subheader("Summary of findings")
c = st.columns([2, 1, 1])
outcome = c[0].text_input("Outcome", key="sof_outcome", max_chars=80,
                          placeholder="e.g. Mortality at 30 days") or "Outcome"
certainty = c[1].selectbox("Certainty of the evidence (GRADE)", list(CERTAINTY),
                           key="sof_certainty", format_func=str.capitalize,
                           help="A judgement of the review team (risk of bias, inconsistency, "
                                "indirectness, imprecision, publication bias).")
binary = res.measure in ("RR", "OR", "PETO", "RD")
assumed = None
if binary:
    pooled = float(eff.data["events_c"].sum() / eff.data["n_c"].sum())
    per1000 = c[2].number_input("Assumed control risk per 1,000", min_value=0.0,
                                max_value=1000.0, value=None, step=1.0, key="sof_acr",
                                placeholder=f"{1000 * pooled:.0f} (pooled)",
                                help="Leave empty for the pooled control-arm risk of the "
                                     "analysed studies; type a baseline risk for the "
                                     "population you care about.")
    assumed = None if per1000 is None else per1000 / 1000
units = ""
if res.measure == "MD":
    units = c[2].text_input("Units of the outcome", key="sof_units", max_chars=30,
                            placeholder="e.g. days")
comments = st.text_input("Comments", key="sof_comments", max_chars=300)
try:
    sof = mc.summary_of_findings(eff, res, outcome=outcome, assumed_risk=assumed,
                                 direction=s[state.DIRECTION], certainty=certainty, units=units,
                                 comments=comments)
except mc.MetacoreError as err:
    st.warning(str(err), icon=":material/warning:")
    sof = None
if sof is not None:
    st.table(sof.to_frame().set_index("Outcome"))
    if sof.kind == "binary":
        st.caption(f"Risk with control: {md(sof.assumed_source)}. The risk with the "
                   "intervention applies the pooled relative effect to it; the NNT and its "
                   "interval follow Altman (1998) — NNTB: benefit, NNTH: harm, through ∞ "
                   "when the interval crosses no effect. The outcome is "
                   f"**{s[state.DIRECTION]}** (set on the forest page).")
    elif sof.kind == "relative":
        st.caption("Absolute effects need arm risks or means; this measure gives the relative "
                   "effect only.")

st.subheader("Report")
title = st.text_input("Title", key="report_title", max_chars=150,
                      placeholder="Meta-analysis report") or "Meta-analysis report"
kwargs = an.export_kwargs(inputs)
report_args = dict(kwargs, title=title, outcome=outcome, source=s[state.SOURCE],
                   arms=(arm_t, arm_c), favours=(fav_left, fav_right), style=style, font=font,
                   sort=s.get("forest_sort", "input"), show_pi=bool(s[state.SHOW_PI]),
                   assumed_risk=assumed, direction=s[state.DIRECTION], certainty=certainty,
                   units=units)
st.markdown("One HTML page (or a Word document) that works offline: the forest plot, "
            "results, heterogeneity, the summary of findings, the studies, the settings, a "
            "methods paragraph with references and the R code. Open it in a browser and "
            "print to PDF, or paste from it.")
r1, r3, r2 = st.columns(3)
r1.download_button("Report (HTML)", data=lambda: widgets.report_html(inputs[0], report_args),
                   file_name="metacore_report.html", mime="text/html", key="dl_report",
                   width="stretch", on_click="ignore", icon=":material/description:")
r3.download_button("Report (Word)", data=lambda: widgets.report_docx(inputs[0], report_args),
                   file_name="metacore_report.docx",
                   mime="application/vnd.openxmlformats-officedocument.wordprocessingml."
                        "document", key="dl_report_docx", width="stretch", on_click="ignore",
                   icon=":material/article:")
r2.download_button("Results with settings (CSV)", data=lambda: widgets.csv_bytes(
    mc.export.results_record(eff, res)), file_name="metacore_results.csv", mime="text/csv",
                   key="dl_record", width="stretch", on_click="ignore")

st.subheader("Reproduce in R")
st.caption("R code that rebuilds the table as edited and runs the same analysis with metafor "
           "(copy with the button at the top right of the box); the fit is left in `res`.")
script = an.r_script(inputs)
st.code(script, language="r")
st.download_button("R script (.R)", data=script, file_name="metacore_analysis.R",
                   mime="text/plain", key="dl_rscript", on_click="ignore")
