"""Issue 24 in a real browser against a real OpenID Connect provider on localhost
(oidc-provider-mock), and issue 23 items 10 and 11: the analysis stays in the address
across pages, reload and Back; the project file downloads and opens again.

alice logs in and saves; bob logs in and cannot list, open or overwrite it; alice shares it
read-only with bob, who opens and explores it but whose Save makes his own copy; alice
revokes and bob loses access on his next load; a read-only link opens without logging in
and cannot change the analysis; logging out ends access. Screenshots of the login, sharing
and audit views go to /tmp.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import oidc_provider_mock
import pytest

from metacore.store import Store, User
from metacore.store.project import from_json, to_json
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SUMMARY,
    free_port,
    go_to,
    streamlit_process,
    wait_for_app,
)

SHOTS = Path("/tmp")
USERS = {"alice": ("Alice Adams", "alice@example.org"), "bob": ("Bob Brown", "bob@example.org")}


@contextlib.contextmanager
def provider() -> Iterator[str]:
    """A real OpenID Connect provider on a loopback port, alice and bob known to it."""
    users = [oidc_provider_mock.User(sub=sub, claims={"name": name, "email": email,
                                                       "email_verified": True})
             for sub, (name, email) in USERS.items()]
    with oidc_provider_mock.run_server_in_thread(port=free_port(), user_claims=users) as srv:
        yield f"http://localhost:{srv.server_port}"


def write_secrets(path: Path, app_port: int, issuer: str, **metacore) -> Path:
    """The ``[auth]`` section a deployment writes, pointed at the test's provider."""
    lines = ["[auth]", f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"',
             f'cookie_secret = "{secrets.token_hex(32)}"', 'client_id = "metacore"',
             'client_secret = "not-so-secret"',
             f'server_metadata_url = "{issuer}/.well-known/openid-configuration"']
    if metacore:
        lines += ["", "[metacore]", *(f"{k} = {json.dumps(v)}" for k, v in metacore.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accounts")
    db = f"sqlite:///{tmp / 'metacore.db'}"
    port = free_port()
    with provider() as issuer:
        env = {"METACORE_DB": db,
               "STREAMLIT_SECRETS_FILES": str(write_secrets(tmp / "secrets.toml", port,
                                                            issuer))}
        with streamlit_process(port=port, env=env) as (url, _):
            yield url, issuer, Store(db, accounts=True)


@contextlib.contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def person(b, viewport=(1440, 1000)):
    """A browser profile of its own: its own cookies, as a second person has."""
    context = b.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                            accept_downloads=True)
    context.set_default_timeout(30_000)
    return context.new_page()


def settled(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)


def click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()
    settled(page)


def log_in(page, url: str, who: str) -> None:
    page.goto(url)
    page.locator(".st-key-login button").wait_for()
    click(page, "login")
    # the provider's own page: pick the user (its form posts back to the app)
    page.get_by_role("button", name=who, exact=True).click()
    page.wait_for_url(re.compile(r"^" + re.escape(url)))
    page.locator(".st-key-logout button").wait_for()
    settled(page)


def summary(page) -> str:
    page.locator(SUMMARY).first.wait_for()
    return page.locator(SUMMARY).first.inner_text()


def choose(page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with ``key`` (opened by its combobox input)."""
    box = page.locator(f".st-key-{key} [data-testid='stSelectbox']").first
    box.scroll_into_view_if_needed()
    box.locator("input").first.click()
    page.get_by_role("option", name=option).first.click()
    settled(page)


# the text a keyed widget shows, its inputs' values included
SHOWN = """([key, want]) => Array.from(document.querySelectorAll('.st-key-' + key)).some(
  el => (el.innerText + ' ' + Array.from(el.querySelectorAll('input'))
         .map(i => i.value).join(' ')).includes(want))"""


def text(page) -> str:
    return page.locator("[data-testid='stApp']").inner_text()


def test_alice_bob_sharing_links_and_logging_out(server):
    url, issuer, db = server
    alice = User(issuer, "alice", *USERS["alice"])
    with browser() as b:
        a, bob, visitor = person(b), person(b), person(b)

        # --- alice logs in and saves ---------------------------------------------------
        a.goto(url)
        a.locator(".st-key-login button").wait_for()
        assert "nothing else" in text(a)
        a.screenshot(path=str(SHOTS / "accounts_login.png"))
        log_in(a, url, "alice")
        wait_for_app(a)
        assert "Alice Adams" in a.locator("[data-testid='stSidebar']").inner_text()
        choose(a, "measure", "Odds ratio (OR)")
        a.locator(".st-key-analysis_name input").fill("Alice's BCG review")
        a.locator(".st-key-analysis_name input").press("Enter")
        settled(a)
        click(a, "save_analysis")
        a.wait_for_function("() => location.search.includes('analysis=')")
        aid = re.search(r"analysis=([\w-]{22})", a.url).group(1)
        before = summary(a)
        assert "OR" in before

        # --- issue 23 item 10: the id stays in the address on every page, reload, Back --
        go_to(a, "Data")
        settled(a)
        assert f"analysis={aid}" in a.url
        a.reload()
        a.locator(".st-key-logout button").wait_for()
        settled(a)
        assert f"analysis={aid}" in a.url
        assert "No saved analysis" not in text(a)
        go_to(a, "Forest & heterogeneity")
        wait_for_app(a)
        assert summary(a) == before                          # the saved analysis, not BCG
        a.go_back()
        settled(a)
        assert f"analysis={aid}" in a.url

        # --- issue 23 item 11: the project file downloads and opens again ---------------
        go_to(a, "Saved analyses")
        a.locator(".st-key-dl_project button").wait_for()
        with a.expect_download() as dl:
            click(a, "dl_project")
        path = Path(dl.value.path())
        project = from_json(path.read_bytes())
        assert project.settings["measure"] == "OR" and len(project.table) == 13
        # opened again as a file (with another measure, to see it take effect)
        edited = path.with_name("edited_project.json")
        edited.write_text(to_json(replace(project, settings={**project.settings,
                                                             "measure": "RD"})))
        a.locator(".st-key-project_upload input[type=file]").set_input_files(str(edited))
        settled(a)
        click(a, "project_open")
        a.wait_for_function(SHOWN, arg=["measure", "(RD)"])

        # --- bob cannot list, open or overwrite it --------------------------------------
        log_in(bob, url, "bob")
        go_to(bob, "Saved analyses")
        bob.get_by_text("Nothing is saved yet").wait_for()
        bob.goto(f"{url}/?analysis={aid}")
        bob.get_by_text("No saved analysis has this id").first.wait_for()
        wait_for_app(bob)
        assert "RR 0.49" in summary(bob)
        click(bob, "save_analysis")             # his own new analysis, never a version of hers
        assert db.load(aid, user=alice)[1] == 1

        # --- alice shares read-only with bob ---------------------------------------------
        go_to(a, "Saved analyses")
        a.locator(".st-key-share_email input").fill("bob@example.org")
        click(a, "share_add")
        a.get_by_text("Shared with bob@example.org as viewer").wait_for()
        a.locator(".st-key-share_email").scroll_into_view_if_needed()
        a.screenshot(path=str(SHOTS / "accounts_sharing.png"), full_page=True)

        bob.goto(f"{url}/?analysis={aid}")
        wait_for_app(bob)
        assert summary(bob) == before                   # he opens it
        assert "view this analysis but not change it" in text(bob)
        choose(bob, "tau2_method", "DerSimonian-Laird (DL)")      # and explores
        assert summary(bob) != before
        click(bob, "save_analysis")
        bob.get_by_text("copy of your own").first.wait_for()
        assert f"analysis={aid}" not in bob.url
        project, version = db.load(aid, user=alice)
        assert version == 1 and project.settings["tau2_method"] == "REML"

        # --- alice revokes: bob's next load is refused --------------------------------------
        a.reload()
        a.locator(".st-key-logout button").wait_for()
        settled(a)
        click(a, "access_revoke")
        a.get_by_text("Access revoked").wait_for()
        bob.goto(f"{url}/?analysis={aid}")
        bob.get_by_text("No saved analysis has this id").first.wait_for()

        # --- a read-only link, opened without logging in -----------------------------------
        click(a, "link_create")
        a.get_by_text("shown only this once").wait_for()
        link = a.locator("[data-testid='stMain'] [data-testid='stCode']").first.inner_text()
        token = link.strip().split("?link=", 1)[1]
        assert aid not in link
        a.get_by_text("Activity log").first.click()
        settled(a)
        a.get_by_text("Activity log").first.scroll_into_view_if_needed()
        a.screenshot(path=str(SHOTS / "accounts_audit.png"), full_page=True)
        log = {e.action for e in db.audit(aid, user=alice)}
        assert {"save", "share", "copy", "denied", "revoke"} <= log

        visitor.goto(f"{url}/?link={token}")
        wait_for_app(visitor)
        assert summary(visitor) == before
        assert visitor.locator(".st-key-logout").count() == 0
        choose(visitor, "tau2_method", "Paule-Mandel (PM)")       # exploring is allowed
        click(visitor, "save_analysis")
        visitor.get_by_text("Log in to save").first.wait_for()
        assert f"link={token}" in visitor.url
        go_to(visitor, "Saved analyses")            # nothing listed; asked to log in
        visitor.locator(".st-key-saved_login button").wait_for()
        assert visitor.locator("[data-testid='stException']").count() == 0
        assert f"link={token}" in visitor.url
        project, version = db.load(aid, user=alice)
        assert version == 1 and project.settings["tau2_method"] == "REML"

        # --- logging out ends access at once ------------------------------------------------
        click(a, "logout")
        # the provider asks to confirm the end of its own session, then sends her back
        a.get_by_role("button", name="End session").click()
        a.locator(".st-key-login button").wait_for()
        a.goto(f"{url}/?analysis={aid}")
        a.locator(".st-key-login button").wait_for()
        assert "Log in to open the analysis" in text(a)
        assert "Alice's BCG review" not in text(a)


def test_a_login_holds_on_every_process_of_the_hall(tmp_path):
    """``make hall``: several Streamlit processes behind nginx. The login cookie is signed
    with the [auth] cookie secret every process reads, so each process accepts it. nginx
    picks the process by the browser's route cookie: eight routes reach both of two
    processes but with probability 2^-7."""
    port, first = free_port(), free_port()
    with provider() as issuer:
        env = {**os.environ, "METACORE_DB": f"sqlite:///{tmp_path / 'hall.db'}",
               "STREAMLIT_SECRETS_FILES": str(write_secrets(tmp_path / "secrets.toml", port,
                                                            issuer))}
        hall = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "hall.py"), "--workers",
                                 "2", "--port", str(port), "--first-port", str(first)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                        break
                except OSError:
                    assert hall.poll() is None and time.monotonic() < deadline, "no hall"
                    time.sleep(0.5)
            with browser() as b:
                page = person(b)
                log_in(page, url, "alice")
                for route in range(8):
                    page.context.add_cookies([{"name": "metacore_route", "value": f"r{route}",
                                               "url": url}])
                    page.goto(url)
                    page.locator(".st-key-logout button").wait_for()
                    assert "Alice Adams" in page.locator("[data-testid='stSidebar']").inner_text()
        finally:
            hall.terminate()
            hall.wait(timeout=30)
