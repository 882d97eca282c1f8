"""Issue 24 in the app (AppTest): the login screen and account bar, private lists, the
same message for an id one may not see as for an unknown one, a viewer's and a link
visitor's Save making a copy (or asking to log in), sharing, links, revoking and the
activity log from the Saved analyses page, the administrator's claim, logging out; and
issue 23 item 10: the open analysis stays in the address."""

from __future__ import annotations

import secrets
from pathlib import Path

from streamlit.testing.v1 import AppTest

from metacore.store import open_store
from ui import accounts
from ui.text import md

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://id.example.org"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32,
        "client_id": "metacore", "client_secret": "x",
        "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}
SECRETS = {"auth": AUTH, "metacore": {"admins": ["admin@example.org"]}}


def _claims(name: str) -> dict:
    # a fresh subject per test: every test starts with users who own nothing
    return {"is_logged_in": True, "iss": ISSUER, "sub": f"{name}-{secrets.token_hex(4)}",
            "name": name.title(), "email": f"{name}@example.org"}


def _app(path: str = "pages/forest.py", user: dict | None = None, *, run: bool = True,
         **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    at.secrets = {k: dict(v) for k, v in SECRETS.items()}
    at.user = dict(user) if user is not None else {"is_logged_in": False}
    for k, v in query.items():
        at.query_params[k] = v
    if run:
        at.run()
        assert not at.exception, at.exception
    return at


def _summary(at: AppTest) -> str:
    return next(i.value for i in at.info if "estimate is" in i.value)


def _saved_by(user: dict, name: str, **settings) -> tuple[AppTest, str]:
    at = _app(user=user)
    for key, value in settings.items():
        at.selectbox(key=key).set_value(value).run()
    at.text_input(key="analysis_name").input(name).run()
    at.button(key="save_analysis").click().run()
    assert not at.exception
    return at, at.session_state["analysis_id"]


def _names(page: AppTest) -> list[str]:
    return [o.split(" — ")[0] for o in page.selectbox(key="saved_pick").options] \
        if any(s.key == "saved_pick" for s in page.selectbox) else []


def _frame(page: AppTest, column: str):
    return next(d.value for d in page.dataframe if column in d.value.columns)


def _text(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    return " ".join(p.value for p in parts).replace("\\", "")     # md()'s escapes


def test_the_mode_follows_the_secrets():
    at = _app("app.py", run=False)
    at.secrets = {}
    at.run()
    assert not accounts.enabled()
    assert not any(b.key in ("login", "logout") for b in at.button)     # single-user as before
    assert "random-effects estimate is RR 0.49" in _summary(at)
    at = _app("app.py")
    assert [b.key for b in at.button] == ["login"]                    # asked to log in first
    assert "issuer and subject), your name and your email address — nothing else" in _text(at)
    assert not at.info or not any("estimate is" in i.value for i in at.info)


def test_several_providers_each_get_a_button():
    at = _app("app.py", run=False)
    at.secrets = {"auth": {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "s" * 32,
                           "google": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                           "server_metadata_url")},
                           "entra": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                          "server_metadata_url")}},
                  "metacore": {"provider_labels": {"entra": "Microsoft Entra ID"}}}
    at.run()
    assert [(b.key, b.label) for b in at.button] == [
        ("login", "Log in with Google"), ("login_entra", "Log in with Microsoft Entra ID")]


def test_logged_in_the_bar_shows_who_and_log_out_ends_access():
    alice = _claims("alice")
    at = _app("app.py", user=alice)
    assert md("Alice <alice@example.org>") in " ".join(c.value for c in at.sidebar.caption)
    at.session_state["analysis_id"] = "a" * 22        # as if a private analysis were open
    # (AppTest reruns only the page after the first run, so the bar is clicked at once)
    at.button(key="logout").click().run()
    assert not at.exception
    # the session forgot what was on screen, and st.user is empty from this run on
    assert not at.session_state["analysis_id"] and "_signed_in" not in at.session_state
    assert at.user == {"is_logged_in": False}
    assert [b.key for b in _app("app.py", at.user).button] == ["login"]


