"""The whole review in the session: open an outcome in every analysis page, keep the
pages' edits in the review, undo, save, drafts and links.

The review (:class:`metacore.Review`, immutable) lives under ``REVIEW``; undo keeps the
earlier reviews. Opening an outcome makes its table the current table (``ui.state``) and
sets the sidebar to its settings and labels, so every analysis page works on it exactly as
on a single table. :func:`sync` (every run, after the sidebar) writes the current table and
settings back into the open outcome, so switching outcomes keeps the work. The sidebar's
picker (key ``outcome``) shows which outcome is open; its first entry is the quick analysis,
the single table the app always had, which is put aside while an outcome is open.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

import metacore as mc
from metacore.review.model import _MEASURES as MEASURES
from metacore.review.model import KINDS
from metacore.store import Forbidden
from metacore.store.database import NotFound
from ui import persist, state

REVIEW, OPEN, PICKER = "_review", "_review_open", "outcome"
REVIEW_ID, REVIEW_VERSION, REVIEW_LINK = "review_id", "review_version", "review_link"
HISTORY, POSITION = "_review_history", "_review_pos"
QUICK = "_quick_project"           # the quick analysis, put aside while an outcome is open
SYNCED = "_review_synced"          # what the open outcome last took from the pages
#: The picker's entry for the quick analysis (no outcome open).
QUICK_ENTRY = ""
MAX_HISTORY = 50


def review() -> mc.Review | None:
    """The review of this session, if any."""
    return st.session_state.get(REVIEW)


def open_id() -> str | None:
    """The id of the outcome open in the analysis pages (None: the quick analysis)."""
    oid = st.session_state.get(OPEN)
    rev = review()
    if oid and rev is not None and any(o.id == oid for o in rev.outcomes):
        return oid
    return None


def set_review(rev: mc.Review, *, record: bool = True, reload: bool = True) -> None:
    """Make ``rev`` the session's review; a step of undo unless ``record`` is False.

    With ``reload``, an edit that changed the open outcome (a study renamed, an undo)
    shows on the pages at once; :func:`sync`, which took the change from the pages, does
    not reload them.
    """
    s = st.session_state
    before = s.get(REVIEW)
    s[REVIEW] = rev
    oid = open_id()
    if reload and oid and before is not None and any(o.id == oid for o in before.outcomes):
        old, new = before.outcome(oid), rev.outcome(oid)
        if old != new or not old.table.equals(new.table):
            _load_outcome(new)
    if record:
        history = s.setdefault(HISTORY, [])
        if not history and before is not None:
            history.append(before)      # a review that came without a step (a session's own)
        pos = s.get(POSITION, len(history) - 1)
        del history[pos + 1:]
        history.append(rev)
        if len(history) > MAX_HISTORY:
            del history[0]
        s[POSITION] = len(history) - 1
    if s.get(OPEN) and open_id() is None:      # the open outcome was deleted
        close_outcome()
    _draft()


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
    s[POSITION] = pos
    set_review(history[pos], record=False)     # the pages follow the open outcome


def undo() -> None:
    """Callback: the review one step back (structure, names, risk of bias, GRADE, data)."""
    _go(-1)


def redo() -> None:
    """Callback: one step forward again."""
    _go(1)


# --- the outcome <-> the analysis pages ---------------------------------------------------

def _put(key: str, value) -> None:
    """Set a session value; a widget already drawn in this run takes it on the next run."""
    s = st.session_state
    s.get("_labels_next", {}).pop(key, None)
    try:
        s[key] = value
    except StreamlitAPIException:
        s.setdefault("_labels_next", {})[key] = value


def sidebar_settings(o: mc.Outcome) -> dict:
    """The sidebar's settings for an outcome: measure, model, τ², CI and level."""
    if o.kind in ("generic", "oe"):
        measure = "GEN"
    else:
        measure = o.measure
    if o.model == "random":
        model = "random"
    elif o.method == "MH" and measure in ("OR", "RR", "RD"):
        model = "MH"
    elif o.method == "PETO" and measure in ("OR", "PETO"):
        model = "PETO"
    else:
        model = "common"
    level = min(state.LEVELS, key=lambda lv: abs(lv - o.level))
    return {state.MEASURE: measure, state.MODEL: model, state.TAU2: o.tau2_method,
            state.CI: "z", state.LEVEL: level}


