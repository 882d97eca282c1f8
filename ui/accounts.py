"""Accounts in the app: who is logged in, the login screen and the account bar.

Two modes. With an ``[auth]`` section in ``.streamlit/secrets.toml`` (Streamlit's
``st.login``: OpenID Connect, one provider or several named ones) a visitor logs in, or
opens a read-only link (``?link=``) without logging in; the store decides on every read
and write what that user may see (:mod:`metacore.store.accounts`). Without the section
the app is single-user as before and the store acts as the local owner.

The user is read from ``st.user`` on every run and never cached: ``st.logout`` empties it
at once, so the next run of that session reaches nothing private. Administrators are the
emails listed under ``[metacore] admins`` in the secrets; they may claim the work saved
before accounts were switched on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import streamlit as st

from metacore.errors import MetacoreError
from metacore.store import User, open_store
from ui.text import md

#: What the store keeps about a user, said where people log in.
STORED = ("What metacore keeps about you: your login provider's identifier for you (issuer "
          "and subject), your name and your email address — nothing else. Your analyses are "
          "private until you share them.")
_PROVIDER_KEYS = ("client_id", "server_metadata_url")
#: Where a browser was going when it pressed Log in (the provider's answer comes back to
#: the app's front page, in a new session): browser key -> (time, query). Minutes only.
_RETURN: dict[str, tuple[float, dict[str, str]]] = {}
_RETURN_LOCK = threading.Lock()
_RETURN_SECONDS, _RETURN_MAX = 600, 10_000
#: When each browser (its draft cookie) last logged out, in this process.
_LOGOUTS: dict[str, float] = {}
_LOGOUTS_MAX = 100_000


def _secrets(section: str) -> Mapping:
    try:
        value = st.secrets.get(section)
    except Exception:  # noqa: BLE001 - no secrets file at all: single-user mode
        return {}
    return value if isinstance(value, Mapping) else {}


def enabled() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (accounts mode)."""
    return bool(_secrets("auth"))


def providers() -> list[tuple[str | None, str]]:
    """The login providers as ``(name for st.login, label)``: the unnamed one configured
    in ``[auth]`` itself, then each ``[auth.<name>]`` section in order."""
    auth = _secrets("auth")
    out: list[tuple[str | None, str]] = []
    if all(k in auth for k in _PROVIDER_KEYS):
        out.append((None, "Log in"))
    labels = _secrets("metacore").get("provider_labels", {})
    for name, section in auth.items():
        if isinstance(section, Mapping) and any(k in section for k in _PROVIDER_KEYS):
            label = labels.get(name) if isinstance(labels, Mapping) else None
            out.append((name, f"Log in with {label or name.replace('-', ' ').title()}"))
    return out


def admins() -> frozenset[str]:
    """Emails of the administrators (``[metacore] admins = [...]``), lower case."""
    names = _secrets("metacore").get("admins", [])
    if isinstance(names, str):
        names = [names]
    return frozenset(str(e).strip().lower() for e in names if str(e).strip())


def user() -> User | None:
    """The logged-in user, or None (single-user mode, or a visitor not logged in).

    Read from ``st.user`` each time; the first time in a session the store records
    the user's name and email (``sign_in``). A session that began before this browser
    logged out (another tab: Streamlit empties ``st.user`` only in the tab that logged
    out) has no user either.
    """
    if not enabled() or not st.user.is_logged_in:
        return None
    try:
        me = User.from_claims(st.user.to_dict())
    except MetacoreError as err:
        st.session_state["_login_error"] = str(err)
        return None
    s = st.session_state
    began = s.setdefault("_session_began", time.time())
    out = _LOGOUTS.get(_browser())
    if out is not None and out >= began:
        return None
    if s.get("_signed_in") != me.id:
        try:
            open_store(accounts=True).sign_in(me)
        except MetacoreError:
            pass        # the database is unreachable: each page says so where it needs it
        s["_signed_in"] = me.id
    return me


def is_admin(me: User | None) -> bool:
    """True for a logged-in user whose (provider-verified) email is an administrator's."""
    return me is not None and bool(me.email) and me.email in admins()


