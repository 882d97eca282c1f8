"""The tables of the store, their migration from earlier schema versions, ids and errors.

Schema 1 (issue 11) held analyses, their versions, the tables they share and the drafts.
Schema 2 (issue 24) gives every analysis, version and draft an owner, and adds users,
teams, shares, read-only links and the audit log. Opening a schema-1 database migrates
it in place: every analysis saved before belongs to the "local" owner, which the first
administrator can claim. Both steps are plain SQLAlchemy Core, so they run the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa

from metacore.errors import MetacoreError

__all__ = ["SCHEMA_VERSION", "Forbidden", "NotFound", "StoreError", "is_valid_id",
           "is_valid_token", "migrate"]

SCHEMA_VERSION = 2
#: The owner of everything saved in single-user mode and before accounts existed.
LOCAL_ID = "local"
KIND = "analysis"
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class StoreError(MetacoreError):
    """The database cannot be reached or holds something unreadable."""


class NotFound(MetacoreError):
    """No saved analysis (or version, or draft) has this id — or none the user may see:
    the two are one error with one message, so nobody learns which ids exist."""


class Forbidden(MetacoreError):
    """The user may see this analysis but not do this to it (save over it as a viewer,
    share or delete it without owning it)."""


def is_valid_id(text: object) -> bool:
    """True for the shape of an analysis id (22 URL-safe characters), before any query.

    >>> is_valid_id("' OR '1'='1"), is_valid_id("../../etc/passwd"), is_valid_id("a" * 22)
    (False, False, True)
    """
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def is_valid_token(text: object) -> bool:
    """True for the shape of a read-only link token (43 URL-safe characters, 256 bits).

    >>> is_valid_token("a" * 43), is_valid_token("a" * 22), is_valid_token(None)
    (True, False, False)
    """
    return isinstance(text, str) and _TOKEN.fullmatch(text) is not None


def now() -> datetime:
    """The time stamps of the store (UTC); tests move the clock by replacing this."""
    return datetime.now(UTC)


def aware(t: datetime) -> datetime:
    # SQLite returns naive datetimes; they were stored in UTC
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _when(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


META = sa.MetaData()
schema_info = sa.Table("schema_info", META, sa.Column("version", sa.Integer, nullable=False))
tables = sa.Table(
    "tables", META, sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("body", sa.Text, nullable=False), sa.Column("n_rows", sa.Integer, nullable=False),
    _when("created", nullable=False))
# Owner columns carry no foreign key: SQLite cannot add a column with one to an existing
# table, and the schema-1 tables get theirs by ALTER TABLE. The store writes them.
analyses = sa.Table(
    "analyses", META, sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    _when("created", nullable=False), _when("updated", nullable=False),
    sa.Column("latest", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(64), nullable=False, server_default=LOCAL_ID, index=True),
    sa.Column("kind", sa.String(20), nullable=False, server_default=KIND),
    sa.Column("copied_from", sa.String(22)))
versions = sa.Table(
    "versions", META,
    sa.Column("analysis_id", sa.String(22), sa.ForeignKey("analyses.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    _when("saved", nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("example", sa.String(40)), sa.Column("measure", sa.String(10), nullable=False),
    sa.Column("k", sa.Integer, nullable=False),
    sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False), sa.Column("settings", sa.Text, nullable=False),
    sa.Column("saved_by", sa.String(64), nullable=False, server_default=LOCAL_ID))
drafts = sa.Table(
    "drafts", META, sa.Column("key", sa.String(64), primary_key=True),
    _when("updated", nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("example", sa.String(40)), sa.Column("analysis_id", sa.String(22)),
    sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False), sa.Column("settings", sa.Text, nullable=False),
    sa.Column("owner", sa.String(64), nullable=False, server_default=LOCAL_ID),
    sa.Column("kind", sa.String(20), nullable=False, server_default=KIND))

# --- schema 2: accounts ----------------------------------------------------------------------

users = sa.Table(
    "users", META, sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("issuer", sa.String(300), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, index=True),
    _when("created", nullable=False), _when("seen", nullable=False),
    sa.UniqueConstraint("issuer", "subject"))
teams = sa.Table(
    "teams", META, sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    _when("created", nullable=False))
team_members = sa.Table(
    "team_members", META,
    sa.Column("team_id", sa.String(22), sa.ForeignKey("teams.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("email", sa.String(320), primary_key=True, index=True),
    _when("added", nullable=False))
shares = sa.Table(
    "shares", META, sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("analysis_id", sa.String(22), sa.ForeignKey("analyses.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("email", sa.String(320), index=True),      # a named user, or
    sa.Column("team_id", sa.String(22), sa.ForeignKey("teams.id", ondelete="CASCADE")),
    sa.Column("role", sa.String(10), nullable=False),
    _when("created", nullable=False), sa.Column("created_by", sa.String(64), nullable=False),
    sa.UniqueConstraint("analysis_id", "email"), sa.UniqueConstraint("analysis_id", "team_id"))
links = sa.Table(
    "links", META, sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("analysis_id", sa.String(22), sa.ForeignKey("analyses.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _when("created", nullable=False), sa.Column("created_by", sa.String(64), nullable=False),
    _when("expires"), _when("revoked"))
audit = sa.Table(
    "audit", META, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _when("at", nullable=False),
    sa.Column("actor", sa.String(64)),       # a user id; None for a visitor not logged in
    sa.Column("action", sa.String(20), nullable=False),
    # no foreign key: the record of a deletion outlives the analysis
    sa.Column("analysis_id", sa.String(22), index=True),
    sa.Column("detail", sa.String(500), nullable=False))
local_claim = sa.Table(
    "local_claim", META, sa.Column("id", sa.String(10), primary_key=True),
    sa.Column("claimed_by", sa.String(64), nullable=False), _when("at", nullable=False))

#: Columns schema 2 added to the tables of schema 1: (table, column, SQL type, default).
_ADDED = (("analyses", "owner", "VARCHAR(64)", LOCAL_ID),
          ("analyses", "kind", "VARCHAR(20)", KIND),
          ("analyses", "copied_from", "VARCHAR(22)", None),
          ("versions", "saved_by", "VARCHAR(64)", LOCAL_ID),
          ("drafts", "owner", "VARCHAR(64)", LOCAL_ID),
          ("drafts", "kind", "VARCHAR(20)", KIND))


def _local_row(conn) -> None:
    if conn.execute(sa.select(users.c.id).where(users.c.id == LOCAL_ID)).first() is None:
        t = now()
        conn.execute(users.insert().values(id=LOCAL_ID, issuer="metacore", subject=LOCAL_ID,
                                           name="Local owner", email="", created=t, seen=t))


def _to_2(conn) -> None:
    """Schema 1 -> 2: owner, kind and provenance columns (existing rows get "local" and
    "analysis" from the column defaults), then the new tables."""
    have = {t: {c["name"] for c in sa.inspect(conn).get_columns(t)}
            for t in ("analyses", "versions", "drafts")}
    for table, column, kind, default in _ADDED:
        if column in have[table]:
            continue        # a migration cut short earlier got this far
        extra = f" NOT NULL DEFAULT '{default}'" if default is not None else ""
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}{extra}"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_analyses_owner ON analyses (owner)"))


_STEPS = {1: _to_2}


def migrate(engine: sa.Engine) -> int:
    """Create the tables of a new database, or bring an older one to :data:`SCHEMA_VERSION`.

    Returns the schema version found before (0 for a new database). Each step keeps every
    row; a database written by a newer metacore is refused rather than misread.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several processes (make hall) may open one database at once: one migrates,
            # the others wait here and then find it done
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(724024)"))
        existing = set(sa.inspect(conn).get_table_names())
        found = 0
        if "schema_info" in existing:
            found = conn.execute(sa.select(schema_info.c.version)).scalar() or 0
        if found > SCHEMA_VERSION:
            raise StoreError(f"The database was written by a newer metacore (schema "
                             f"{found}; this one reads {SCHEMA_VERSION}).")
        for step in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
            _STEPS[step](conn)
        META.create_all(conn)       # the new tables (and every table of a new database)
        _local_row(conn)
        if found == 0:
            conn.execute(schema_info.delete())
            conn.execute(schema_info.insert().values(version=SCHEMA_VERSION))
        elif found < SCHEMA_VERSION:
            conn.execute(schema_info.update().values(version=SCHEMA_VERSION))
    return found