def outcome_labels(o: mc.Outcome) -> dict:
    """What describes the outcome's table on the pages: arm and favours labels, the
    generic scale and name, the summary-of-findings outcome and units."""
    out = {"arm_t": o.arm_labels[0][:40], "arm_c": o.arm_labels[1][:40],
           "fav_left": o.favours[0][:40], "fav_right": o.favours[1][:40],
           "sof_outcome": o.name[:80], "sof_units": o.units[:30]}
    if o.kind in ("generic", "oe"):
        out[state.GEN_SCALE] = o.scale
        out[state.GEN_LABEL] = o.label if o.label in mc.GENERIC_NAMES else "auto"
    return out


def _load_outcome(o: mc.Outcome) -> None:
    """Make the outcome's table and settings the current ones (no write-back)."""
    rev = review()
    table = o.table
    state.set_table(table, f"{rev.title if rev else 'Review'}: {o.name}")
    for key, value in {**sidebar_settings(o), **outcome_labels(o)}.items():
        _put(key, value)
    _put(persist.NAME, o.name[:120])
    st.session_state[SYNCED] = _signature()


def open_outcome(outcome_id: str) -> None:
    """Open an outcome in every analysis page (a button's callback, or before widgets)."""
    s = st.session_state
    rev = review()
    if rev is None:
        return
    sync()
    if s.get(OPEN) is None:
        # the quick analysis is put aside with its settings, to come back to
        s[QUICK] = (persist.snapshot(), s.get(persist.ANALYSIS_ID), s.get(persist.VERSION))
    rev = review()
    o = rev.outcome(outcome_id)
    s[OPEN] = o.id
    _put(PICKER, o.id)
    _load_outcome(o)


def close_outcome() -> None:
    """Back to the quick analysis (the table put aside when the first outcome opened)."""
    s = st.session_state
    if s.get(OPEN) is not None:
        sync()
    s[OPEN] = None
    _put(PICKER, QUICK_ENTRY)
    quick = s.pop(QUICK, None)
    if quick is not None:
        project, aid, version = quick
        persist.apply(project, aid, version, role="owner" if aid else None)
    s.pop(SYNCED, None)


def pick() -> None:
    """Callback of the sidebar's outcome picker."""
    wanted = st.session_state.get(PICKER) or None
    if wanted == st.session_state.get(OPEN):
        return
    if wanted is None:
        close_outcome()
    else:
        open_outcome(wanted)


def _signature() -> tuple:
    s = st.session_state
    keys = (state.MEASURE, state.MODEL, state.TAU2, state.LEVEL, state.GEN_SCALE,
            state.GEN_LABEL, "arm_t", "arm_c", "fav_left", "fav_right")
    return (state.table_ref().digest, state.mapping_key(),
            tuple(str(s.get(k)) for k in keys))


def _canonical(o: mc.Outcome) -> pd.DataFrame:
    """The current table in the outcome's canonical columns (the Data page may have
    renamed or remapped them)."""
    table = mc.standardize(state.table(), dict(state.mapping())).data
    cols = ["study", *[c for c in KINDS[o.kind] if c in table.columns]]
    if "subgroup" in table.columns:
        cols.append("subgroup")
    cols.append("include")
    return table[[c for c in cols if c in table.columns]]


