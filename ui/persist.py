"""Analyses that outlive the tab: save and open by link, autosaved drafts, undo/redo.

The current analysis is a :class:`metacore.store.project.Project` built from the session (the
table as edited, the mapping, every setting). Saving stores it in the database
(:mod:`metacore.store.database`) and puts its id in the ``analysis`` query parameter, so the
address bar is the share link. Every change is also written to a draft keyed to the
browser (a random cookie the page sets once), so a reload brings the work back.
Undo/redo walk a history of the same snapshots kept in the session.
"""

from __future__ import annotations

import secrets

import streamlit as st

import metacore as mc
from metacore.store.database import NotFound, Store, StoreError, is_valid_id, open_store
from metacore.store.project import SETTINGS, Project, clean_name
from ui import state

ANALYSIS_ID, VERSION, NAME = "analysis_id", "analysis_version", "analysis_name"
COOKIE = "metacore_browser"
HISTORY, POSITION = "_history", "_history_pos"
#: Steps of undo kept in a session.
MAX_HISTORY = 50
PENDING_LOAD = "pending_load"


def store() -> Store | None:
    """The database, or None (with the reason kept) when it cannot be opened."""
    try:
        return open_store()
    except StoreError as err:
        st.session_state["_store_error"] = str(err)
        return None


# --- the current analysis as a project -------------------------------------------------

def settings() -> dict:
    """Every saved setting present in the session, with a valid value."""
    s = st.session_state
    out = {}
    for key, check in SETTINGS.items():
        if key in s and s[key] is not None:
            value = list(s[key]) if key == "leave_out" else s[key]
            try:
                out[key] = check(value)
            except ValueError:
                continue
    return out


def snapshot() -> Project:
    """The current analysis as a project."""
    s = st.session_state
    example = s.get("_dataset_shown")
    example = example if example in mc.datasets.CATALOG and not state.has_edits() else None
    name = s.get(NAME) or s.get(state.SOURCE, "")
    return Project(table=state.table(), settings=settings(), mapping=dict(state.mapping()),
                   name=clean_name(name), source=str(s.get(state.SOURCE, ""))[:300],
                   example=example)


def apply(project: Project, analysis_id: str | None = None, version: int | None = None,
          keep_settings: bool = False) -> None:
    """Make ``project`` the current analysis (call before widgets are drawn or in a callback)."""
    s = st.session_state
    state.set_table(project.table, project.source or project.name, example=project.example)
    s[state.MAPPING] = dict(project.mapping)
    if not keep_settings:
        for key, value in project.settings.items():
            s[key] = list(value) if key == "leave_out" else value
    s[ANALYSIS_ID], s[VERSION] = analysis_id, version
    # the name box may already be drawn in this run: it takes the name on the next one
    s["_name_next"] = project.name if analysis_id else ""
    if analysis_id:
        st.query_params["analysis"] = analysis_id


# --- saving and opening ------------------------------------------------------------------

def save() -> None:
    """Callback of ``save_analysis``: store a new version and show its link."""
    s = st.session_state
    db = store()
    if db is None:
        s["_save_message"] = ("error", "The analysis could not be saved: "
                              + s.get("_store_error", "no database"))
        return
    project = snapshot()
    try:
        aid, version = db.save(project, s.get(ANALYSIS_ID))
    except NotFound:        # deleted meanwhile: save it as a new analysis
        aid, version = db.save(project)
    except StoreError as err:
        s["_save_message"] = ("error", str(err))
        return
    s[ANALYSIS_ID], s[VERSION] = aid, version
    s["_loaded_digest"] = state.table_ref().digest     # nothing unsaved now
    st.query_params["analysis"] = aid
    s["_save_message"] = ("success", f"Saved as version {version} of “{project.name}”.")


def open_saved(analysis_id: str, version: int | None = None) -> str | None:
    """Open a saved analysis; returns a message for the user when it cannot be."""
    db = store()
    if db is None:
        return "Saved analyses are unavailable: " + st.session_state.get("_store_error", "")
    if not is_valid_id(analysis_id):
        return "The link does not hold a valid analysis id, so the default analysis is shown."
    try:
        project, got = db.load(analysis_id, version)
    except NotFound:
        return "No saved analysis has this id (it may have been deleted); the default " \
               "analysis is shown."
    except StoreError as err:
        return f"The saved analysis could not be opened: {err}"
    apply(project, analysis_id, got)
    return None


def start() -> None:
    """Once per session: open ``?analysis=`` or bring back the browser's draft."""
    s = st.session_state
    if s.get("_persist_started"):
        return
    s["_persist_started"] = True
    wanted = st.query_params.get("analysis")
    secret = browser_secret()
    db = store()
    draft = db.load_draft(secret) if db is not None and secret else None
    if draft is not None and (wanted is None or draft[1] == wanted):
        project, aid = draft
        apply(project, aid if is_valid_id(aid) else None)
        s["_loaded_digest"] = None      # a draft may hold edits that were never saved
        s["_open_message"] = ("info", "Your work from before the reload is back (kept as a "
                              "draft in this browser).")
        s["_draft_restored"] = True
        return
    if wanted is not None:
        message = open_saved(str(wanted)[:100])
        if message:
            st.query_params.pop("analysis", None)
            s["_open_message"] = ("warning", message)