def test_an_analysis_is_private_until_shared_and_a_viewer_saves_a_copy():
    alice, bob = _claims("alice"), _claims("bob")
    at, aid = _saved_by(alice, "alice's review", measure="OR", tau2_method="DL")
    before = _summary(at)
    assert "alice's review" in _names(_app("pages/saved.py", alice))
    assert _names(_app("pages/saved.py", bob)) == []                  # bob cannot list it
    # bob cannot open it by its id: the same message as for an id nobody has
    seen = _app(user=bob, analysis=aid)
    unknown = _app(user=bob, analysis=secrets.token_urlsafe(16))
    assert [w.value for w in seen.warning] == [w.value for w in unknown.warning]
    assert "No saved analysis has this id" in seen.warning[0].value
    assert "analysis" not in seen.query_params and "RR 0.49" in _summary(seen)

    page = _app("pages/saved.py", alice)
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.text_input(key="share_email").input("Bob@Example.org").run()
    page.selectbox(key="share_role").set_value("viewer").run()
    page.button(key="share_add").click().run()
    assert "Shared with bob@example.org as viewer" in _text(page)
    assert list(_frame(page, "how")["who"]) == ["bob@example.org"]

    # bob now lists it (as viewer), opens it by its link and explores; Save makes his copy
    assert _names(_app("pages/saved.py", bob)) == ["alice's review"]
    view = _app(user=bob, analysis=aid)
    assert not view.warning and _summary(view) == before
    assert view.session_state["analysis_role"] == "viewer"
    view.selectbox(key="tau2_method").set_value("PM").run()
    view.button(key="save_analysis").click().run()
    assert "copy of your own" in view.sidebar.success[0].value
    copy = view.session_state["analysis_id"]
    assert copy != aid and view.query_params["analysis"] == copy
    db = open_store(accounts=True)
    from metacore.store import User

    a = User.from_claims(alice)
    project, version = db.load(aid, user=a)
    assert version == 1 and project.settings["tau2_method"] == "DL"   # the original holds
    assert sorted(_names(_app("pages/saved.py", bob))) == ["alice's review", "alice's review"]

    # alice revokes: bob's next load is refused, with the unknown-id message
    page = _app("pages/saved.py", alice)
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.button(key="access_revoke").click().run()
    assert "Access revoked" in _text(page)
    again = _app(user=bob, analysis=aid)
    assert [w.value for w in again.warning] == [w.value for w in unknown.warning]
    assert _names(_app("pages/saved.py", bob)) == ["alice's review"]  # only his own copy

    # the activity log: the save, the share, bob's copy, the refusals, the revoke
    page = _app("pages/saved.py", alice)
    page.selectbox(key="saved_pick").set_value(aid).run()
    log = _frame(page, "what")
    assert {"save", "share", "copy", "denied", "revoke"} <= set(log["what"])
    assert "Bob <bob@example.org>" in set(log["who"])


def test_a_tampered_id_cannot_overwrite_another_users_analysis():
    alice, bob = _claims("alice"), _claims("bob")
    _, aid = _saved_by(alice, "alice only", measure="OR")
    at = _app(user=bob)
    at.session_state["analysis_id"] = aid          # as if bob forged his session
    at.button(key="save_analysis").click().run()
    assert not at.exception
    assert at.session_state["analysis_id"] != aid
    from metacore.store import User

    _, version = open_store(accounts=True).load(aid, user=User.from_claims(alice))
    assert version == 1


def test_a_read_only_link_opens_without_logging_in_and_cannot_change_it():
    alice = _claims("alice")
    at, aid = _saved_by(alice, "teaching demo", measure="OR", tau2_method="DL")
    before = _summary(at)
    page = _app("pages/saved.py", alice)
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.selectbox(key="link_expiry").set_value(7).run()
    page.button(key="link_create").click().run()
    link = next(c.value for c in page.code if "?link=" in c.value)
    token = link.split("?link=", 1)[1]
    assert aid not in link and len(token) == 43
    assert "shown only this once" in _text(page)
    assert list(_frame(page, "how")["how"]) == ["read-only link"]
    assert _frame(page, "how")["expires"][0] != "—"

    visitor = _app("app.py", link=token)                 # no login screen for a link
    assert not any(b.key == "logout" for b in visitor.button)
    assert any(b.key == "login" for b in visitor.sidebar.button)
    assert _summary(visitor) == before
    assert visitor.session_state["analysis_id"] is None  # the id is not revealed
    visitor.selectbox(key="tau2_method").set_value("PM").run()
    visitor.button(key="save_analysis").click().run()
    assert "Log in to save" in visitor.sidebar.error[0].value
    assert visitor.query_params["link"] == token
    from metacore.store import User

    project, version = open_store(accounts=True).load(aid, user=User.from_claims(alice))
    assert version == 1 and project.settings["tau2_method"] == "DL"
    # a logged-in visitor of the link saves a copy of their own
    carol = _app(user=_claims("carol"), link=token)
    carol.button(key="save_analysis").click().run()
    assert "copy of your own" in carol.sidebar.success[0].value
    assert "link" not in carol.query_params and carol.query_params["analysis"]
    # a wrong or revoked link: one message, the default data
    bad = _app(link="x" * 43)
    assert "does not open any analysis" in bad.warning[0].value
    assert "RR 0.49" in _summary(bad)


def test_drafts_belong_to_the_user_not_only_the_browser():
    alice, bob = _claims("alice"), _claims("bob")
    first = _app(user=alice, run=False)
    first.session_state["_browser_key"] = "d" * 32
    first.run()
    first.selectbox(key="measure").set_value("OR").run()
    same = _app(user=alice, run=False)
    same.session_state["_browser_key"] = "d" * 32
    same.run()
    assert same.session_state["measure"] == "OR" and same.session_state.get("_draft_restored")
    other = _app(user=bob, run=False)            # bob in the same browser: not alice's draft
    other.session_state["_browser_key"] = "d" * 32
    other.run()
    assert other.session_state["measure"] == "RR" and not other.session_state.get(
        "_draft_restored")