# --- where to come back to after logging in ---------------------------------------------

def _remember_return(key: str | None) -> None:
    wanted = {k: str(v)[:100] for k in ("analysis", "link")
              if (v := st.query_params.get(k))}
    if not key or not wanted:
        return
    now = time.monotonic()
    with _RETURN_LOCK:
        for k in [k for k, (t, _) in _RETURN.items() if now - t > _RETURN_SECONDS]:
            del _RETURN[k]
        if len(_RETURN) < _RETURN_MAX:
            _RETURN[key] = (now, wanted)


def take_return(key: str | None) -> dict[str, str]:
    """The ``analysis``/``link`` this browser had open when it pressed Log in (once)."""
    if not key:
        return {}
    with _RETURN_LOCK:
        t, wanted = _RETURN.pop(key, (0.0, {}))
    return wanted if time.monotonic() - t <= _RETURN_SECONDS else {}


def _log_in(provider: str | None) -> None:
    _remember_return(_browser())
    if provider is None:
        st.login()
    else:
        st.login(provider)


def login_buttons(where=st, prefix: str = "") -> None:
    """One button per provider; the first has key ``login`` (``prefix`` tells apart a
    second set on the same page)."""
    for i, (name, label) in enumerate(providers()):
        key = prefix + ("login" if i == 0 else f"login_{name}")
        if where.button(label, key=key, icon=":material/login:", type="primary",
                        width="stretch"):
            _log_in(name)


def _browser() -> str | None:
    from ui import persist

    return persist.browser_secret()


def _log_out() -> None:
    # Every tab of this browser loses the user (tabs share the cookie and, behind nginx,
    # the process); everything of this session goes: the table may be a private analysis.
    key = _browser()
    if key:
        with _RETURN_LOCK:
            if len(_LOGOUTS) >= _LOGOUTS_MAX:        # forget the oldest half
                for k in sorted(_LOGOUTS, key=_LOGOUTS.get)[:_LOGOUTS_MAX // 2]:
                    del _LOGOUTS[k]
            _LOGOUTS[key] = time.time()
    s = st.session_state
    for key in list(s.keys()):
        del s[key]
    st.logout()


def login_screen() -> None:
    """The front page of a visitor who is not logged in and holds no read-only link."""
    from ui import persist

    st.title("metacore · meta-analysis")
    if st.query_params.get("analysis"):
        st.info("Log in to open the analysis in this address: saved analyses are private "
                "to their owner and the people they share them with.", icon=":material/lock:")
    else:
        st.write("Log in to work on your meta-analyses, open the ones shared with you and "
                 "save new ones.")
    if st.session_state.get("_login_error"):
        st.error(st.session_state["_login_error"], icon=":material/error:")
    login_buttons(st.columns([1, 2])[0])
    st.caption(STORED)
    st.caption("Someone sent you a read-only link? It opens without logging in.")
    persist.set_cookie_once()


def account_bar() -> bool:
    """Who is logged in, with Log out (or Log in) in the sidebar.

    Returns False when a visitor must log in before anything else is shown (accounts
    mode, not logged in, no read-only link in the address); the caller stops there.
    """
    from ui import persist

    if not enabled():
        return True
    me = user()
    # a link session keeps its link across pages even before the address is written again
    if me is None and not (st.query_params.get("link") or st.session_state.get(persist.LINK)):
        # the one page there is (without st.navigation Streamlit would list pages/)
        st.navigation([st.Page(login_screen, title="Log in", icon=":material/login:",
                               default=True)], position="hidden").run()
        return False
    persist.start()         # opens ?analysis= or ?link= now, so the bar knows the role
    with st.sidebar:
        if me is not None:
            st.caption(f":material/account_circle: Logged in as {md(me.label)}")
            st.button("Log out", key="logout", on_click=_log_out, icon=":material/logout:")
            if st.session_state.get("analysis_role") == "viewer":
                st.caption(":material/visibility: You can view this analysis but not change "
                           "it: Save makes a copy of your own.")
        else:
            st.caption(":material/visibility: You are viewing a read-only link. Log in to "
                       "save a copy of your own.")
            login_buttons()
    return True
