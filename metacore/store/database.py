"""Saved analyses in a real database: SQLite by default, PostgreSQL by URL.

The database is the SQLAlchemy URL in ``METACORE_DB``; without it, an SQLite file in
the user's data directory (``$XDG_DATA_HOME/metacore`` or ``~/.local/share/metacore``),
created on first use. Saving again keeps every earlier version. Ids are random
(128 bits, URL-safe) and checked against their pattern before any query, and every
value reaches SQL as a bound parameter. Tables are stored once per content digest, so
versions and drafts of one table share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from metacore.errors import MetacoreError
from metacore.store.project import (
    Project,
    check_settings,
    clean_name,
    table_from_json,
    table_to_json,
)

__all__ = ["SCHEMA_VERSION", "AnalysisInfo", "NotFound", "Store", "StoreError", "default_url",
           "is_valid_id", "open_store"]

SCHEMA_VERSION = 1
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
#: Drafts not touched for this long are removed.
DRAFT_DAYS = 30


class StoreError(MetacoreError):
    """The database cannot be reached or holds something unreadable."""


class NotFound(MetacoreError):
    """No saved analysis (or version, or draft) has this id."""


def is_valid_id(text: object) -> bool:
    """True for the shape of an analysis id (22 URL-safe characters), before any query.

    >>> is_valid_id("' OR '1'='1"), is_valid_id("../../etc/passwd"), is_valid_id("a" * 22)
    (False, False, True)
    """
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def default_url() -> str:
    """``METACORE_DB``, else an SQLite file in the user's data directory."""
    url = os.environ.get("METACORE_DB", "").strip()
    if url:
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'metacore' / 'metacore.db'}"


_META = sa.MetaData()
_schema = sa.Table("schema_info", _META, sa.Column("version", sa.Integer, nullable=False))
_tables = sa.Table(
    "tables", _META, sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("body", sa.Text, nullable=False), sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False))
_analyses = sa.Table(
    "analyses", _META, sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    sa.Column("latest", sa.Integer, nullable=False))
