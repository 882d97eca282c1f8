"""Bring a study table in (example, upload, paste), map its columns, edit it."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.io import excel_sheets, read_pasted, read_table
from metacore.data.table import map_columns
from metacore.report.describe import describe
from metacore.store.project import Project
from ui import analysis as an
from ui import persist, state, widgets
from ui.mapping import column_mapping
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Study data")
st.caption(f"Current table: **{md(s[state.SOURCE])}** — {len(state.table())} rows.")

tab_upload, tab_paste, tab_example = st.tabs(["Upload a file", "Paste a table",
                                              "Bundled examples"])
with tab_upload:
    up = st.file_uploader("CSV, TSV or Excel, one row per study", key="upload",
                          type=["csv", "tsv", "txt", "tab", "xlsx", "xls"])
    if up is not None and s.get("upload_seen") != up.file_id:
        # Each file is read once (Excel in a child process), not on every rerun; a failure
        # is remembered with the file so its message stays without re-reading.
        s["upload_seen"], s["upload_error"], s["upload_sheets"] = up.file_id, None, [None]
        try:
            if up.name.lower().endswith((".xlsx", ".xls", ".xlsm")):
                s["upload_sheets"] = excel_sheets(up.getvalue())
        except mc.MetacoreError as err:
            s["upload_sheets"], s["upload_error"] = [], f"{up.name}: {err}"
    if up is not None and s["upload_sheets"]:
        sheets = s["upload_sheets"]
        sheet = st.selectbox("Sheet", sheets, key="upload_sheet") if len(sheets) > 1 \
            else sheets[0]
        if s.get("loaded_upload") != (up.file_id, sheet):
            s["loaded_upload"], s["upload_error"] = (up.file_id, sheet), None
            try:
                name = up.name + (f" — {sheet}" if sheet else "")
                persist.offer(Project(read_table(up.getvalue(), up.name, sheet), name=name,
                                      source=name), f"the uploaded file {name}")
                st.rerun()
            except mc.MetacoreError as err:
                s["upload_error"] = f"{up.name}: {err}"
    if up is not None and s.get("upload_error"):
        st.error(md(s["upload_error"]), icon=":material/error:")
    for note in s.get("reading_notes", []):
        st.caption(f":material/info: {md(note)}")
with tab_paste:
    st.text_area("Paste rows copied from a spreadsheet or a paper (first line: column names)",
                 key="paste", height=150,
                 placeholder="study\tevents_t\tn_t\tevents_c\tn_c\nSmith 2001\t12\t100\t20\t98")
    if st.button("Use the pasted table", key="use_paste"):
        try:
            persist.offer(Project(read_pasted(s.get("paste", "")), name="pasted table",
                                  source="pasted table"), "the pasted table")
            st.rerun()
        except mc.MetacoreError as err:
            st.error(md(f"The pasted text was not used: {err} The current table is still "
                        f"{s[state.SOURCE]}."), icon=":material/error:")
with tab_example:
    for info in mc.datasets.CATALOG.values():
        st.markdown(f"**{info.title}** — {info.description} *Source: {info.source}.*")
    st.caption("Choose one with **Example dataset** in the sidebar.")

table = state.table()
column_mapping(table)

st.subheader("Edit the studies")
st.caption("Untick **include** to leave a study out; add or delete rows at the bottom. "
           "Every page follows your edits.")
key = f"editor_{s[state.EDITOR_VERSION]}"
if key not in s:  # mounted afresh: start from the latest edited table
    s[state.EDITOR_BASE] = state.table()
include_col = next((c for c, v in map_columns(list(table.columns)).items() if v == "include"),
                   "include")
edited = st.data_editor(
    s[state.EDITOR_BASE], key=key, num_rows="dynamic", width="stretch", hide_index=True,
    column_config={include_col: st.column_config.CheckboxColumn(include_col, default=True)})
s[state.TABLE] = edited
persist.checkpoint()     # an edit is a step of undo and goes into the draft at once

result = an.current()
if not widgets.error_box(result, on_data_page=True):
    st.success(describe(result.result, show_pi=s[state.SHOW_PI]), icon=":material/check_circle:")
    st.caption(widgets.settings_line(result.result))
    widgets.show_problems(result, expanded=True)
st.download_button("Download the edited table (CSV)",
                   widgets.deferred_csv(pd.DataFrame(edited)),
                   "metacore_studies.csv", "text/csv", key="dl_edited", on_click="ignore")
