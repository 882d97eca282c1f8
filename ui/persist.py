"""Analyses that outlive the tab: save and open by link, autosaved drafts, undo/redo.

The current analysis is a :class:`metacore.store.project.Project` built from the session (the
table as edited, the mapping, every setting). Saving stores it in the database
(:mod:`metacore.store.database`) and puts its id in the ``analysis`` query parameter, so the
address bar is the share link; a read-only link's token stays in ``link`` instead (it does
not reveal the id). Both stay in the address on every page (:func:`checkpoint`), so a
reload or Back opens the same analysis. Every change is also written to a draft keyed to
the browser (a random cookie the page sets once) and to the user, so a reload brings the
work back. Undo/redo walk a history of the same snapshots kept in the session.

With accounts (:mod:`ui.accounts`) every call to the store passes the logged-in user, read
afresh on each run; the store refuses what that user may not do.
"""

from __future__ import annotations

import secrets

import streamlit as st

import metacore as mc
from metacore.store import Forbidden, User
from metacore.store.database import NotFound, Store, StoreError, is_valid_id, open_store
from metacore.store.project import SETTINGS, Project, clean_name
from ui import accounts, state

ANALYSIS_ID, VERSION, NAME = "analysis_id", "analysis_version", "analysis_name"
#: The read-only link token of the analysis on screen (a link session has no id) and what
#: the user may do with the saved analysis on screen ("owner", "editor", "viewer").
LINK, ROLE = "analysis_link", "analysis_role"
COOKIE = "metacore_browser"
HISTORY, POSITION = "_history", "_history_pos"
#: Steps of undo kept in a session.
MAX_HISTORY = 50
PENDING_LOAD = "pending_load"
NOT_OPEN = ("No saved analysis has this id (it may have been deleted); the default "
            "analysis is shown.")


def store() -> Store | None:
    """The database, or None (with the reason kept) when it cannot be opened."""
    try:
        return open_store(accounts=accounts.enabled())
    except StoreError as err:
        st.session_state["_store_error"] = str(err)
        return None


def me() -> User | None:
    """The acting user: the one logged in; None in single-user mode (the store then acts
    as the local owner) and for a visitor who is not logged in."""
    return accounts.user()


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
          keep_settings: bool = False, *, link: str | None = None,
          role: str | None = None) -> None:
    """Make ``project`` the current analysis (call before widgets are drawn or in a callback).

    ``analysis_id`` names the saved analysis it is, ``link`` the read-only link it came
    through (then there is no id: the link does not reveal it), ``role`` what the user
    may do with it.
    """
    s = st.session_state
    state.set_table(project.table, project.source or project.name, example=project.example)
    s[state.MAPPING] = dict(project.mapping)
    if not keep_settings:
        for key, value in project.settings.items():
            s[key] = list(value) if key == "leave_out" else value
    s[ANALYSIS_ID], s[VERSION] = analysis_id, version
    s[ROLE] = role if (analysis_id or link) else None
    s[LINK] = link
    # a link session lasts until another table is loaded (state.set_table sets a new
    # _loaded_digest; edits and what-if changes do not)
    s["_link_loaded"] = s.get("_loaded_digest") if link else None
    # the name box may already be drawn in this run: it takes the name on the next one;
    # a saved analysis, a link and a project file (which brings its settings) bring their
    # name, an upload or paste starts unnamed
    s["_name_next"] = project.name if (analysis_id or link or not keep_settings) else ""
    _address()


def _address() -> None:
    """Keep the open analysis (or link) in the address bar: a page switch drops the query
    string, and a reload or Back must find the analysis there.

    Set on every run, even when ``st.query_params`` already holds it: after a page switch
    the server may still hold the old query while the browser's address has lost it. The
    browser changes its address only when the query differs, so this costs no history.
    """
    s = st.session_state
    if s.get(LINK) and s.get("_loaded_digest") != s.get("_link_loaded"):
        s[LINK] = s[ROLE] = None            # another table was loaded: the link is left
    for param, value in (("analysis", s.get(ANALYSIS_ID)), ("link", s.get(LINK))):
        if value:
            st.query_params[param] = value
        elif param in st.query_params:
            del st.query_params[param]


# --- saving and opening ------------------------------------------------------------------

def save() -> None:
    """Callback of ``save_analysis``: store a new version and show its link.

    A viewer's or a link visitor's Save makes a copy of their own (the original never
    changes); a visitor who is not logged in is asked to log in.
    """
    s = st.session_state
    db = store()
    if db is None:
        s["_save_message"] = ("error", "The analysis could not be saved: "
                              + s.get("_store_error", "no database"))
        return
    user = me()
    if db.accounts and user is None:
        s["_save_message"] = ("error", "Log in to save: you are viewing a read-only link, "
                              "and saving makes a copy of your own. The original does not "
                              "change.")
        return
    project = snapshot()
    copied = False
    try:
        if s.get(LINK):
            aid, version = db.save_copy(project, user=user, token=s[LINK])
            copied = True
        else:
            try:
                aid, version = db.save(project, s.get(ANALYSIS_ID), user=user)
            except Forbidden:       # a viewer: a copy of their own, never over the original
                aid, version = db.save_copy(project, s.get(ANALYSIS_ID), user=user)
                copied = True
    except NotFound:
        # deleted meanwhile, no longer shared with this user, or a revoked link: what is
        # on screen becomes a new analysis of the user's own
        try:
            aid, version = db.save(project, user=user)
        except mc.MetacoreError as err:
            s["_save_message"] = ("error", str(err))
            return
        copied = bool(s.get(ANALYSIS_ID) or s.get(LINK))
    except mc.MetacoreError as err:
        s["_save_message"] = ("error", str(err))
        return
    s[ANALYSIS_ID], s[VERSION], s[ROLE], s[LINK] = aid, version, "owner", None
    s["_loaded_digest"] = state.table_ref().digest     # nothing unsaved now
    _address()
    if copied:
        s["_save_message"] = ("success", f"Saved as a copy of your own, “{project.name}” "
                              "(version 1); the original is unchanged.")
    else:
        s["_save_message"] = ("success", f"Saved as version {version} of “{project.name}”.")


