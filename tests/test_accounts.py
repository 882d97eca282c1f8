"""Issue 24, store side: owners, shares, read-only links, teams, drafts per user, the audit
log and the migration from schema 1 — on SQLite and on a real PostgreSQL server.

Two users, alice and bob (carol joins through a team); every operation allowed or refused
as metacore.store.accounts says, and the refusals indistinguishable from unknown ids.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import metacore as mc
from metacore.store import (
    LOCAL,
    Forbidden,
    NotFound,
    Store,
    User,
    is_valid_token,
)
from metacore.store import schema as S
from metacore.store.project import Project

ISSUER = "https://login.example.org/realms/clinic"
ALICE = User(ISSUER, "sub-alice", "Alice Archer", "alice@example.org")
BOB = User(ISSUER, "sub-bob", "Bob Baker", "Bob@Example.org")
CAROL = User("https://accounts.google.com", "1077", "Carol", "carol@example.org")
#: Same email as alice, another provider: not alice (ownership is issuer + subject).
MALLORY = User("https://evil.example.net", "sub-alice", "Alice Archer", "")
UNKNOWN = "No saved analysis has this id."
BAD_LINK = "This link does not open any analysis"


def _project(name="BCG", **settings) -> Project:
    table = mc.datasets.load("bcg")
    table.insert(0, "include", True)
    return Project(table, {"measure": "RR", "tau2_method": "REML", **settings}, name=name,
                   source="BCG vaccine", example="bcg")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accounts.db'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def db(url):
    store = Store(url, accounts=True)
    yield store
    store.engine.dispose()


@pytest.fixture
def aid(db):
    """An analysis of alice's with two versions."""
    aid, _ = db.save(_project("Alice's BCG"), user=ALICE)
    db.save(_project("Alice's BCG, DL", tau2_method="DL"), aid, user=ALICE)
    return aid


def _refused_as_unknown(call) -> None:
    with pytest.raises(NotFound) as err:
        call()
    assert str(err.value) == UNKNOWN


def _latest(db, aid) -> int:
    return db.load(aid, user=ALICE)[1]


# --- owner and stranger -------------------------------------------------------------------

def test_the_owner_does_everything(db, aid):
    assert [a.id for a in db.list(user=ALICE)] == [aid]
    info = db.list(user=ALICE)[0]
    assert (info.role, info.owner, info.version, info.kind) == \
        ("owner", "Alice Archer <alice@example.org>", 2, "analysis")
    project, version = db.load(aid, user=ALICE)
    assert version == 2 and project.settings["tau2_method"] == "DL"
    assert db.load(aid, 1, user=ALICE)[0].settings["tau2_method"] == "REML"
    assert [v.version for v in db.versions(aid, user=ALICE)] == [2, 1]
    assert db.save(_project("v3"), aid, user=ALICE) == (aid, 3)
    assert db.role(aid, user=ALICE) == "owner"
    db.delete(aid, user=ALICE)
    _refused_as_unknown(lambda: db.load(aid, user=ALICE))


