"""Saved analyses: open, see versions, delete; the analysis as a project file."""

import streamlit as st

import metacore as mc
from metacore.store.project import from_json, to_json
from ui import persist
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Saved analyses")
db = persist.store()
if db is None:
    st.error(md("The database cannot be opened: " + s.get("_store_error", "")),
             icon=":material/error:")
    st.stop()
st.caption(f"Stored in {md(db.url.split('://', 1)[0])} · set `METACORE_DB` to another "
           "SQLAlchemy URL (e.g. PostgreSQL) to move them. Anyone with a link can open that "
           "analysis; the list below shows every analysis saved on this server.")


def _open(analysis_id: str, version: int | None = None) -> None:
    try:
        project, got = db.load(analysis_id, version)
    except mc.MetacoreError as err:
        s["_open_message"] = ("warning", str(err))
        return
    persist.offer(project, f"the saved analysis “{project.name}” (version {got})",
                  keep_settings=False, analysis_id=analysis_id, version=got)


def _delete(analysis_id: str) -> None:
    try:
        db.delete(analysis_id)
    except mc.MetacoreError as err:
        s["_open_message"] = ("warning", str(err))
        return
    if s.get(persist.ANALYSIS_ID) == analysis_id:
        s[persist.ANALYSIS_ID] = s[persist.VERSION] = None
        st.query_params.pop("analysis", None)
    s.pop("confirm_delete", None)


saved = db.list()
if not saved:
    st.info("Nothing is saved yet: press **Save** in the sidebar to keep the current analysis "
            "and get its link.", icon=":material/info:")
else:
    rows = [{"name": a.name, "data": a.source, "measure": a.measure, "k": a.k,
             "versions": a.version, "last saved": a.saved.strftime("%Y-%m-%d %H:%M UTC")}
            for a in saved]
    st.dataframe(rows, hide_index=True, width="stretch")
    ids = [a.id for a in saved]
    names = {a.id: f"{a.name} — {a.source} (v{a.version})" for a in saved}
    pick = st.selectbox("Analysis", ids, key="saved_pick", format_func=names.get)
    c1, c2, c3 = st.columns(3)
    c1.button("Open", key="saved_open", on_click=_open, args=(pick,), type="primary",
              width="stretch", icon=":material/folder_open:")
    if s.get("confirm_delete") == pick:
        c2.button("Really delete (all versions)", key="saved_delete_yes", on_click=_delete,
                  args=(pick,), width="stretch", icon=":material/delete_forever:")
        c3.button("Cancel", key="saved_delete_no", on_click=s.pop, args=("confirm_delete",),
                  width="stretch")
    else:
        c2.button("Delete…", key="saved_delete", on_click=s.__setitem__,
                  args=("confirm_delete", pick), width="stretch", icon=":material/delete:")
    st.subheader("Versions")
    versions = db.versions(pick)
    st.dataframe([{"version": v.version, "name": v.name, "measure": v.measure, "k": v.k,
                   "saved": v.saved.strftime("%Y-%m-%d %H:%M:%S UTC")} for v in versions],
                 hide_index=True, width="stretch")
    which = st.selectbox("Version", [v.version for v in versions], key="saved_version",
                         format_func=lambda v: f"version {v}")
    st.button("Open this version", key="saved_open_version", on_click=_open,
              args=(pick, which), icon=":material/history:")

st.subheader("Project file")
st.caption("The analysis as one JSON file — the table as edited, the column mapping, every "
           "setting and the metacore version; the same record the database keeps.")
st.download_button("Download the project file (JSON)", data=lambda: to_json(
    persist.snapshot()).encode("utf-8"), file_name="metacore_project.json",
                   mime="application/json", key="dl_project", on_click="ignore",
                   icon=":material/download:")


def _import() -> None:
    up = s.get("project_upload")
    if up is None:
        return
    try:
        project = from_json(up.getvalue())
    except mc.MetacoreError as err:
        s["_import_error"] = f"{up.name}: {err} Nothing was changed."
        return
    s.pop("_import_error", None)
    persist.offer(project, f"the project file {up.name}", keep_settings=False)


st.file_uploader("Open a project file", type=["json"], key="project_upload")
st.button("Open the project file", key="project_open", on_click=_import,
          disabled=s.get("project_upload") is None)
if s.get("_import_error"):
    st.error(md(s["_import_error"]), icon=":material/error:")