def _changes(o: mc.Outcome) -> dict:
    """The outcome's settings as the sidebar now has them."""
    s = st.session_state
    measure, model = s.get(state.MEASURE), s.get(state.MODEL)
    out: dict = {"tau2_method": s.get(state.TAU2, o.tau2_method),
                 "level": float(s.get(state.LEVEL, o.level))}
    if o.kind in ("binary", "continuous") and measure in MEASURES[o.kind]:
        out["measure"] = measure
    if model == "random":
        out["model"] = "random"
        if out.get("measure", o.measure) not in ("OR", "RR", "RD") and o.method == "MH":
            out["method"] = "IV"
    elif model == "MH":
        out |= {"model": "common", "method": "MH"}
    elif model == "PETO" and o.kind == "binary":
        out |= {"model": "common", "method": "PETO", "measure": "PETO"}
    elif model == "common":
        out |= {"model": "common", "method": "IV"}
    if out.get("method", o.method) == "MH" and out.get("measure", o.measure) not in (
            "OR", "RR", "RD"):
        out["method"] = "IV"
    if out.get("method", o.method) == "PETO" and out.get("measure", o.measure) != "PETO" \
            and o.kind != "oe":
        out["method"] = "IV"
    arms = (s.get("arm_t") or o.arm_labels[0], s.get("arm_c") or o.arm_labels[1])
    fav = (s.get("fav_left") or o.favours[0], s.get("fav_right") or o.favours[1])
    out |= {"arm_labels": arms, "favours": fav}
    if o.kind in ("generic", "oe") and s.get(state.GEN_SCALE) in ("linear", "ratio", "log"):
        out["scale"] = s[state.GEN_SCALE]
    return out


def sync() -> str | None:
    """Write the pages' table and settings into the open outcome when they changed;
    returns why they could not be (the review then keeps what it had)."""
    s = st.session_state
    oid = open_id()
    if oid is None:
        return None
    sig = _signature()
    if s.get(SYNCED) == sig:
        return None
    rev = review()
    o = rev.outcome(oid)
    try:
        new = rev.with_table(oid, _canonical(o)).update_outcome(oid, **_changes(o))
    except (mc.MetacoreError, KeyError, ValueError) as err:
        s[SYNCED] = sig
        return (f"The changes could not be kept in the review's outcome “{o.name}”: {err} "
                "The review keeps its earlier data.")
    s[SYNCED] = sig
    if mc.review_to_json(new) != mc.review_to_json(rev):
        set_review(new, reload=False)
    return None


def import_bytes(data: bytes, name: str) -> bool:
    """Read a RevMan 5 file or Cochrane data package into the session's review; a refusal
    says why and leaves the current work as it was. Returns True when imported."""
    s = st.session_state
    try:
        rev = mc.read_revman(data)
    except (mc.MetacoreError, ValueError) as err:
        s["_review_message"] = ("error", f"{name} was not imported: {err} Your current work "
                                "is unchanged.")
        return False
    close_outcome()
    s[REVIEW_ID] = s[REVIEW_LINK] = None
    st.query_params.pop("review", None)
    set_review(rev)
    s["_review_message"] = ("success", f"Imported “{rev.title}”: {len(rev.comparisons)} "
                            f"comparisons, {len(rev.outcomes)} outcomes, "
                            f"{len(rev.studies)} studies.")
    return True


# --- a new outcome from the quick analysis -------------------------------------------------

def outcome_from_table(table: pd.DataFrame, mapping: dict, name: str) -> tuple[mc.Outcome,
                                                                              pd.DataFrame]:
    """An outcome (with the sidebar's settings) for a single table, and the table in its
    canonical columns, ready for :meth:`metacore.Review.with_table`."""
    s = st.session_state
    std = mc.standardize(table, mapping)
    kinds = std.kinds
    if "binary" in kinds:
        kind = "binary"
    elif "continuous" in kinds:
        kind = "continuous"
    elif "generic" in kinds:
        kind = "generic"
    else:
        raise mc.DataError("The table has neither 2×2 counts, means and SDs, nor ready-made "
                           "effects with standard errors, so it cannot be a review outcome.")
    measure = s.get(state.MEASURE)
    if measure not in MEASURES[kind]:
        measure = MEASURES[kind][0]
    o = mc.Outcome("", name, kind, measure)
    o = replace(o, **_changes(o))
    data = std.data
    if kind == "generic" and "sei" not in data.columns and "vi" in data.columns:
        data = data.assign(sei=data["vi"] ** 0.5)
    cols = ["study", *[c for c in KINDS[kind] if c in data.columns], "include"]
    if "subgroup" in data.columns:
        cols.insert(-1, "subgroup")
    return o, data[cols]