def discard_draft() -> None:
    """Callback: forget the restored draft and go back to the default analysis."""
    s = st.session_state
    db = store()
    if db is not None and browser_secret():
        db.discard_draft(browser_secret())
    s.pop("_draft_restored", None)
    s.pop("_open_message", None)
    aid = s.get(ANALYSIS_ID)
    if aid and open_saved(aid) is None:
        return
    s[ANALYSIS_ID] = s[VERSION] = None
    st.query_params.pop("analysis", None)
    state.load_dataset(state.DEFAULT_DATASET)


def browser_secret() -> str | None:
    """The random key of this browser's draft (a cookie set once by the page)."""
    s = st.session_state
    if s.get("_browser_key"):
        return s["_browser_key"]
    try:
        key = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser (AppTest, bare mode): no drafts
        key = None
    if key and 20 <= len(key) <= 64 and key.replace("-", "").replace("_", "").isalnum():
        s["_browser_key"] = key
        return key
    return None


def set_cookie_once() -> None:
    """Give this browser its random draft key (a first-party cookie for the session)."""
    s = st.session_state
    if browser_secret() or s.get("_cookie_sent"):
        return
    key = secrets.token_urlsafe(24)
    s["_cookie_sent"] = True
    s["_browser_key"] = key
    try:
        st.context.cookies  # noqa: B018 - only in a served app
    except Exception:  # noqa: BLE001
        return
    st.html(f"<script>document.cookie = '{COOKIE}={key}; path=/; SameSite=Strict';</script>",
            unsafe_allow_javascript=True)


# --- autosave and history ---------------------------------------------------------------

def _signature() -> tuple:
    s = st.session_state
    return (state.table_ref().digest, state.mapping_key(),
            tuple(sorted((k, str(v)) for k, v in settings().items())), s.get(state.SOURCE))


def checkpoint() -> None:
    """Record the current state: a step of history if it changed, and the draft."""
    s = st.session_state
    if s.get(ANALYSIS_ID) is None and "analysis" in st.query_params:
        st.query_params.pop("analysis", None)      # the link no longer names this analysis
    sig = _signature()
    history = s.setdefault(HISTORY, [])
    pos = s.get(POSITION, -1)
    if not history or history[pos][0] != sig:
        del history[pos + 1:]
        history.append((sig, state.table(), dict(state.mapping()), settings(),
                        s.get(state.SOURCE, ""), s.get("_dataset_shown")))
        if len(history) > MAX_HISTORY:
            del history[0]
        s[POSITION] = len(history) - 1
    if "_draft_sig" not in s:
        # the state the session opened with (default data, a link or a restored draft)
        # needs no draft: a reload gives it back anyway
        s["_draft_sig"] = sig
    if s.get("_draft_sig") != sig:
        s["_draft_sig"] = sig
        secret = browser_secret()
        db = store()
        if secret and db is not None:
            try:
                project = snapshot()
                memo = s.get("_draft_body")
                if memo is None or memo[0] != sig[0]:     # the table changed: serialise it
                    memo = (sig[0], db.table_body(project))
                    s["_draft_body"] = memo
                db.save_draft(secret, project, s.get(ANALYSIS_ID), memo[1])
            except (StoreError, mc.MetacoreError):
                pass    # a draft is a convenience: never in the way of the analysis


def can_undo() -> bool:
    return st.session_state.get(POSITION, 0) > 0


def can_redo() -> bool:
    s = st.session_state
    return s.get(POSITION, 0) < len(s.get(HISTORY, [])) - 1


def _go(step: int) -> None:
    s = st.session_state
    pos = s.get(POSITION, 0) + step
    history = s.get(HISTORY, [])
    if not 0 <= pos < len(history):
        return
    sig, table, mapping, values, source, example = history[pos]
    if table is not state.table():
        s[state.TABLE] = table
        s[state.EDITOR_VERSION] = s.get(state.EDITOR_VERSION, 0) + 1
        s[state.SOURCE] = source
    s[state.MAPPING] = dict(mapping)
    for key in SETTINGS:
        if key in values:
            s[key] = list(values[key]) if key == "leave_out" else values[key]
    s[POSITION] = pos


def undo() -> None:
    """Callback: one step back (table edits and control changes)."""
    _go(-1)


def redo() -> None:
    """Callback: one step forward again."""
    _go(1)


# --- replacing the table asks first when there are unsaved edits ------------------------------

def offer(project: Project, label: str, *, keep_settings: bool = True,
          analysis_id: str | None = None, version: int | None = None) -> bool:
    """Load ``project`` now, or, when the table has unsaved edits, ask first.

    Returns True when it was loaded.
    """
    s = st.session_state
    if state.has_edits():
        s[PENDING_LOAD] = {"project": project, "label": label, "keep": keep_settings,
                           "id": analysis_id, "version": version}
        return False
    apply(project, analysis_id, version, keep_settings=keep_settings)
    return True


def resolve_load(replace: bool) -> None:
    """Callback of the "replace your edited table?" question."""
    s = st.session_state
    pending = s.pop(PENDING_LOAD, None)
    if replace and pending:
        apply(pending["project"], pending["id"], pending["version"],
              keep_settings=pending["keep"])