def test_an_administrator_claims_the_local_owners_work():
    single = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    single.run()
    single.text_input(key="analysis_name").input("saved before accounts").run()
    single.button(key="save_analysis").click().run()
    aid = single.session_state["analysis_id"]
    admin = {**_claims("admin"), "sub": "the-admin"}
    assert not any(b.key == "claim_local" for b in _app("pages/saved.py",
                                                         _claims("alice")).button)
    page = _app("pages/saved.py", admin)
    page.button(key="claim_local").click().run()
    assert "now yours" in _text(page)
    assert "saved before accounts" in _names(page)
    from metacore.store import User

    assert open_store(accounts=True).role(aid, user=User.from_claims(admin)) == "owner"


def test_the_open_analysis_stays_in_the_address_on_every_page():
    at = _app(user=_claims("alice"))
    at.button(key="save_analysis").click().run()
    aid = at.session_state["analysis_id"]
    del at.query_params["analysis"]             # what a page switch does to the address
    at.run()
    assert at.query_params["analysis"] == aid
    single = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    single.button(key="save_analysis").click().run()
    sid = single.session_state["analysis_id"]
    single.query_params.clear()                 # the browser's page switch (issue 23, 10)
    single.switch_page("pages/data.py").run()
    assert single.query_params["analysis"] == sid


def _press_log_in(key: str) -> None:
    # what the Log in button does before Streamlit sends the browser to the provider
    from ui import accounts

    accounts._remember_return(key)


def test_after_logging_in_the_browser_comes_back_to_its_analysis():
    alice = _claims("alice")
    _, aid = _saved_by(alice, "come back to me")
    at = AppTest.from_function(_press_log_in, args=("r" * 32,), default_timeout=60)
    at.query_params["analysis"] = aid
    at.run()
    assert not at.exception
    # the provider sends the browser to the front page, in a new session
    back = _app(user=alice, run=False)
    back.session_state["_browser_key"] = "r" * 32
    back.run()
    assert back.session_state["analysis_id"] == aid and back.query_params["analysis"] == aid
    again = _app(user=alice, run=False)                 # once only
    again.session_state["_browser_key"] = "r" * 32
    again.run()
    assert again.session_state["analysis_id"] is None


def test_a_team_of_editors_saves_new_versions_and_a_member_removed_loses_it():
    alice, bob = _claims("alice"), _claims("bob")
    _, aid = _saved_by(alice, "team review", measure="OR")
    page = _app("pages/saved.py", alice)
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.text_input(key="team_name").input("Cardiology").run()
    page.text_area(key="team_members").input("bob@example.org, carol@example.org").run()
    page.button(key="team_create").click().run()
    assert "Team created with 2 member(s)" in _text(page)
    page.selectbox(key="share_team_role").set_value("editor").run()
    page.button(key="share_team_add").click().run()
    assert "Shared with the team" in _text(page)
    assert list(_frame(page, "how")["who"]) == ["Cardiology"]
    # bob, a member, is an editor: his Save is a new version of alice's analysis
    view = _app(user=bob, analysis=aid)
    assert view.session_state["analysis_role"] == "editor"
    view.selectbox(key="tau2_method").set_value("PM").run()
    view.button(key="save_analysis").click().run()
    assert "version 2" in view.sidebar.success[0].value
    assert view.session_state["analysis_id"] == aid
    from metacore.store import User

    db = open_store(accounts=True)
    a = User.from_claims(alice)
    assert db.load(aid, user=a)[0].settings["tau2_method"] == "PM"
    team = db.teams(user=a)[0].id
    db.remove_member(team, "bob@example.org", user=a)
    gone = _app(user=bob, analysis=aid)
    assert "No saved analysis has this id" in gone.warning[0].value


def test_logging_out_in_one_tab_ends_access_in_the_other_tabs_of_that_browser():
    alice = _claims("alice")
    _, aid = _saved_by(alice, "two tabs")
    other_tab = _app("pages/saved.py", alice, run=False)
    other_tab.session_state["_browser_key"] = "t" * 32
    other_tab.run()
    assert _names(other_tab) == ["two tabs"]
    tab = _app("app.py", alice, run=False)
    tab.session_state["_browser_key"] = "t" * 32
    tab.run()
    tab.button(key="logout").click().run()
    other_tab.run()                 # st.user still says alice in that tab: the app does not
    assert _names(other_tab) == [] and "Log in to see your saved analyses" in _text(other_tab)
    elsewhere = _app("pages/saved.py", alice, run=False)     # another browser keeps its login
    elsewhere.session_state["_browser_key"] = "u" * 32
    elsewhere.run()
    assert _names(elsewhere) == ["two tabs"]