# --- saving, drafts, links ----------------------------------------------------------------------

def _draft() -> None:
    s = st.session_state
    rev = review()
    secret = persist.browser_secret()
    if rev is None or not secret or s.get(REVIEW_LINK):
        return
    db = persist.store()
    user = persist.me()
    if db is None or (db.accounts and user is None):
        return
    try:
        db.save_review_draft(secret, rev, s.get(REVIEW_ID), user=user)
    except mc.MetacoreError:
        pass    # a draft is a convenience: never in the way of the work


def save() -> None:
    """Callback of ``save_review``: a new version of the review (or a new review)."""
    s = st.session_state
    sync()
    rev = review()
    db = persist.store()
    if rev is None:
        return
    if db is None:
        s["_review_message"] = ("error", "The review could not be saved: "
                                + s.get("_store_error", "no database"))
        return
    user = persist.me()
    try:
        try:
            rid, version = db.save_review(rev, None if s.get(REVIEW_LINK) else s.get(REVIEW_ID),
                                          user=user)
        except (Forbidden, NotFound):
            rid, version = db.save_review(rev, user=user)      # a copy of the user's own
    except mc.MetacoreError as err:
        s["_review_message"] = ("error", str(err))
        return
    s[REVIEW_ID], s[REVIEW_VERSION], s[REVIEW_LINK] = rid, version, None
    st.query_params["review"] = rid
    s["_review_message"] = ("success", f"Saved as version {version} of “{rev.title}”.")


def start() -> None:
    """Once per session: open ``?review=`` (or a review link), or bring back the draft."""
    s = st.session_state
    if s.get("_review_started"):
        return
    s["_review_started"] = True
    wanted = st.query_params.get("review")
    token = st.query_params.get("review_link")
    db = persist.store()
    if db is None:
        return
    user = persist.me()
    try:
        if token:
            rev, version = db.load_review(token=str(token)[:100], user=user)
            s[REVIEW_LINK], s[REVIEW_VERSION] = str(token)[:100], version
        elif wanted:
            rev, version = db.load_review(str(wanted)[:100], user=user)
            s[REVIEW_ID], s[REVIEW_VERSION] = str(wanted)[:100], version
        else:
            secret = persist.browser_secret()
            got = db.load_review_draft(secret, user=user) if secret else None
            if got is None:
                return
            rev, rid = got
            s[REVIEW_ID] = rid
    except mc.MetacoreError as err:
        st.query_params.pop("review", None)
        s["_review_message"] = ("error", f"The review could not be opened: {err}")
        return
    set_review(rev)


def address() -> None:
    """Keep the saved review in the address bar (a page switch drops the query)."""
    rid = st.session_state.get(REVIEW_ID)
    if rid and st.query_params.get("review") != rid:
        st.query_params["review"] = rid


def picker() -> None:
    """The sidebar's outcome picker (key ``outcome``): which outcome the pages show."""
    s = st.session_state
    rev = review()
    if rev is None or not rev.outcomes:
        return
    options = [QUICK_ENTRY, *[o.id for o in rev.outcomes]]
    # always the open outcome: a page switch may drop the widget's own value
    s[PICKER] = open_id() or QUICK_ENTRY
    names = {o.id: (c.name, o.name) for c in rev.comparisons for o in c.outcomes}
    st.selectbox("Outcome open in the pages", options, key=PICKER, on_change=pick,
                 format_func=lambda x: "Quick analysis (a single table)" if not x
                 else f"{names[x][1]} — {names[x][0]}",
                 help=f"Review: {rev.title}. Every analysis page works on the outcome chosen "
                      "here; your edits go back into the review.")
