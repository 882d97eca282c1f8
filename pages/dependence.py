"""Dependent effect sizes: several estimates per study, or studies nested in clusters."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.table import extra_columns
from metacore.numbers import format_effect, format_number, format_p
from ui import analysis as an
from ui import dependence as dp
from ui import state, widgets
from ui.page import setup
from ui.text import md


def load_example() -> None:
    """Callback: load the bundled nested example (asking first if edits would be lost)."""
    if state.has_edits():
        st.session_state[state.PENDING] = dp.EXAMPLE
    else:
        state.load_dataset(dp.EXAMPLE)


setup(ignored={"model": "the multilevel model is a random-effects model at every level"})
s = st.session_state
# charts keep their size on a phone and scroll sideways inside their box, not cut off
st.html("<style>[class*='st-key-box_dep_'] { overflow-x: auto; overflow-y: hidden; }</style>")
st.title("Dependent effect sizes")
st.markdown("When a study gives several effect sizes (outcomes, time points, arms against one "
            "control), or studies sit in the same lab, school or country, the rows are not "
            "independent. Pooling them as if they were makes the interval too narrow. Name "
            "the column that says which cluster each row belongs to.")
result = widgets.analysis_or_stop()
eff = result.effects
inputs = an.current_inputs()
extra = extra_columns(eff.data)
# the study column itself is the usual cluster: several effect sizes per study
candidates = dp.cluster_candidates(eff.data, ["study", *extra])
example = mc.datasets.CATALOG[dp.EXAMPLE]
if s.get(state.DATASET) != dp.EXAMPLE:
    st.button(f"Load the example: {example.title}", key="dep_example", on_click=load_example,
              icon=":material/school:", help=f"{example.description} Source: "
                                             f"{example.source}.")
else:
    st.caption(f"{example.description} *Source: {example.source}.*")
if not candidates:
    st.info("This table has no column in which a value repeats over rows (a study or cluster "
            "name), so every row is its own cluster and there is no dependence to model. Add "
            "such a column on the Data page, or load the example above.",
            icon=":material/info:")
    st.stop()

if s.get("dep_cluster") not in candidates:
    # a column is only taken unasked when its name says it holds studies or clusters
    s["dep_cluster"] = candidates[0] if dp.is_preferred(candidates[0]) else None
c1, c2 = st.columns(2)
cluster = c1.selectbox("Study (cluster) column", [None, *candidates], key="dep_cluster",
                       format_func=lambda c: "— choose a column —" if c is None
                       else "study (the table's study column)" if c == "study" else str(c),
                       help="Rows with the same value here belong to one cluster.")
if cluster is None:
    st.info("Choose the column that says which study or cluster each row belongs to.",
            icon=":material/info:")
    st.stop()
inner_options = [c for c in ("study", *extra) if c != cluster]
if s.get("_dep_cluster_seen") != cluster:
    # a new cluster column: the example's own nesting, else each row its own effect
    s["dep_nesting"] = ["school"] if cluster == "district" and "school" in inner_options \
        else []
    s["_dep_cluster_seen"] = cluster
s["dep_nesting"] = [c for c in s.get("dep_nesting", []) if c in inner_options]
nesting = c2.multiselect("Nested within it (outermost first)", inner_options,
                         key="dep_nesting",
                         help="Empty: each row is its own effect within its cluster (the "
                              "usual three-level model).")
levels = (cluster, *nesting) if nesting else (cluster, dp.EACH_ROW)
c1, c2 = st.columns(2)
use_rho = c1.toggle("Sampling errors of one cluster are correlated", key="dep_use_rho",
                    help="Estimates from the same participants are correlated; the "
                         "correlation is rarely reported, so assume one and check the "
                         "sensitivity below (metafor's vcalc with a constant ρ).")
rho_value = c2.slider("Assumed correlation ρ", 0.0, 0.9, 0.6, 0.1, key="dep_rho",
                      disabled=not use_rho)
rho = float(rho_value) if use_rho else None
tau2, ci, notes = dp.mapped_settings(s[state.TAU2], s[state.CI])
level = float(s[state.LEVEL])
for note in notes:
    st.caption(f":material/info: {note}")

out, error = dp.fits(inputs, levels, tau2, ci, level, rho)
if error:
    st.error(md(error), icon=":material/error:")
    st.stop()
table, ml, rb = out["table"], out["ml"], out["robust"]
st.caption(md(f"Settings: {ml.settings}. Robust: CR2 with Satterthwaite df (clubSandwich), "
              f"clustered by '{cluster}'. Measure: {ml.name}."))

st.header("Naive, multilevel and robust, side by side")
tab_spec = dp.table_spec(inputs, levels, tau2, ci, level, rho)
with st.container(key="box_dep_table_chart"):   # keyed, so browser tests find it
    st.vega_lite_chart(tab_spec, key="dep_table_chart", width="content", theme=None)
ratio_ml, ratio_rb = (float(x) for x in table["width_ratio"].iloc[1:3])
n_clusters = ml.n_groups[0]
if max(ratio_ml, ratio_rb) < 1.05:
    why = (f"barely changes: rows of one '{cluster}' are hardly more alike than rows of "
           "different ones, so treating them as independent costs little here")
else:
    why = (f"is {ratio_ml:.2f} times as wide with the multilevel model and {ratio_rb:.2f} "
           f"times with cluster-robust inference. The {ml.k} rows come from only "
           f"{n_clusters} clusters of '{cluster}', and rows of one cluster share their "
           "setting, so they carry less information than independent studies would; the naive "
           "analysis counts each row as new evidence and its interval is too narrow")
st.info(md(f"The {level:.0%} interval of the pooled effect {why}."), icon=":material/chat:")
view = table.copy()
if ml.ratio:
    for c in ("estimate", "ci_low", "ci_high"):
        view[c] = ml.transform(view[c].to_numpy())
    st.caption("Estimates and intervals as ratios; SE and width on the log scale.")
view["model"] = view["model"].map({"naive": "naive (rows independent)",
                                   "multilevel": "multilevel",
                                   "robust": "multilevel + robust (CR2)"})
st.dataframe(widgets.rounded(view), hide_index=True, width="stretch")
c1, c2 = st.columns([1, 2])
c1.download_button("Table (CSV)", widgets.deferred_csv(view), "dependence.csv", "text/csv",
                   key="dl_dep_table", on_click="ignore", width="stretch")
with c2:
    widgets.chart_downloads(tab_spec, "dependence", "dl_dep_chart", label="Chart")

st.subheader("The multilevel model")
nat = ml.natural()
cols = st.columns(4)
cols[0].metric("Pooled estimate", format_effect(nat["estimate"], 3))
cols[1].metric(f"{level:.0%} CI", f"{format_effect(nat['ci_low'], 3)} to "
                                  f"{format_effect(nat['ci_high'], 3)}")
cols[2].metric("Prediction interval", f"{format_effect(nat['pi_low'], 3)} to "
                                      f"{format_effect(nat['pi_high'], 3)}")
cols[3].metric("Robust df (Satterthwaite)", f"{rb.df:.1f}")
components = pd.DataFrame({
    "level": list(ml.levels), "groups": list(ml.n_groups), "sigma2": list(ml.sigma2),
    "ci_low": [c.low for c in ml.sigma2_ci], "ci_high": [c.high for c in ml.sigma2_ci],
    "i2": list(ml.i2), "lrt": list(ml.lrt), "p": list(ml.lrt_pvalue)})
st.dataframe(widgets.rounded(components), hide_index=True, width="stretch",
             column_config={"sigma2": "σ²", "ci_low": "σ² CI from", "ci_high": "σ² CI to",
                            "i2": "I² (%)", "lrt": "LRT vs σ² = 0", "p": "p"})
with st.expander("Full output (as metafor prints it)", icon=":material/terminal:"):
    st.code(ml.summary() + "\n\n" + rb.summary(), language=None)
for note in (*ml.notes, *rb.notes):
    st.caption(f":material/info: {md(note)}")

st.header("Where the variance lies")
st.markdown("An observed effect differs from the truth by sampling error; true effects differ "
            "between clusters and, within a cluster, between rows. The bar splits the total "
            "into these parts (the sampling part is the typical sampling variance of one "
            "estimate).")
c1, c2 = st.columns([3, 1])
with c1:
    split = dp.split_spec(inputs, levels, tau2, ci, level, rho)
    with st.container(key="box_dep_split"):   # keyed, so browser tests find it
        st.vega_lite_chart(split, key="dep_split", width="content", theme=None)
c2.metric("ICC", format_number(ml.icc, 2) if ml.icc == ml.icc else "n/a",
          help="Share of the true-effect variance that lies between clusters: the "
               "correlation of two true effects from one cluster.")
if ml.icc == ml.icc:
    st.caption(md(f"ICC = {ml.icc:.2f}: two true effects from the same '{cluster}' are "
                  f"correlated {ml.icc:.2f}; {ml.icc:.0%} of the variance of true effects lies "
                  f"between clusters, {1 - ml.icc:.0%} within them."))
widgets.chart_downloads(split, "variance_split", "dl_dep_split", label="Variance split")

st.header("Sensitivity to the within-cluster correlation ρ")
st.markdown("The correlation between estimates of one cluster is seldom reported. If the "
            "conclusion holds for every ρ from 0 to 0.9, it does not hang on the guess.")
tab, rho_error = dp.rho_table(inputs, levels, tau2, ci, level)
if rho_error:
    st.warning(md(rho_error), icon=":material/warning:")
else:
    rspec = dp.rho_spec(inputs, levels, tau2, ci, level)
    with st.container(key="box_dep_rho_chart"):   # keyed, so browser tests find it
        st.vega_lite_chart(rspec, key="dep_rho_chart", width="content", theme=None)
    lo, hi = tab["pvalue"].min(), tab["pvalue"].max()
    st.caption(f"Over ρ = 0 to 0.9 the p-value of the pooled effect runs from {format_p(lo)} "
               f"to {format_p(hi)}.")
    widgets.chart_downloads(rspec, "rho_sensitivity", "dl_dep_rho", label="ρ sensitivity")
    st.download_button("ρ sensitivity (CSV)", widgets.deferred_csv(tab), "rho_sensitivity.csv",
                       "text/csv", key="dl_dep_rho_csv", on_click="ignore")
