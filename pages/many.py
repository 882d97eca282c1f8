"""Classical versus causal across many meta-analyses at once (seed 003, Figure 4)."""

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.batch.causal import causal_many
from metacore.data.io import read_table
from metacore.models.causal import CAUSAL_MEASURES
from metacore.report.charts import many_scatter
from ui import state, widgets
from ui.cache import TableRef
from ui.page import setup
from ui.text import md

setup(ignored={
    "dataset": "it analyses the long table uploaded here",
    "measure": "it has its own measure selector below",
    "model": "the classical fit is always random effects",
    "show_pi": "it shows no prediction intervals",
    "cc": "it adds 0.5 to tables with a zero cell, as metafor does"})
s = st.session_state
st.title("Many meta-analyses at once")
st.markdown("Upload a long table — **one row per study**, with a column naming the "
            "meta-analysis it belongs to and the 2×2 counts — and compare classical random "
            "effects with the causal estimate for every meta-analysis, as in Figure 4 of "
            "Berenfeld et al.")


def example_table(m: int = 300, seed: int = 11) -> pd.DataFrame:
    """Synthetic collection: heterogeneous baseline risks, some with seed 003's pattern."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(m):
        k = int(rng.integers(2, 15))
        base = rng.uniform(0.1, 0.3) * np.exp(rng.normal(0, 0.3, k))
        log_rr = rng.normal(rng.normal(-0.15, 0.25), 0.12, k)
        if i % 25 == 0:   # a low-risk trial with a huge ratio, as in seed 003's Appendix A
            base[0], log_rr[0] = 0.01, np.log(15.0)
        for j in range(k):
            n1, n0 = (int(x) for x in rng.integers(40, 600, 2))
            p1 = float(np.clip(base[j] * np.exp(log_rr[j]), 0.001, 0.98))
            rows.append({"meta_id": f"MA-{i + 1:03d}", "study": f"Trial {j + 1}",
                         "events_t": rng.binomial(n1, p1), "n_t": n1,
                         "events_c": rng.binomial(n0, base[j]), "n_c": n0})
    return pd.DataFrame(rows)


#: Long tables here hold many meta-analyses: far more rows than the study editor takes.
MAX_LONG_ROWS = 2_000_000
CHUNK_IDS = 10_000


def run(ref: TableRef, id_column: str, measure: str, tau2: str, ci: str,
        level: float) -> tuple[pd.DataFrame | None, str | None]:
    """All meta-analyses, in chunks of identifiers with a progress bar; kept in the session
    (a progress bar cannot be drawn from a cached function)."""
    key = (ref.digest, id_column, measure, tau2, ci, level)
    if s.get("_many_key") == key:
        return s["_many_result"]
    table = ref.frame
    ids = table[id_column].astype(str).str.strip()
    unique = pd.unique(ids)
    bar = st.progress(0.0, text="Analysing…") if len(unique) > CHUNK_IDS else None
    parts = []
    try:
        for start in range(0, len(unique), CHUNK_IDS):
            chunk = set(unique[start:start + CHUNK_IDS])
            sub = table[ids.isin(chunk).to_numpy()]
            parts.append(causal_many(sub, measure, id_column=id_column, tau2_method=tau2,
                                     ci_method=ci, level=level))
            if bar is not None:
                done = min(start + CHUNK_IDS, len(unique))
                bar.progress(done / len(unique), text=f"Analysed {done:,} of "
                                                      f"{len(unique):,} meta-analyses…")
        result = (pd.concat(parts, ignore_index=True), None)
    except mc.MetacoreError as err:
        result = (None, str(err))
    if bar is not None:
        bar.empty()
    s["_many_key"], s["_many_result"] = key, result
    return result


def use_example() -> None:
    s["many_table"], s["many_source"] = example_table(), "simulated collection"
    # A fresh uploader: the old one would keep showing the previous file's name.
    s["many_upload_version"] = s.get("many_upload_version", 0) + 1


c1, c2 = st.columns([3, 2])
up = c1.file_uploader("Long table (CSV, TSV or Excel)",
                      key=f"many_upload_{s.get('many_upload_version', 0)}",
                      type=["csv", "tsv", "txt", "xlsx"])
c2.button("Use a simulated collection of 300 meta-analyses", key="many_example",
          on_click=use_example)
if up is not None and s.get("many_file") != up.file_id:
    try:
        s["many_table"], s["many_source"] = read_table(up.getvalue(), up.name,
                                                       max_rows=MAX_LONG_ROWS), up.name
        s["many_file"] = up.file_id
    except mc.MetacoreError as err:
        st.error(md(f"{up.name}: {err}"), icon=":material/error:")

table = s.get("many_table")
if table is None:
    st.info("Upload a table or use the simulated collection to start.")
    st.stop()
st.caption(f"Table: **{md(s['many_source'])}**, {len(table):,} rows.")
cols = list(table.columns)
guess = next((c for c in cols if any(w in str(c).lower() for w in
                                     ("meta", "review", "analysis", "ma_id", "group"))),
             cols[0])
c1, c2 = st.columns(2)
id_column = c1.selectbox("Meta-analysis identifier column", cols, index=cols.index(guess),
                         key="many_id")
measure = c2.selectbox("Effect measure", list(CAUSAL_MEASURES), index=1, key="many_measure")
out, error = run(state.ref_of("many_table"), id_column, measure, s["tau2_method"],
                 s["ci_method"], float(s["level"]))
if error:
    st.error(md(error), icon=":material/error:")
    st.stop()

ok = out[out["problem"] == ""]
n_disc = int(ok["discordant"].sum())
m = st.columns(4)
m[0].metric("Meta-analyses", f"{len(out):,}")
m[1].metric("Analysed", f"{len(ok):,}")
m[2].metric("Discordant", f"{n_disc:,} ({100 * n_disc / max(len(ok), 1):.1f}%)")
m[3].metric("Could not be analysed", f"{len(out) - len(ok):,}")
st.vega_lite_chart(many_scatter(out, measure).to_dict(validate=False), key="many_chart",
                   width="content", theme=None)
st.caption(f"Classical: random effects, τ² by {s['tau2_method']}; causal: target population "
           "of all trials pooled. Discordant: opposite directions, different statistical "
           "significance, or one estimate outside the other's interval.")
if n_disc:
    st.subheader("Discordant meta-analyses")
    st.dataframe(ok[ok["discordant"]][["meta_id", "k", "classical", "classical_low",
                                       "classical_high", "causal", "causal_low", "causal_high",
                                       "why"]].round(4), hide_index=True, width="stretch",
                 column_config={"why": st.column_config.TextColumn("why", width="large")})
problems = out[out["problem"] != ""]
if len(problems):
    with st.expander(f"{len(problems)} meta-analysis(es) could not be analysed"):
        st.dataframe(problems[["meta_id", "k", "problem"]], hide_index=True, width="stretch")
st.download_button("All results (CSV)", widgets.deferred_csv(out), "classical_vs_causal.csv",
                   "text/csv", key="dl_many", on_click="ignore")