def open_saved(analysis_id: str, version: int | None = None) -> str | None:
    """Open a saved analysis; returns a message for the user when it cannot be."""
    db = store()
    if db is None:
        return "Saved analyses are unavailable: " + st.session_state.get("_store_error", "")
    if not is_valid_id(analysis_id):
        return "The link does not hold a valid analysis id, so the default analysis is shown."
    user = me()
    try:
        project, got = db.load(analysis_id, version, user=user)
        role = db.role(analysis_id, user=user)
    except NotFound:        # unknown, or not this user's to see: one message for both
        return NOT_OPEN
    except mc.MetacoreError as err:
        return f"The saved analysis could not be opened: {err}"
    apply(project, analysis_id, got, role=role)
    return None


def open_link(token: str) -> str | None:
    """Open the analysis of a read-only link; returns a message when it cannot be."""
    db = store()
    if db is None:
        return "Saved analyses are unavailable: " + st.session_state.get("_store_error", "")
    try:
        project, got = db.load(token=token, user=me())
    except mc.MetacoreError as err:
        return f"{err} The default analysis is shown."
    apply(project, None, got, link=token, role="viewer")
    return None


def start() -> None:
    """Once per session: open ``?analysis=`` or ``?link=``, or bring back the draft."""
    s = st.session_state
    if s.get("_persist_started"):
        return
    s["_persist_started"] = True
    secret = browser_secret()
    wanted, link = st.query_params.get("analysis"), st.query_params.get("link")
    if wanted is None and link is None:
        # back from logging in: the address the browser had before
        back = accounts.take_return(secret) if accounts.enabled() else {}
        wanted, link = back.get("analysis"), back.get("link")
    db = store()
    user = me()
    draft = None
    if db is not None and secret and link is None and (user is not None or not db.accounts):
        draft = db.load_draft(secret, user=user)
    if draft is not None and (wanted is None or draft[1] == wanted):
        project, aid = draft
        role = None
        if is_valid_id(aid):
            try:
                role = db.role(aid, user=user)
            except mc.MetacoreError:
                aid = None
        apply(project, aid if is_valid_id(aid) else None, role=role)
        s["_loaded_digest"] = None      # a draft may hold edits that were never saved
        s["_open_message"] = ("info", "Your work from before the reload is back (kept as a "
                              "draft in this browser).")
        s["_draft_restored"] = True
        return
    if link is not None:
        message = open_link(str(link)[:100])
    elif wanted is not None:
        message = open_saved(str(wanted)[:100])
    else:
        return
    if message:
        st.query_params.pop("analysis", None)
        st.query_params.pop("link", None)
        s["_open_message"] = ("warning", message)


def discard_draft() -> None:
    """Callback: forget the restored draft and go back to the default analysis."""
    s = st.session_state
    db = store()
    if db is not None and browser_secret():
        db.discard_draft(browser_secret(), user=me())
    s.pop("_draft_restored", None)
    s.pop("_open_message", None)
    aid = s.get(ANALYSIS_ID)
    if aid and open_saved(aid) is None:
        return
    s[ANALYSIS_ID] = s[VERSION] = s[ROLE] = None
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
    _address()
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
        user = me()
        # no draft of a read-only link's analysis (it would outlive the link) nor for a
        # visitor who is not logged in (the store keeps nothing of theirs)
        if secret and db is not None and not s.get(LINK) and (user or not db.accounts):
            try:
                project = snapshot()
                memo = s.get("_draft_body")
                if memo is None or memo[0] != sig[0]:     # the table changed: serialise it
                    memo = (sig[0], db.table_body(project))
                    s["_draft_body"] = memo
                db.save_draft(secret, project, s.get(ANALYSIS_ID), memo[1], user=user)
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
          analysis_id: str | None = None, version: int | None = None,
          role: str | None = None) -> bool:
    """Load ``project`` now, or, when the table has unsaved edits, ask first.

    Returns True when it was loaded.
    """
    s = st.session_state
    if state.has_edits():
        s[PENDING_LOAD] = {"project": project, "label": label, "keep": keep_settings,
                           "id": analysis_id, "version": version, "role": role}
        return False
    apply(project, analysis_id, version, keep_settings=keep_settings, role=role)
    return True


def resolve_load(replace: bool) -> None:
    """Callback of the "replace your edited table?" question."""
    s = st.session_state
    pending = s.pop(PENDING_LOAD, None)
    if replace and pending:
        apply(pending["project"], pending["id"], pending["version"],
              keep_settings=pending["keep"], role=pending.get("role"))