_versions = sa.Table(
    "versions", _META,
    sa.Column("analysis_id", sa.String(22), sa.ForeignKey("analyses.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("saved", sa.DateTime(timezone=True), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("example", sa.String(40)), sa.Column("measure", sa.String(10), nullable=False),
    sa.Column("k", sa.Integer, nullable=False),
    sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False), sa.Column("settings", sa.Text, nullable=False))
_drafts = sa.Table(
    "drafts", _META, sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("example", sa.String(40)), sa.Column("analysis_id", sa.String(22)),
    sa.Column("table_digest", sa.String(64), sa.ForeignKey("tables.digest"), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False), sa.Column("settings", sa.Text, nullable=False))


@dataclass(frozen=True)
class AnalysisInfo:
    """One line of the list of saved analyses (or of an analysis's versions)."""

    id: str
    name: str
    source: str
    measure: str
    k: int
    saved: datetime
    version: int
    versions: int


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime) -> datetime:
    # SQLite returns naive datetimes; they were stored in UTC
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Store:
    """Saved analyses, their versions and the autosaved drafts in one database."""

    def __init__(self, url: str | None = None) -> None:
        url = url or default_url()
        kw: dict = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kw["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            self.engine = sa.create_engine(url, **kw)
        except (sa.exc.ArgumentError, ImportError) as err:
            raise StoreError(f"METACORE_DB is not a usable database URL ({err}).") from None
        if url.startswith("sqlite"):
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record) -> None:   # pragma: no cover - driver callback
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")    # readers never wait for a writer
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self.url = url
        self._create()

    # --- schema ----------------------------------------------------------------------

    def _create(self) -> None:
        try:
            _META.create_all(self.engine)
            with self.engine.begin() as conn:
                found = conn.execute(sa.select(_schema.c.version)).scalar()
                if found is None:
                    conn.execute(_schema.insert().values(version=SCHEMA_VERSION))
                elif found > SCHEMA_VERSION:
                    raise StoreError(f"The database was written by a newer metacore (schema "
                                     f"{found}; this one reads {SCHEMA_VERSION}).")
                cutoff = _now() - timedelta(days=DRAFT_DAYS)
                conn.execute(_drafts.delete().where(_drafts.c.updated < cutoff))
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"The database could not be opened: {str(err)[:200]}") from None

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(_schema.c.version)).scalar())

    # --- tables stored once by content ----------------------------------------------------

    @staticmethod
    def table_body(project: Project) -> tuple[str, str]:
        """``(digest, JSON)`` of a project's table, as stored."""
        body = json.dumps(table_to_json(project.table), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest(), body

    def _put_table(self, conn, project: Project, body: tuple[str, str] | None = None) -> str:
        digest, body = body or self.table_body(project)
        exists = conn.execute(sa.select(_tables.c.digest).where(_tables.c.digest == digest))
        if exists.first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(_tables.insert().values(digest=digest, body=body,
                                                         n_rows=len(project.table),
                                                         created=_now()))
            except sa.exc.IntegrityError:
                pass    # stored by a concurrent save a moment ago: same content
        return digest

    def _project(self, conn, row) -> Project:
        body = conn.execute(sa.select(_tables.c.body).where(
            _tables.c.digest == row.table_digest)).scalar()
        if body is None:
            raise StoreError("A stored table is missing from the database.")
        try:
            table = table_from_json(json.loads(body))
            mapping = {k: v for k, v in json.loads(row.mapping)}
            settings = check_settings(json.loads(row.settings))
        except (ValueError, TypeError, MetacoreError) as err:
            raise StoreError(f"A stored analysis could not be read: {err}") from None
        return Project(table=table, settings=settings, mapping=mapping, name=row.name,
                       source=row.source, example=row.example)

    @staticmethod
    def _summary(project: Project) -> tuple[str, int]:
        measure = str(project.settings.get("measure", ""))
        include = project.table.get("include")
        k = len(project.table) if include is None else int(sum(
            bool(v) for v in include if v is not None and v == v))
        return measure, k

    # --- saved analyses ---------------------------------------------------------------

    def save(self, project: Project, analysis_id: str | None = None) -> tuple[str, int]:
        """Store ``project``: a new analysis, or a new version of ``analysis_id``.

        Returns ``(id, version)``. Earlier versions are kept.
        """
        check_settings(project.settings)
        name = clean_name(project.name)
        measure, k = self._summary(project)
        for attempt in range(8):     # a save that lost a race retries
            if attempt:
                time.sleep(0.02 * attempt)
            try:
                with self.engine.begin() as conn:
                    digest = self._put_table(conn, project)
                    now = _now()
                    if analysis_id is None:
                        new_id = secrets.token_urlsafe(16)
                        conn.execute(_analyses.insert().values(id=new_id, name=name, created=now,
                                                               updated=now, latest=1))
                        aid, version = new_id, 1
                    else:
                        if not is_valid_id(analysis_id):
                            raise NotFound("That is not a valid analysis id.")
                        # the row lock makes concurrent saves of one analysis queue
                        # (PostgreSQL); SQLite writes one at a time anyway
                        latest = conn.execute(sa.select(_analyses.c.latest).where(
                            _analyses.c.id == analysis_id).with_for_update()).scalar()
                        if latest is None:
                            raise NotFound("No saved analysis has this id.")
                        version = latest + 1
                        done = conn.execute(_analyses.update().where(
                            (_analyses.c.id == analysis_id) & (_analyses.c.latest == latest))
                            .values(latest=version, name=name, updated=now))
                        if done.rowcount != 1:
                            raise sa.exc.IntegrityError("concurrent save", None,
                                                        Exception("retry"))
                        aid = analysis_id
                    conn.execute(_versions.insert().values(
                        analysis_id=aid, version=version, saved=now, name=name,
                        source=project.source[:300], example=project.example,
                        measure=measure, k=k, table_digest=digest,
                        mapping=json.dumps([[str(a), b] for a, b in project.mapping.items()]),
                        settings=json.dumps(check_settings(project.settings))))
                    return aid, version
            except sa.exc.IntegrityError:
                continue
            except sa.exc.SQLAlchemyError as err:
                raise StoreError(f"The analysis could not be saved: {str(err)[:200]}") from None
        raise StoreError("The analysis could not be saved: it was being saved elsewhere at "
                         "the same moment; try again.")

    def load(self, analysis_id: str, version: int | None = None) -> tuple[Project, int]:
        """The project of a saved analysis (its latest version unless one is given)."""
        if not is_valid_id(analysis_id):
            raise NotFound("That is not a valid analysis id.")
        try:
            with self.engine.connect() as conn:
                q = sa.select(_versions).where(_versions.c.analysis_id == analysis_id)
                if version is None:
                    q = q.order_by(_versions.c.version.desc()).limit(1)
                else:
                    q = q.where(_versions.c.version == int(version))
                row = conn.execute(q).first()
                if row is None:
                    raise NotFound("No saved analysis has this id." if version is None
                                   else f"This analysis has no version {version}.")
                return self._project(conn, row), int(row.version)
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"The analysis could not be read: {str(err)[:200]}") from None

    def list(self, limit: int = 500) -> list[AnalysisInfo]:
        """Saved analyses, the most recently saved first."""
        with self.engine.connect() as conn:
            q = (sa.select(_analyses.c.id, _analyses.c.latest, _versions.c.name,
                           _versions.c.source, _versions.c.measure, _versions.c.k,
                           _versions.c.saved)
                 .join(_versions, (_versions.c.analysis_id == _analyses.c.id)
                       & (_versions.c.version == _analyses.c.latest))
                 .order_by(_analyses.c.updated.desc()).limit(limit))
            return [AnalysisInfo(r.id, r.name, r.source, r.measure, r.k, _aware(r.saved),
                                 r.latest, r.latest) for r in conn.execute(q)]

    def versions(self, analysis_id: str) -> list[AnalysisInfo]:
        """Every version of an analysis, the newest first."""
        if not is_valid_id(analysis_id):
            raise NotFound("That is not a valid analysis id.")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_versions).where(
                _versions.c.analysis_id == analysis_id).order_by(_versions.c.version.desc()))
            out = [AnalysisInfo(r.analysis_id, r.name, r.source, r.measure, r.k,
                                _aware(r.saved), r.version, 0) for r in rows]
        return [AnalysisInfo(**{**a.__dict__, "versions": len(out)}) for a in out]

    def delete(self, analysis_id: str) -> None:
        """Remove an analysis with all its versions."""
        if not is_valid_id(analysis_id):
            raise NotFound("That is not a valid analysis id.")
        with self.engine.begin() as conn:
            conn.execute(_versions.delete().where(_versions.c.analysis_id == analysis_id))
            done = conn.execute(_analyses.delete().where(_analyses.c.id == analysis_id))
            if done.rowcount == 0:
                raise NotFound("No saved analysis has this id.")

    # --- drafts: the work in progress of one browser ---------------------------------------

    @staticmethod
    def draft_key(secret: str) -> str:
        """The key a draft is stored under: a hash, so the database never holds the secret."""
        return hashlib.sha256(("metacore-draft:" + secret).encode("utf-8")).hexdigest()

    def save_draft(self, secret: str, project: Project, analysis_id: str | None = None,
                   body: tuple[str, str] | None = None) -> None:
        """Keep the current work of one browser session (replacing its previous draft).

        ``body`` may pass :meth:`table_body` computed earlier, so a settings change does
        not serialise an unchanged table again.
        """
        key = self.draft_key(secret)
        values = {"updated": _now(), "name": clean_name(project.name),
                  "source": project.source[:300], "example": project.example,
                  "analysis_id": analysis_id if is_valid_id(analysis_id) else None,
                  "mapping": json.dumps([[str(a), b] for a, b in project.mapping.items()]),
                  "settings": json.dumps(check_settings(project.settings))}
        for _attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    values["table_digest"] = self._put_table(conn, project, body)
                    done = conn.execute(_drafts.update().where(_drafts.c.key == key)
                                        .values(**values))
                    if done.rowcount == 0:
                        conn.execute(_drafts.insert().values(key=key, **values))
                    return
            except sa.exc.IntegrityError:
                continue

    def load_draft(self, secret: str) -> tuple[Project, str | None] | None:
        """The draft of a browser session and the saved analysis it continues, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_drafts).where(
                _drafts.c.key == self.draft_key(secret))).first()
            if row is None:
                return None
            try:
                return self._project(conn, row), row.analysis_id
            except StoreError:
                return None

    def discard_draft(self, secret: str) -> None:
        """Forget a browser session's draft."""
        with self.engine.begin() as conn:
            conn.execute(_drafts.delete().where(_drafts.c.key == self.draft_key(secret)))


_STORES: dict[str, Store] = {}
_LOCK = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The store for ``url`` (default :func:`default_url`), opened once per process."""
    url = url or default_url()
    with _LOCK:
        if url not in _STORES:
            _STORES[url] = Store(url)
        return _STORES[url]
