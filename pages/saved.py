"""Saved analyses: open, see versions, delete; with accounts, share with people and teams,
read-only links, who has access and the activity log; the analysis as a project file.

Every call to the store passes the user logged in now (``persist.me()``, read afresh in
each callback too), so the store decides what is listed, opened and changed.
"""

from datetime import timedelta

import streamlit as st

import metacore as mc
from metacore.store import ROLES
from metacore.store.project import from_json, to_json
from ui import accounts, persist
from ui.controls import share_link
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
me = persist.me()
if db.accounts:
    st.caption(f"Stored in {md(db.url.split('://', 1)[0])}. The list shows the analyses you "
               "own and those shared with you; each is private until its owner shares it.")
else:
    st.caption(f"Stored in {md(db.url.split('://', 1)[0])} · set `METACORE_DB` to another "
               "SQLAlchemy URL (e.g. PostgreSQL) to move them. Anyone with a link can open "
               "that analysis; the list below shows every analysis saved on this server.")

ROLE_WORDS = {"owner": "owner", "editor": "editor (can save new versions)",
              "viewer": "viewer (Save makes a copy)"}
EXPIRY = {0: "never", 1: "in 1 day", 7: "in 7 days", 30: "in 30 days", 90: "in 90 days"}


def _message(kind: str, text: str) -> None:
    s["_saved_message"] = (kind, text)


def _open(analysis_id: str, version: int | None = None) -> None:
    user = persist.me()
    try:
        project, got = db.load(analysis_id, version, user=user)
        role = db.role(analysis_id, user=user)
    except mc.MetacoreError as err:
        s["_open_message"] = ("warning", str(err))
        return
    persist.offer(project, f"the saved analysis “{project.name}” (version {got})",
                  keep_settings=False, analysis_id=analysis_id, version=got, role=role)


def _delete(analysis_id: str) -> None:
    try:
        db.delete(analysis_id, user=persist.me())
    except mc.MetacoreError as err:
        s["_open_message"] = ("warning", str(err))
        return
    if s.get(persist.ANALYSIS_ID) == analysis_id:
        s[persist.ANALYSIS_ID] = s[persist.VERSION] = s[persist.ROLE] = None
        st.query_params.pop("analysis", None)
    s.pop("confirm_delete", None)


def _share(analysis_id: str) -> None:
    email = s.get("share_email", "")
    try:
        db.share(analysis_id, email, s.get("share_role", "viewer"), user=persist.me())
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    s["share_email"] = ""
    _message("success", f"Shared with {email.strip().lower()} as "
                        f"{s.get('share_role', 'viewer')}.")


def _share_team(analysis_id: str) -> None:
    try:
        db.share_team(analysis_id, s.get("share_team_pick"), s.get("share_team_role", "viewer"),
                      user=persist.me())
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    _message("success", "Shared with the team.")


def _create_team() -> None:
    members = [e for e in s.get("team_members", "").replace(",", "\n").split() if e]
    try:
        db.create_team(s.get("team_name", ""), members, user=persist.me())
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    s["team_name"], s["team_members"] = "", ""
    _message("success", f"Team created with {len(set(members))} member(s).")


def _create_link(analysis_id: str) -> None:
    days = s.get("link_expiry", 0)
    try:
        _, token = db.create_link(analysis_id, user=persist.me(),
                                  expires=timedelta(days=days) if days else None)
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    # the store keeps only the token's hash: this is the one time it can be shown
    s["_new_link"] = (analysis_id, token)


def _revoke(analysis_id: str) -> None:
    grant = s.get("access_pick")
    try:
        db.revoke(analysis_id, grant, user=persist.me())
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    _message("success", "Access revoked: it ends at the holder's next load.")


def _claim() -> None:
    try:
        n = db.claim_local(user=persist.me())
    except mc.MetacoreError as err:
        _message("error", str(err))
        return
    _message("success", f"{n} analysis(es) saved before accounts are now yours.")


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else ""