def test_a_stranger_can_do_nothing_and_cannot_tell_it_exists(db, aid):
    unknown = "Q" * 22
    assert db.list(user=BOB) == []
    for target in (aid, unknown):      # the same error, the same words, for both
        _refused_as_unknown(lambda t=target: db.load(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.load(t, 1, user=BOB))
        _refused_as_unknown(lambda t=target: db.versions(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.save(_project("bob was here"), t, user=BOB))
        _refused_as_unknown(lambda t=target: db.save_copy(_project(), t, user=BOB))
        _refused_as_unknown(lambda t=target: db.delete(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.share(t, "bob@example.org", user=BOB))
        _refused_as_unknown(lambda t=target: db.create_link(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.access(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.revoke(t, "R" * 22, user=BOB))
        _refused_as_unknown(lambda t=target: db.audit(t, user=BOB))
        _refused_as_unknown(lambda t=target: db.role(t, user=BOB))
    # the same issuer-less twin of alice (another provider, same subject) is a stranger too
    _refused_as_unknown(lambda: db.load(aid, user=MALLORY))
    assert db.list(user=MALLORY) == []
    # nothing changed: still two versions, alice's
    assert [v.version for v in db.versions(aid, user=ALICE)] == [2, 1]
    assert db.load(aid, user=ALICE)[0].name == "Alice's BCG, DL"


def test_without_a_user_a_server_with_accounts_shows_nothing(db, aid):
    # a page that forgets to pass the user is a visitor who is not logged in
    assert db.list() == []
    _refused_as_unknown(lambda: db.load(aid))
    _refused_as_unknown(lambda: db.versions(aid))
    _refused_as_unknown(lambda: db.delete(aid))
    with pytest.raises(Forbidden, match="Log in to save"):
        db.save(_project(), aid)
    with pytest.raises(Forbidden, match="Log in to save"):
        db.save(_project())
    assert len(db.list(user=ALICE)) == 1


# --- shares --------------------------------------------------------------------------------

def test_a_viewer_opens_but_saving_makes_their_own_copy(db, aid):
    grant = db.share(aid, "BOB@example.org ", "viewer", user=ALICE)
    info, = db.list(user=BOB)
    assert (info.id, info.role, info.owner) == (aid, "viewer", "Alice Archer <alice@example.org>")
    assert db.role(aid, user=BOB) == "viewer"
    assert db.load(aid, user=BOB)[1] == 2
    assert db.load(aid, 1, user=BOB)[0].settings["tau2_method"] == "REML"
    assert len(db.versions(aid, user=BOB)) == 2
    with pytest.raises(Forbidden, match="save a copy"):
        db.save(_project("bob's what-if", tau2_method="PM"), aid, user=BOB)
    for call in (lambda: db.delete(aid, user=BOB),
                 lambda: db.share(aid, "carol@example.org", user=BOB),
                 lambda: db.create_link(aid, user=BOB),
                 lambda: db.access(aid, user=BOB),
                 lambda: db.revoke(aid, grant, user=BOB),
                 lambda: db.audit(aid, user=BOB)):
        with pytest.raises(Forbidden, match="Only the analysis's owner"):
            call()
    copy, version = db.save_copy(_project("bob's what-if", tau2_method="PM"), aid, user=BOB)
    assert copy != aid and version == 1
    assert _latest(db, aid) == 2                                # the original is untouched
    assert {a.id: a.role for a in db.list(user=BOB)} == {aid: "viewer", copy: "owner"}
    assert [a.id for a in db.list(user=ALICE)] == [aid]         # bob's copy is his alone
    _refused_as_unknown(lambda: db.load(copy, user=ALICE))
    assert db.save(_project("bob v2"), copy, user=BOB) == (copy, 2)


def test_an_editor_saves_new_versions_but_does_not_own(db, aid):
    db.share(aid, "bob@example.org", "viewer", user=ALICE)
    db.share(aid, "bob@example.org", "editor", user=ALICE)      # sharing again: new role
    assert [g.role for g in db.access(aid, user=ALICE)] == ["editor"]
    assert db.role(aid, user=BOB) == "editor"
    assert db.save(_project("Bob's edit", tau2_method="SJ"), aid, user=BOB) == (aid, 3)
    project, version = db.load(aid, user=ALICE)
    assert version == 3 and project.settings["tau2_method"] == "SJ"
    with db.engine.connect() as conn:
        owner, saved_by = conn.execute(
            sa.select(S.analyses.c.owner, S.versions.c.saved_by)
            .join(S.versions, S.versions.c.analysis_id == S.analyses.c.id)
            .where(S.versions.c.version == 3)).one()
    assert owner == ALICE.id and saved_by == BOB.id
    with pytest.raises(Forbidden, match="an editor"):
        db.delete(aid, user=BOB)
    with pytest.raises(Forbidden):
        db.share(aid, "carol@example.org", "editor", user=BOB)
    assert db.list(user=ALICE)[0].role == "owner"


def test_revoking_ends_access_at_once_and_drops_the_draft(db, aid):
    grant = db.share(aid, "bob@example.org", "viewer", user=ALICE)
    secret = "b" * 32
    project, _ = db.load(aid, user=BOB)
    db.save_draft(secret, project, aid, user=BOB)
    assert db.load_draft(secret, user=BOB)[1] == aid
    g, = db.access(aid, user=ALICE)
    assert (g.id, g.kind, g.who, g.role, g.active) == \
        (grant, "user", "bob@example.org", "viewer", True)
    db.revoke(aid, grant, user=ALICE)
    assert db.access(aid, user=ALICE) == []
    assert db.list(user=BOB) == []
    _refused_as_unknown(lambda: db.load(aid, user=BOB))
    assert db.load_draft(secret, user=BOB) is None      # the draft held alice's table
    with pytest.raises(NotFound, match="no such share"):
        db.revoke(aid, grant, user=ALICE)


def test_sharing_is_checked(db, aid):
    with pytest.raises(mc.OptionError, match="not an email address"):
        db.share(aid, "bob at example", user=ALICE)
    with pytest.raises(mc.OptionError, match="role"):
        db.share(aid, "bob@example.org", "owner", user=ALICE)
    with pytest.raises(mc.OptionError, match="own this analysis"):
        db.share(aid, "alice@example.org", user=ALICE)
    # an email only counts when the provider vouched for it
    unverified = User.from_claims({"iss": ISSUER, "sub": "x9", "email": "bob@example.org",
                                   "email_verified": False})
    db.share(aid, "bob@example.org", user=ALICE)
    assert unverified.email == "" and db.list(user=unverified) == []
    assert [a.id for a in db.list(user=BOB)] == [aid]


# --- teams ----------------------------------------------------------------------------------

def test_a_team_gives_its_members_the_share_and_the_owner_manages_it(db, aid):
    team = db.create_team("Cardiology", ["carol@example.org"], user=ALICE)
    assert [(t.name, t.members) for t in db.teams(user=ALICE)] == \
        [("Cardiology", ("carol@example.org",))]
    assert db.teams(user=BOB) == []
    db.share_team(aid, team, "editor", user=ALICE)
    assert db.role(aid, user=CAROL) == "editor"
    assert db.save(_project("Carol's"), aid, user=CAROL) == (aid, 3)
    _refused_as_unknown(lambda: db.load(aid, user=BOB))
    # only alice manages her team; to anyone else it does not exist
    for call in (lambda: db.add_member(team, "bob@example.org", user=BOB),
                 lambda: db.share_team(aid, team, user=BOB),
                 lambda: db.delete_team(team, user=BOB)):
        with pytest.raises(NotFound, match="no team with this id"):
            call()
    db.add_member(team, "bob@example.org", user=ALICE)
    assert db.role(aid, user=BOB) == "editor"
    # a personal share and a team share: the higher role wins
    db.share(aid, "bob@example.org", "viewer", user=ALICE)
    assert db.role(aid, user=BOB) == "editor"
    db.remove_member(team, "carol@example.org", user=ALICE)
    _refused_as_unknown(lambda: db.load(aid, user=CAROL))
    db.delete_team(team, user=ALICE)
    assert db.role(aid, user=BOB) == "viewer"
    assert [g.kind for g in db.access(aid, user=ALICE)] == ["user"]


# --- read-only links --------------------------------------------------------------------------

def test_a_read_only_link_opens_without_login_and_never_saves(db, aid):
    grant, token = db.create_link(aid, user=ALICE)
    assert is_valid_token(token) and aid not in token and grant != aid
    project, version = db.load(token=token)                 # a visitor not logged in
    assert version == 2 and project.name == "Alice's BCG, DL"
    assert db.load(version=1, token=token)[0].settings["tau2_method"] == "REML"
    assert [v.version for v in db.versions(token=token)] == [2, 1]
    assert db.role(token=token) == "viewer"
    with pytest.raises(Forbidden, match="Log in"):
        db.save_copy(_project(), token=token)
    # the link is not a key to the id itself
    _refused_as_unknown(lambda: db.load(aid))
    # bob, logged in, with the link: opens it and saves his own copy
    copy, _ = db.save_copy(_project("bob's copy"), user=BOB, token=token)
    assert [a.id for a in db.list(user=BOB)] == [copy]
    assert _latest(db, aid) == 2
    # the database holds a hash, not the token
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(S.links.c.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64
    other, _ = db.save(_project("another"), user=ALICE)
    with pytest.raises(NotFound):
        db.load(other, token=token)            # a link opens its own analysis only


def test_links_guessed_tampered_revoked_or_expired_open_nothing(db, aid, monkeypatch):
    grant, token = db.create_link(aid, user=ALICE, expires=timedelta(days=7))
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, "A" * 43, token[:-1], token + "x", aid, "", "' OR 1=1 --" + "x" * 32,
                token.upper() if token.upper() != token else token.lower()):
        with pytest.raises(NotFound, match=BAD_LINK):
            db.load(token=bad)
    assert db.load(token=token)[1] == 2
    g, = db.access(aid, user=ALICE)
    assert g.kind == "link" and g.expires is not None and g.active
    # eight days later the link has expired
    later = datetime.now(UTC) + timedelta(days=8)
    monkeypatch.setattr(S, "now", lambda: later)
    with pytest.raises(NotFound, match=BAD_LINK):
        db.load(token=token)
    assert db.access(aid, user=ALICE) == []
    assert [x.active for x in db.access(aid, user=ALICE, include_ended=True)] == [False]
    monkeypatch.undo()
    # revoked: refused at once, with the same words
    _, second = db.create_link(aid, user=ALICE)
    assert db.load(token=second)[1] == 2
    grant2 = [x.id for x in db.access(aid, user=ALICE)][-1]
    db.revoke(aid, grant2, user=ALICE)
    with pytest.raises(NotFound, match=BAD_LINK):
        db.load(token=second)
    with pytest.raises(NotFound, match=BAD_LINK):
        db.save_copy(_project(), user=BOB, token=second)
    with pytest.raises(mc.OptionError, match="future"):
        db.create_link(aid, user=ALICE, expires=timedelta(seconds=-1))
    # deleting the analysis ends its links
    _, third = db.create_link(aid, user=ALICE)
    db.delete(aid, user=ALICE)
    with pytest.raises(NotFound, match=BAD_LINK):
        db.load(token=third)


def test_ids_and_tokens_are_checked_for_form_before_any_query(db, aid):
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lower())

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        for bad in ("../../etc/passwd", "' OR '1'='1", "x" * 400, "", aid + "'", aid[:-1]):
            with pytest.raises(NotFound, match="not a valid analysis id"):
                db.load(bad, user=ALICE)
        with pytest.raises(NotFound, match=BAD_LINK):
            db.load(token="' OR '1'='1")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    # the only statements were the refusals written to the log
    assert statements and all(s.startswith("insert into audit") for s in statements)


# --- drafts ---------------------------------------------------------------------------------

def test_drafts_belong_to_a_user_even_in_one_browser(db, aid):
    secret = "shared-browser-cookie-0123456789"
    db.save_draft(secret, _project("alice's draft"), aid, user=ALICE)
    assert db.load_draft(secret, user=BOB) is None          # same cookie, another user
    db.save_draft(secret, _project("bob's draft"), user=BOB)
    assert db.load_draft(secret, user=ALICE)[0].name == "alice's draft"
    assert db.load_draft(secret, user=ALICE)[1] == aid
    assert db.load_draft(secret, user=BOB)[0].name == "bob's draft"
    db.discard_draft(secret, user=BOB)
    assert db.load_draft(secret, user=BOB) is None
    assert db.load_draft(secret, user=ALICE)[0].name == "alice's draft"
    # a visitor not logged in keeps no drafts and reads none
    assert db.load_draft(secret) is None
    with pytest.raises(Forbidden):
        db.save_draft(secret, _project())
    # bob's draft may not name alice's analysis (no probing of ids through drafts)
    db.save_draft(secret, _project("probe"), aid, user=BOB)
    assert db.load_draft(secret, user=BOB)[1] is None
    with db.engine.connect() as conn:
        keys = conn.execute(sa.select(S.drafts.c.key)).scalars().all()
    assert len(keys) == 2 and not any(secret in k for k in keys)
    for bad in ("short", "x" * 200, "a b" * 10, None):
        assert db.load_draft(bad, user=ALICE) is None


# --- audit ----------------------------------------------------------------------------------

def test_the_owner_reads_who_did_what_when(db, aid):
    grant = db.share(aid, "bob@example.org", "viewer", user=ALICE)
    with pytest.raises(Forbidden):
        db.save(_project(), aid, user=BOB)
    db.save_copy(_project(), aid, user=BOB)
    _, token = db.create_link(aid, user=ALICE)
    db.load(token=token)
    db.revoke(aid, grant, user=ALICE)
    with pytest.raises(NotFound):
        db.load(aid, user=BOB)
    log = db.audit(aid, user=ALICE)
    got = [(e.action, e.actor, e.detail) for e in reversed(log)]
    alice, bob = "Alice Archer <alice@example.org>", "Bob Baker <bob@example.org>"
    assert got[:4] == [("save", alice, "version 1"), ("save", alice, "version 2"),
                       ("share", alice, "bob@example.org as viewer"),
                       ("denied", bob, "save: as viewer")]
    assert got[4][:2] == ("copy", bob) and got[5][:2] == ("share", alice)
    assert got[5][2].startswith("read-only link")
    assert got[6:] == [("revoke", alice, "bob@example.org (viewer)"),
                       ("denied", bob, "open: not visible to this user")]
    assert all(e.analysis_id == aid for e in log)
    assert log[0].at >= log[-1].at and log[0].at.tzinfo is not None
    # a deletion is recorded too (read here from the table: the analysis is gone)
    db.delete(aid, user=ALICE)
    with db.engine.connect() as conn:
        last = conn.execute(sa.select(S.audit).order_by(S.audit.c.id.desc())).first()
    assert (last.action, last.actor, last.analysis_id) == ("delete", ALICE.id, aid)


# --- users, the local owner and the single-user API ------------------------------------------

def test_users_are_issuer_and_subject_and_store_nothing_else(db, aid):
    assert ALICE.id != MALLORY.id and BOB.email == "bob@example.org"
    assert User.from_claims({"iss": ISSUER, "sub": "sub-alice", "name": "A.",
                             "email": "alice@example.org", "email_verified": True}).id == ALICE.id
    with pytest.raises(mc.OptionError, match="issuer"):
        User.from_claims({"sub": "1", "email": "a@b.org"})
    with pytest.raises(mc.OptionError, match="subject"):
        User(ISSUER, "")
    db.sign_in(User(ISSUER, "sub-alice", "Alice A.", "alice@example.org"))
    with db.engine.connect() as conn:
        cols = [c.name for c in S.users.columns]
        row = conn.execute(sa.select(S.users).where(S.users.c.id == ALICE.id)).one()
    assert cols == ["id", "issuer", "subject", "name", "email", "created", "seen"]
    assert (row.issuer, row.subject, row.name, row.email) == \
        (ISSUER, "sub-alice", "Alice A.", "alice@example.org")


def test_the_local_owner_is_claimed_by_the_first_administrator(url):
    single = Store(url)                                     # single-user mode
    old, _ = single.save(_project("from before"))
    accounts = Store(url, accounts=True)
    assert accounts.list(user=ALICE) == []
    _refused_as_unknown(lambda: accounts.load(old, user=ALICE))
    with pytest.raises(mc.OptionError):
        accounts.claim_local(user=LOCAL)
    assert accounts.claim_local(user=ALICE) == 1
    assert [a.id for a in accounts.list(user=ALICE)] == [old]
    assert single.list() == []                              # local holds nothing now
    assert accounts.audit(old, user=ALICE)[0].action == "claim"
    # a second administrator cannot take it; the first can claim again later
    with pytest.raises(Forbidden, match="another administrator"):
        accounts.claim_local(user=BOB)
    single.save(_project("saved later in single-user mode"))
    assert accounts.claim_local(user=ALICE) == 1
    assert len(accounts.list(user=ALICE)) == 2
    single.engine.dispose()
    accounts.engine.dispose()


def test_single_user_calls_act_as_the_local_owner(url):
    single = Store(url)
    aid, _ = single.save(_project())
    assert single.save(_project("v2"), aid) == (aid, 2)
    info, = single.list()
    assert (info.role, info.owner) == ("owner", "Local owner")
    assert single.role(aid) == "owner"
    single.save_draft("d" * 30, _project("draft"), aid)
    assert single.load_draft("d" * 30)[1] == aid
    # an explicit user on the same database sees none of it, and vice versa
    accounts = Store(url, accounts=True)
    mine, _ = accounts.save(_project(), user=ALICE)
    _refused_as_unknown(lambda: single.load(mine))
    assert [a.id for a in single.list()] == [aid]
    single.delete(aid)
    single.engine.dispose()
    accounts.engine.dispose()


# --- the migration from schema 1 ---------------------------------------------------------------

def _schema_1() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """The tables exactly as metacore's store created them at schema version 1 (commit
    7a506fd, metacore/store/database.py), to build the databases users have today."""
    meta = sa.MetaData()

    def when(name):
        return sa.Column(name, sa.DateTime(timezone=True), nullable=False)

    t = {
        "schema_info": sa.Table("schema_info", meta,
                                sa.Column("version", sa.Integer, nullable=False)),
        "tables": sa.Table(
            "tables", meta, sa.Column("digest", sa.String(64), primary_key=True),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("n_rows", sa.Integer, nullable=False), when("created")),
        "analyses": sa.Table(
            "analyses", meta, sa.Column("id", sa.String(22), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False), when("created"),
            when("updated"), sa.Column("latest", sa.Integer, nullable=False)),
        "versions": sa.Table(
            "versions", meta,
            sa.Column("analysis_id", sa.String(22),
                      sa.ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("version", sa.Integer, primary_key=True), when("saved"),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("source", sa.String(300), nullable=False),
            sa.Column("example", sa.String(40)),
            sa.Column("measure", sa.String(10), nullable=False),
            sa.Column("k", sa.Integer, nullable=False),
            sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"),
                      nullable=False),
            sa.Column("mapping", sa.Text, nullable=False),
            sa.Column("settings", sa.Text, nullable=False)),
        "drafts": sa.Table(
            "drafts", meta, sa.Column("key", sa.String(64), primary_key=True),
            when("updated"), sa.Column("name", sa.String(200), nullable=False),
            sa.Column("source", sa.String(300), nullable=False),
            sa.Column("example", sa.String(40)), sa.Column("analysis_id", sa.String(22)),
            sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"),
                      nullable=False),
            sa.Column("mapping", sa.Text, nullable=False),
            sa.Column("settings", sa.Text, nullable=False)),
    }
    return meta, t


def _build_schema_1(url: str) -> dict:
    """A schema-1 database with two analyses (one of two versions) and a draft, written
    the way the schema-1 store wrote them."""
    meta, t = _schema_1()
    engine = sa.create_engine(url)
    meta.create_all(engine)
    now = datetime.now(UTC)
    digest, body = Store.table_body(_project())
    ids = {"bcg": "B" * 21 + "1", "mg": "M" * 21 + "2"}
    with engine.begin() as conn:
        conn.execute(t["schema_info"].insert().values(version=1))
        conn.execute(t["tables"].insert().values(digest=digest, body=body, n_rows=13,
                                                 created=now))
        for key, versions in (("bcg", ("REML", "DL")), ("mg", ("PM",))):
            conn.execute(t["analyses"].insert().values(
                id=ids[key], name=key, created=now, updated=now, latest=len(versions)))
            for v, method in enumerate(versions, start=1):
                conn.execute(t["versions"].insert().values(
                    analysis_id=ids[key], version=v, saved=now, name=f"{key} v{v}",
                    source="BCG vaccine", example="bcg", measure="RR", k=13,
                    table_digest=digest, mapping="[]",
                    settings=json.dumps({"measure": "RR", "tau2_method": method})))
        # schema 1 filed a draft under sha256("metacore-draft:" + the browser's secret)
        conn.execute(t["drafts"].insert().values(
            key=Store.draft_key("old-browser-secret-0123456789"), updated=now,
            name="work in progress", source="BCG vaccine", example="bcg",
            analysis_id=ids["bcg"], table_digest=digest, mapping="[]",
            settings=json.dumps({"measure": "OR"})))
    engine.dispose()
    return ids


def test_a_schema_1_database_is_migrated_keeping_every_analysis(url):
    ids = _build_schema_1(url)
    single = Store(url)
    assert (single.migrated_from, single.schema_version) == (1, 2)
    assert {a.id: a.version for a in single.list()} == {ids["bcg"]: 2, ids["mg"]: 1}
    assert single.load(ids["bcg"], 1)[0].settings["tau2_method"] == "REML"
    assert single.load(ids["bcg"])[0].settings["tau2_method"] == "DL"
    assert [v.version for v in single.versions(ids["bcg"])] == [2, 1]
    project, continues = single.load_draft("old-browser-secret-0123456789")
    assert project.name == "work in progress" and continues == ids["bcg"]
    with single.engine.connect() as conn:
        owners = conn.execute(sa.select(S.analyses.c.owner, S.analyses.c.kind)).all()
        saved_by = set(conn.execute(sa.select(S.versions.c.saved_by)).scalars())
    assert set(owners) == {("local", "analysis")} and saved_by == {"local"}
    # the migrated database takes new work of every kind
    assert single.save(_project("v3"), ids["bcg"]) == (ids["bcg"], 3)
    accounts = Store(url, accounts=True)
    assert accounts.migrated_from == 2                   # opening again changes nothing
    assert accounts.list(user=ALICE) == []
    assert accounts.claim_local(user=ALICE) == 2
    assert {a.id for a in accounts.list(user=ALICE)} == set(ids.values())
    accounts.share(ids["mg"], "bob@example.org", user=ALICE)
    assert [a.id for a in accounts.list(user=BOB)] == [ids["mg"]]
    single.engine.dispose()
    accounts.engine.dispose()


def test_a_database_from_a_newer_metacore_is_refused(url):
    Store(url).engine.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(S.schema_info.update().values(version=S.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(mc.store.StoreError, match="newer metacore"):
        Store(url)


def test_any_text_as_an_id_or_token_opens_nothing():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    db = Store("sqlite://", accounts=True)      # in memory: each refusal writes a log line
    project = _project()
    aid, _ = db.save(project, user=ALICE)
    _, token = db.create_link(aid, user=ALICE)
    near = st.builds(lambda i, c, s: s[:i] + c + s[i + 1:], st.integers(0, 42),
                     st.sampled_from("AZaz09-_"), st.sampled_from([aid + "x" * 21, token]))

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.text(max_size=60), near,
                     st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                             min_size=22, max_size=22)))
    def attempt(text):
        for call in (lambda: db.load(text, user=BOB), lambda: db.load(text),
                     lambda: db.load(token=text), lambda: db.versions(text, user=BOB),
                     lambda: db.save(project, text, user=BOB)):
            if text in (token, aid):
                continue
            with pytest.raises(NotFound):
                call()

    attempt()
    assert db.load(aid, user=ALICE)[1] == 1 and db.load(token=token)[1] == 1
    db.engine.dispose()
