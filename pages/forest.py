"""Forest plot, pooled estimates and heterogeneity for the current table and settings."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.report.describe import describe
from ui import analysis as an
from ui import present, state, teaching, widgets
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Forest plot & heterogeneity")
st.caption(f"Data: **{md(s[state.SOURCE])}**. Edit it, upload your own or tick studies in and "
           "out on the **Data** page.")

choices = an.study_choices(state.table_ref(), state.mapping_key())
valid_rows = {r for r, _ in choices}
s[an.LEAVE_OUT] = [r for r in s.get(an.LEAVE_OUT, []) if r in valid_rows]
c1, c2, c3 = st.columns([2, 3, 2])
c1.radio("Sort studies by", ["input", "estimate", "weight"], key="forest_sort",
         horizontal=True, format_func=str.capitalize)
c2.multiselect("What if these studies were left out?", [r for r, _ in choices],
               key=an.LEAVE_OUT, format_func=dict(choices).get,
               placeholder="Pick studies to drop from the analysis")
c3.radio("The outcome is", ["undesirable", "desirable"], key=state.DIRECTION, horizontal=True,
         help="Sets which side of the line of no effect favours treatment.")
if choices and len(s[an.LEAVE_OUT]) >= len(choices):
    st.warning("Every study is left out by the what-if picker above: take at least one out of "
               "the picker to see an analysis.", icon=":material/warning:")
    st.stop()

inputs = an.current_inputs()
result = an.analyse(*inputs)
if widgets.error_box(result):
    st.stop()
res, eff = result.result, result.effects
if present.on():                # the lecture: one idea per screen, revealed step by step
    teaching.reveal(result)
    st.stop()

st.info(describe(res, show_pi=s[state.SHOW_PI]), icon=":material/chat:")
st.caption(widgets.settings_line(res))
widgets.show_problems(result)

arm_t, arm_c, fav_left, fav_right, style, font = widgets.forest_labels()
show_both = bool(s.get("show_both", False))
drawn = [res, *result.others]
pub_args = (inputs, s.get("forest_sort", "input"), bool(s[state.SHOW_PI]), style, font,
            (arm_t, arm_c), (fav_left, fav_right))
st.vega_lite_chart(an.publication_display_spec(*pub_args), key="forest_chart", width="stretch",
                   theme=None)
for note in res.notes:
    st.caption(f":material/info: {note}")
e1, e2 = st.columns([3, 2])
export_w = e1.select_slider("Width of the exported image", options=[380, 560, 760, 1000],
                            value=1000, key="forest_export_width",
                            format_func=lambda w: f"{w} px", help=(
                                "The plot adapts its columns to the width: at 1,000 px every "
                                "column shows; narrower images drop SDs, then the arm data, "
                                "then the weights, as the page does on a small screen."))
with e2:
    widgets.chart_downloads(an.publication_spec(*pub_args, width=export_w),
                            f"forest_{res.measure.lower()}", "dl_forest", dpi=300)

st.toggle("Compare with the other model (interactive plot with both diamonds)",
          key="show_both")
if show_both:
    favours = (fav_left, fav_right)
    chart_args = (inputs, s.get("forest_sort", "input"), bool(s[state.SHOW_PI]), favours, True)
    st.vega_lite_chart(an.forest_display_spec(*chart_args), key="forest_both", width="content",
                       theme=None)

st.subheader("Heterogeneity")
fmt = widgets.fmt_num
m = st.columns(4)
m[0].metric("Q (df)", f"{res.q:.2f} ({res.q_df})", help="Cochran's Q, common-effect weights")
m[1].metric("p (Q test)", "n/a" if res.q_df < 1 else (
    "< 0.0001" if res.q_pvalue < 1e-4 else f"{res.q_pvalue:.4f}"))
m[2].metric("I²", f"{res.i2:.1f}%", help=(
    "τ²-based, as metafor: 100·τ²/(τ² + typical within-study variance)"
    if res.model == "random" else "Q-based: 100·(Q − df)/Q"))
m[3].metric("H²", fmt(res.h2, 2))
m = st.columns(4)
m[0].metric("τ²", fmt(res.tau2, 4) if res.model == "random" else "0 (assumed)")
m[1].metric("τ", fmt(res.tau, 4) if res.model == "random" else "0 (assumed)")
m[2].metric("ζ² (spread of the fixed effects)", fmt(res.zeta2, 4),
            help="Spread of the studies' own effects (course notes): (Q − (k−1)) / Σ 1/σᵢ², "
                 "truncated at 0")
m[3].metric("I² (Q-based)", f"{res.i2_q:.1f}%", help="Higgins & Thompson: (Q − df)/Q")
lvl = f"{res.level:.0%}"
intervals = pd.DataFrame({
    "statistic": ["τ²", "τ", "I² (%)", "H²"],
    "estimate": [res.tau2, res.tau, res.i2, res.h2],
    f"{lvl} CI low": [res.tau2_ci.low, res.tau_ci.low, res.i2_ci.low, res.h2_ci.low],
    f"{lvl} CI high": [res.tau2_ci.high, res.tau_ci.high, res.i2_ci.high, res.h2_ci.high]})
st.caption(f"Intervals by the Q-profile method (Viechtbauer 2007). Signal decomposition "
           f"(course notes): Z² = {res.z2_total:.2f} = Z_F² {res.z2_fixed:.2f} + Q {res.q:.2f}.")
st.dataframe(intervals.round(4), hide_index=True)

st.subheader("Pooled estimates")
rows = []
for r in drawn:
    nat = r.natural()
    rows.append({"model": r.settings, "k": r.k, "estimate": nat["estimate"],
                 f"{lvl} CI": f"{fmt(nat['ci_low'])} to {fmt(nat['ci_high'])}",
                 "p": r.pvalue,
                 "prediction interval": (f"{fmt(nat['pi_low'])} to {fmt(nat['pi_high'])}"
                                         if r.model == "random" else "—")})
st.dataframe(widgets.rounded(pd.DataFrame(rows)), hide_index=True, width="stretch")

st.subheader("Downloads")
d1, d2 = st.columns(2)
d1.download_button("Results with settings (CSV)", lambda: widgets.csv_bytes(
    mc.export.results_record(eff, res, cc=float(s[state.CC]), cc_to=s[state.CC_TO])),
                   "metacore_results.csv", "text/csv", key="dl_results", width="stretch",
                   on_click="ignore")
d2.download_button("Study table as edited (CSV)", widgets.deferred_csv(state.table()),
                   "metacore_studies.csv", "text/csv", key="dl_table", width="stretch",
                   on_click="ignore")