def sharing(analysis_id: str) -> None:
    """The owner's view: share, links, who has access (and revoke), the activity log."""
    st.subheader("Sharing")
    st.caption("Private until you share it. Viewers and visitors with a read-only link can "
               "explore it freely — other settings, what-if edits — but their Save makes a "
               "copy of their own; editors save new versions of it.")
    c1, c2, c3 = st.columns([3, 1.4, 1], vertical_alignment="bottom")
    c1.text_input("Share with (the email they log in with)", key="share_email",
                  placeholder="name@hospital.org")
    c2.selectbox("As", ROLES, key="share_role", format_func=str.capitalize)
    c3.button("Share", key="share_add", on_click=_share, args=(analysis_id,),
              icon=":material/person_add:", width="stretch")
    teams = db.teams(user=me)
    if teams:
        names = {t.id: f"{t.name} ({len(t.members)} member(s))" for t in teams}
        c1, c2, c3 = st.columns([3, 1.4, 1], vertical_alignment="bottom")
        c1.selectbox("Share with a team", list(names), key="share_team_pick",
                     format_func=names.get)
        c2.selectbox("As", ROLES, key="share_team_role", format_func=str.capitalize)
        c3.button("Share", key="share_team_add", on_click=_share_team, args=(analysis_id,),
                  icon=":material/group_add:", width="stretch")
    with st.expander(f"Your teams ({len(teams)})"):
        for t in teams:
            st.markdown(f"**{md(t.name)}**: " + (", ".join(md(m) for m in t.members)
                                                  or "no members"))
        c1, c2 = st.columns([1, 2])
        c1.text_input("New team", key="team_name", placeholder="Cardiology")
        c2.text_area("Members (emails, one a line or separated by commas)", key="team_members",
                     height=68)
        st.button("Create the team", key="team_create", on_click=_create_team,
                  icon=":material/groups:")

    c1, c2 = st.columns([3, 2.4], vertical_alignment="bottom")
    c1.selectbox("A read-only link that expires", list(EXPIRY), key="link_expiry",
                 format_func=EXPIRY.get)
    c2.button("Create a read-only link", key="link_create", on_click=_create_link,
              args=(analysis_id,), icon=":material/add_link:", width="stretch")
    new = s.get("_new_link")
    if new and new[0] == analysis_id:
        st.success("Copy this link now: it opens the analysis read-only without logging in, "
                   "and it is shown only this once (revoke it below to end it).",
                   icon=":material/link:")
        st.code(share_link(new[1], "link"), language=None, wrap_lines=True)

    st.markdown("**Who has access**")
    grants = db.access(analysis_id, user=me)
    if not grants:
        st.caption("Only you.")
    else:
        st.dataframe([{"who": g.who, "how": {"user": "person", "team": "team",
                                               "link": "read-only link"}[g.kind],
                       "role": g.role, "since": _when(g.created),
                       "expires": _when(g.expires) or "—"} for g in grants],
                     hide_index=True, width="stretch")
        labels = {g.id: f"{g.who} ({g.role}, since {_when(g.created)})" for g in grants}
        c1, c2 = st.columns([3, 2.4], vertical_alignment="bottom")
        c1.selectbox("Access to end", list(labels), key="access_pick", format_func=labels.get)
        c2.button("Revoke", key="access_revoke", on_click=_revoke, args=(analysis_id,),
                  icon=":material/person_remove:", width="stretch")

    with st.expander("Activity log (saves, shares, revokes, copies, refused attempts)"):
        log = db.audit(analysis_id, user=me, limit=200)
        st.dataframe([{"when": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"), "who": e.actor,
                       "what": e.action, "detail": e.detail} for e in log],
                     hide_index=True, width="stretch")


kind, text = s.pop("_saved_message", (None, None))
if kind:
    (st.error if kind == "error" else st.success)(md(text), icon=":material/info:")

if db.accounts and me is None:
    st.info("Log in to see your saved analyses and those shared with you; a read-only link "
            "shows its one analysis without logging in.", icon=":material/lock:")
    accounts.login_buttons(st.columns([1, 2])[0], prefix="saved_")   # the bar has "login"
    saved = []
else:
    saved = db.list(user=me)
    if not saved:
        st.info("Nothing is saved yet: press **Save** in the sidebar to keep the current "
                "analysis and get its link.", icon=":material/info:")

if saved:
    rows = []
    for a in saved:
        row = {"name": a.name, "data": a.source, "measure": a.measure, "k": a.k,
               "versions": a.version, "last saved": a.saved.strftime("%Y-%m-%d %H:%M UTC")}
        if db.accounts:
            row["owner"] = "you" if a.role == "owner" else a.owner
            row["you are"] = ROLE_WORDS[a.role]
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch")
    info = {a.id: a for a in saved}
    names = {a.id: f"{a.name} — {a.source} (v{a.version})" for a in saved}
    pick = st.selectbox("Analysis", list(info), key="saved_pick", format_func=names.get)
    owner = info[pick].role == "owner"
    c1, c2, c3 = st.columns(3)
    c1.button("Open", key="saved_open", on_click=_open, args=(pick,), type="primary",
              width="stretch", icon=":material/folder_open:")
    if not owner:
        c2.caption(f"Shared with you by {md(info[pick].owner)}: you are "
                   f"{ROLE_WORDS[info[pick].role]}.")
    elif s.get("confirm_delete") == pick:
        c2.button("Really delete (all versions)", key="saved_delete_yes", on_click=_delete,
                  args=(pick,), width="stretch", icon=":material/delete_forever:")
        c3.button("Cancel", key="saved_delete_no", on_click=s.pop, args=("confirm_delete",),
                  width="stretch")
    else:
        c2.button("Delete…", key="saved_delete", on_click=s.__setitem__,
                  args=("confirm_delete", pick), width="stretch", icon=":material/delete:")
    st.subheader("Versions")
    versions = db.versions(pick, user=me)
    st.dataframe([{"version": v.version, "name": v.name, "measure": v.measure, "k": v.k,
                   "saved": v.saved.strftime("%Y-%m-%d %H:%M:%S UTC")} for v in versions],
                 hide_index=True, width="stretch")
    which = st.selectbox("Version", [v.version for v in versions], key="saved_version",
                         format_func=lambda v: f"version {v}")
    st.button("Open this version", key="saved_open_version", on_click=_open,
              args=(pick, which), icon=":material/history:")
    if db.accounts and owner:
        sharing(pick)

if accounts.is_admin(me):
    st.subheader("Analyses saved before accounts")
    st.caption("Everything saved in single-user mode belongs to the local owner until an "
               "administrator takes it over (once: the first administrator keeps it).")
    st.button("Take over the local owner's analyses", key="claim_local", on_click=_claim,
              icon=":material/move_down:")

st.subheader("Project file")
st.caption("The analysis as one JSON file — the table as edited, the column mapping, every "
           "setting and the metacore version; the same record the database keeps.")
# The download runs later, outside this session's script run, where session state cannot
# be read: it takes the analysis as it is now.
project = persist.snapshot()
st.download_button("Download the project file (JSON)",
                   data=lambda: to_json(project).encode("utf-8"),
                   file_name="metacore_project.json", mime="application/json",
                   key="dl_project", on_click="ignore", icon=":material/download:")


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
