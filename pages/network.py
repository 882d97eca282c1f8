"""Network meta-analysis: many treatments compared at once, live."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.io import read_pasted, read_table
from metacore.numbers import format_effect, format_p
from ui import network as nw
from ui import state, widgets
from ui.page import setup
from ui.text import md

setup(ignored={"dataset": "the network has its own table, chosen on this page",
               "cc": "a study with a zero-event arm gets 0.5 added to every arm (fixed)"})
nw.init()
s = st.session_state
# A league table of ten treatments cannot shrink to a phone's width and stay readable: each
# chart keeps its size and scrolls sideways inside its own box instead of being cut off.
st.html("<style>[class*='st-key-box_nm_'] { overflow-x: auto; overflow-y: hidden; }</style>")
st.title("Network meta-analysis")
st.markdown("Compare several treatments at once: direct evidence (trials that compared two "
            "treatments) and indirect evidence (through common comparators) combined in one "
            "model — metafor's contrast-based `rma.mv` with one τ² for every comparison.")

st.header("The network")
tab_example, tab_upload, tab_paste = st.tabs(["Bundled networks", "Upload a file",
                                              "Paste a table"])
with tab_example:
    if "_nm_dataset_next" in s:
        s[nw.DATASET] = s.pop("_nm_dataset_next")
    names = mc.datasets.network_names()
    if s.get(nw.DATASET) == nw.YOURS:
        names = [nw.YOURS, *names]
    st.selectbox("Bundled network", names, key=nw.DATASET, on_change=nw.choose_dataset,
                 format_func=lambda n: "Your table" if n == nw.YOURS
                 else mc.datasets.NETWORKS[n].title)
    if s[nw.DATASET] != nw.YOURS:
        info = mc.datasets.NETWORKS[s[nw.DATASET]]
        st.caption(f"{info.description} *Source: {info.source}.*")
with tab_upload:
    up = st.file_uploader("CSV, TSV or Excel: one row per arm (study, treatment, events and n "
                          "— or mean, sd and n) or one row per comparison (study, treatment1, "
                          "treatment2, yi, sei)", key="nm_upload",
                          type=["csv", "tsv", "txt", "tab", "xlsx", "xls"])
    if up is not None and s.get("_nm_upload_seen") != up.file_id:
        s["_nm_upload_seen"], s["_nm_upload_error"] = up.file_id, None
        try:
            nw.set_table(read_table(up.getvalue(), up.name), up.name)
            st.rerun()
        except mc.MetacoreError as err:
            s["_nm_upload_error"] = f"{up.name}: {err}"
    if up is not None and s.get("_nm_upload_error"):
        st.error(md(s["_nm_upload_error"]), icon=":material/error:")
with tab_paste:
    st.text_area("Paste rows copied from a spreadsheet (first line: column names)",
                 key="nm_paste", height=150,
                 placeholder="study\ttreatment\tevents\tn\nSmith 2001\tplacebo\t12\t100\n"
                             "Smith 2001\tdrug A\t20\t98")
    if st.button("Use the pasted table", key="nm_use_paste"):
        try:
            nw.set_table(read_pasted(s.get("nm_paste", "")), "pasted network")
            st.rerun()
        except mc.MetacoreError as err:
            st.error(md(f"The pasted text was not used: {err}"), icon=":material/error:")

table = nw.ref()
kind, studies, treatments = nw.shape(table)
words = nw.KIND_WORDS.get(kind)
st.caption(f"Current network: **{md(s[nw.SOURCE])}** — {len(table.frame)} rows"
           + (f", {words}." if words else "."))
with st.expander("See the table", icon=":material/table:"):
    st.dataframe(table.frame, hide_index=True, width="stretch")
if not kind:
    st.error("The columns of this table are not recognised as a network. Give one row per "
             "arm with columns study, treatment and events, n (binary) or mean, sd, n "
             "(continuous); or one row per comparison with study, treatment1, treatment2, yi "
             "(treatment1 minus treatment2) and sei. Columns found: "
             + md(", ".join(map(str, table.frame.columns))) + ".", icon=":material/error:")
    st.stop()

st.header("Settings")
measures = nw.MEASURES[kind]
sidebar_measure = s.get(state.MEASURE)
if ((s.get("_nm_sidebar_seen") != sidebar_measure or "nm_measure" not in s)
        and sidebar_measure in measures):
    s["nm_measure"] = sidebar_measure          # the sidebar's measure applies when it fits
s["_nm_sidebar_seen"] = sidebar_measure
if s.get("nm_measure") not in measures:
    s["nm_measure"] = measures[0]
c1, c2, c3 = st.columns(3)
measure = c1.selectbox("Effect measure", measures, key="nm_measure",
                       format_func=lambda m: "As given (yi, sei)" if m == "GEN"
                       else f"{mc.MEASURE_LABELS[m]} ({m})")
if s.get("nm_reference") not in treatments:
    s.pop("nm_reference", None)
reference = c2.selectbox("Reference treatment", [None, *treatments], key="nm_reference",
                         format_func=lambda t: "Most studied (automatic)" if t is None
                         else t)
small = c3.radio("Smaller values are", ["good", "bad"], key="nm_small", horizontal=True,
                 format_func={"good": "better (e.g. deaths)",
                              "bad": "worse (e.g. quitting)"}.get,
                 help="Sets the direction of the ranking only.")
model, tau2, ci, mapped = nw.mapped_settings(s[state.MODEL], s[state.TAU2], s[state.CI])
notes = list(mapped)
if sidebar_measure != measure and kind != "contrasts":
    notes.append(f"The sidebar's measure ({sidebar_measure}) does not fit a network of "
                 f"{nw.KIND_WORDS[kind]}; {measure} is used (change it above).")
for note in notes:
    st.caption(f":material/info: {note}")

st.subheader("What if…")
c1, c2 = st.columns(2)
drop_studies = tuple(c1.multiselect("Leave studies out", studies, key="nm_drop_studies"))
drop_treatments = tuple(c2.multiselect("Leave treatments out", treatments,
                                       key="nm_drop_treatments"))
if reference in drop_treatments:
    st.caption(":material/info: The reference treatment is left out; the most studied "
               "remaining treatment is the reference.")
    reference = None
args = (table, measure, reference, model, tau2, ci, float(s[state.LEVEL]), drop_studies,
        drop_treatments)
nm, error = nw.fit(*args)
if error:
    st.error(md(error), icon=":material/error:")
    st.stop()

st.caption(f"Settings: {nm.settings}. Measure: {mc.MEASURE_LABELS.get(nm.measure, 'effect')}"
           f"{' (analysed as log ratios)' if nm.ratio else ''}; reference: "
           f"{md(nm.reference)}.")
g = nm.geometry
cols = st.columns(5)
cols[0].metric("Treatments", len(nm.treatments))
cols[1].metric("Studies", nm.n_studies)
cols[2].metric("Multi-arm studies", len(g.multi_arm))
cols[3].metric("τ²", format_effect(nm.tau2, 4) if nm.model == "random" else "0 (common)")
cols[4].metric(f"Q ({nm.q_df} df)", f"{nm.q:.2f}", f"I² = {nm.i2:.1f}%", delta_color="off")
for note in nm.notes:
    st.caption(f":material/info: {md(note)}")

graph = nw.graph_spec(args)
with st.container(key="box_nm_graph"):   # keyed, so browser tests find it
    st.vega_lite_chart(graph, key="nm_graph", width="content", theme=None)
widgets.chart_downloads(graph, "network_graph", "dl_nm_graph", label="Network graph",
                        dpi=300)
with st.expander("Direct comparisons and designs", icon=":material/hub:"):
    st.dataframe(g.edges, hide_index=True, width="stretch")
    st.dataframe(g.designs, hide_index=True, width="stretch")

st.header(f"Every treatment vs {md(nm.reference)}")
forest = nw.forest_spec(args, bool(s[state.SHOW_PI]))
with st.container(key="box_nm_forest"):   # keyed, so browser tests find it
    st.vega_lite_chart(forest, key="nm_forest", width="content", theme=None)
widgets.chart_downloads(forest, "network_forest", "dl_nm_forest", label="Forest plot", dpi=300)
shown = nm.natural()["estimates"] if nm.ratio else nm.estimates
st.dataframe(widgets.rounded(shown), hide_index=True, width="stretch")

st.header("League table")
st.caption("Each cell: the row treatment vs the column treatment, with its "
           f"{nm.level:.0%} CI. Below the diagonal the network estimate (direct and indirect "
           "evidence together); above it the direct evidence alone, where trials compared "
           "the pair.")
league = nw.league_spec(args)
with st.container(key="box_nm_league"):   # keyed, so browser tests find it
    st.vega_lite_chart(league, key="nm_league", width="content", theme=None)
c1, c2 = st.columns([1, 2])
c1.download_button("League table (CSV)", widgets.deferred_csv(nw.league_csv_frame(args)),
                   "league_table.csv", "text/csv", key="dl_nm_league_csv", on_click="ignore",
                   width="stretch")
with c2:
    widgets.chart_downloads(league, "league_table", "dl_nm_league", label="League table",
                            dpi=300)

st.header("Ranking")
st.warning("Rankings are easy to over-read. A treatment ranked first may be only slightly "
           "better than the next, or better by chance: look at the estimates and their "
           "intervals in the league table before the ranks. P-scores and SUCRA summarise "
           "uncertainty, they do not remove it, and they say nothing about side effects, "
           "cost or the certainty of the evidence.", icon=":material/warning:")
rank_table = nw.ranking(args, small)
rank_spec, gram_spec = nw.ranking_specs(args, small)
with st.container(key="box_nm_ranking"):   # keyed, so browser tests find it
    st.vega_lite_chart(rank_spec, key="nm_ranking", width="content", theme=None)
widgets.chart_downloads(rank_spec, "ranking", "dl_nm_ranking", label="Ranking", dpi=300)
with st.container(key="box_nm_rankogram"):
    st.vega_lite_chart(gram_spec, key="nm_rankogram", width="content", theme=None)
widgets.chart_downloads(gram_spec, "rankogram", "dl_nm_rankogram", label="Rankogram",
                        dpi=300)
st.dataframe(widgets.rounded(rank_table[["treatment", "pscore", "sucra"]]), hide_index=True,
             width="stretch")
st.caption("P-scores (Rücker & Schwarzer 2015) are exact from the network estimates; SUCRA "
           f"and the rank probabilities come from {nw.RANK_DRAWS:,} draws (seed 2015), so "
           "SUCRA differs from the P-score by simulation error only (at most about 0.004).")

st.header("Inconsistency")
decomp, decomp_text, split = nw.inconsistency(args)
between = decomp.set_index("source").loc["between designs"]
verdict = ("the designs disagree more than chance would explain: direct and indirect evidence "
           "are in conflict somewhere, so read the network estimates with care"
           if between.pvalue < 0.05 else
           "there is no clear sign that the designs disagree (a test with little power in "
           "small networks, so absence of evidence is not evidence of consistency)")
st.markdown(f"Does the evidence agree with itself? Q of the whole network splits into "
            f"heterogeneity within designs and inconsistency between designs: {verdict}.")
st.dataframe(widgets.rounded(decomp), hide_index=True, width="stretch")
st.caption(md(decomp_text))
st.markdown("Direct vs indirect evidence for each pair compared in trials (back-calculation, "
            "as netmeta's `netsplit`). A small p in the last column flags a comparison whose "
            "direct and indirect estimates disagree.")
split_view = split.copy()
if nm.ratio:
    for c in ("direct", "indirect", "network"):
        split_view[c] = nm.transform(split_view[c].to_numpy())
    st.caption("Direct, indirect and network estimates are shown as ratios; their SEs and "
               "the difference are on the log scale.")
st.dataframe(widgets.rounded(split_view), hide_index=True, width="stretch")
flagged = split.dropna(subset=["pvalue"])
flagged = flagged[flagged["pvalue"] < 0.05]
if len(flagged):
    st.warning("Direct and indirect evidence disagree (p < 0.05) for: "
               + ", ".join(f"{md(r.t1)} vs {md(r.t2)} (p = {format_p(r.pvalue)})"
                           for r in flagged.itertuples()) + ".", icon=":material/warning:")

with st.expander("Contribution matrix: how much each design's direct evidence feeds each "
                 "estimate (CINeMA)", icon=":material/grid_on:"):
    st.caption("Rows: every pair's network estimate; columns: the direct evidence of each "
               "design (a three-arm design contributes one column per contrast). Each row "
               "adds up to 100%. The design-level hat matrix of Krahn, Binder & König (2013), "
               "not netmeta's default flow decomposition.")
    st.dataframe(nw.contributions(args), hide_index=True, width="stretch")

st.header("One comparison, leaving one out")
c1, c2, c3 = st.columns(3)
others = [t for t in nm.treatments if t != nm.reference]
if s.get("nm_loo_t1") not in nm.treatments:
    s["nm_loo_t1"] = others[0]
if s.get("nm_loo_t2") not in nm.treatments:
    s["nm_loo_t2"] = nm.reference
t1 = c1.selectbox("Treatment", list(nm.treatments), key="nm_loo_t1")
partners = [t for t in nm.treatments if t != t1]
if s.get("nm_loo_t2") not in partners:
    s["nm_loo_t2"] = partners[0]
t2 = c2.selectbox("vs", partners, key="nm_loo_t2")
by = c3.radio("Leave out each", ["study", "design"], key="nm_loo_by", horizontal=True)
full = nm.natural()["league"] if nm.ratio else nm.league
hit = full[(full.t1 == t1) & (full.t2 == t2)].iloc[0]
st.caption(md(f"With every study: {t1} vs {t2} = {format_effect(hit.estimate, 3)} "
              f"[{format_effect(hit.ci_low, 3)}, {format_effect(hit.ci_high, 3)}]. Each "
              f"row below refits the network without one {by}."))
st.dataframe(widgets.rounded(nw.leave_one_out(args, t1, t2, by)), hide_index=True,
             width="stretch")

st.header("Comparison-adjusted funnel plot")
st.caption("Each study's comparison minus the network estimate of that comparison. Without "
           "small-study effects the points scatter symmetrically around 0. Comparisons are "
           "oriented as the later treatment in the list minus the earlier one.")
funnel = nw.funnel_spec(args)
with st.container(key="box_nm_funnel"):   # keyed, so browser tests find it
    st.vega_lite_chart(funnel, key="nm_funnel", width="content", theme=None)
widgets.chart_downloads(funnel, "comparison_adjusted_funnel", "dl_nm_funnel",
                        label="Funnel plot", dpi=300)

st.header("Reproduce in R")
st.caption("The metafor code that fits this network with `rma.mv` (the what-if choices "
           "included).")
script = mc.network_script(nm)
with st.expander("Show the R script", icon=":material/code:"):
    st.code(script, language="r")
st.download_button("R script (metafor)", script, "network.R", "text/plain",
                   key="dl_nm_script", on_click="ignore")
if nm.excluded:
    with st.expander(f":material/warning: {len(nm.excluded)} row(s) or stud(ies) not in the "
                     "network"):
        st.dataframe(pd.DataFrame([{"study": e.study, "reason": e.reason}
                                   for e in nm.excluded]), hide_index=True, width="stretch")
