"""Saved analyses in a real database: SQLite by default, PostgreSQL by URL.

The database is the SQLAlchemy URL in ``METACORE_DB``; without it, an SQLite file in
the user's data directory (``$XDG_DATA_HOME/metacore`` or ``~/.local/share/metacore``),
created on first use. Saving again keeps every earlier version. Ids are random
(128 bits, URL-safe) and checked against their pattern before any query, and every
value reaches SQL as a bound parameter. Tables are stored once per content digest, so
versions and drafts of one table share it.

Every analysis, version and draft has an owner, and every read and write takes the
acting user (:class:`~metacore.store.accounts.User`) or a read-only link's token; the
rules are in :mod:`metacore.store.accounts`. Without a user — the app in single-user
mode — the store acts as the local owner, as it always has.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from metacore.errors import MetacoreError, OptionError
from metacore.review.model import Review, review_from_json, review_to_json
from metacore.store import schema as S
from metacore.store.accounts import LOCAL, Sharing, User, _label, logs_refusals
from metacore.store.project import (
    Project,
    check_settings,
    clean_name,
    table_from_json,
    table_to_json,
)
from metacore.store.schema import (
    SCHEMA_VERSION,
    Forbidden,
    NotFound,
    StoreError,
    is_valid_id,
    is_valid_token,
)

__all__ = ["SCHEMA_VERSION", "AnalysisInfo", "Forbidden", "NotFound", "Store", "StoreError",
           "default_url", "is_valid_id", "is_valid_token", "open_store"]

#: The kind of a whole review's document (an analysis is ``schema.KIND``).
REVIEW = "review"
#: Drafts not touched for this long are removed.
DRAFT_DAYS = 30
_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")


def default_url() -> str:
    """``METACORE_DB``, else an SQLite file in the user's data directory."""
    url = os.environ.get("METACORE_DB", "").strip()
    if url:
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'metacore' / 'metacore.db'}"


_tables, _analyses, _versions, _drafts = S.tables, S.analyses, S.versions, S.drafts


@dataclass(frozen=True)
class AnalysisInfo:
    """One line of the list of saved analyses (or of an analysis's versions): ``owner``
    is the owner's name as people read it, ``role`` what the user may do ("owner",
    "editor" or "viewer")."""

    id: str
    name: str
    source: str
    measure: str
    k: int
    saved: datetime
    version: int
    versions: int
    owner: str = "Local owner"
    role: str = "owner"
    kind: str = S.KIND


_now, _aware = S.now, S.aware


class Store(Sharing):
    """Saved analyses, their versions and the autosaved drafts in one database.

    ``accounts=True`` is a server with logins: a call without ``user`` acts as a visitor
    not logged in (who sees nothing but read-only links). Otherwise it acts as the local
    owner, the one user of single-user mode.

    >>> import metacore as mc
    >>> from metacore.store import Store, User
    >>> db = Store("sqlite://", accounts=True)
    >>> alice = User("https://id.example.org", "a1", "Alice", "alice@example.org")
    >>> bob = User("https://id.example.org", "b2", "Bob", "bob@example.org")
    >>> aid, _ = db.save(Project(mc.datasets.load("bcg"), {"measure": "RR"}), user=alice)
    >>> [a.id == aid for a in db.list(user=alice)], db.list(user=bob)
    ([True], [])
    >>> _ = db.share(aid, "bob@example.org", "viewer", user=alice)
    >>> db.role(aid, user=bob)
    'viewer'
    """

    def __init__(self, url: str | None = None, *, accounts: bool = False) -> None:
        url = url or default_url()
        kw: dict = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:" and url != "sqlite://":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kw["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if url in ("sqlite://", "sqlite:///:memory:"):
                # one connection for the process, or each would see its own empty database
                kw["poolclass"] = sa.pool.StaticPool
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
        self.accounts = bool(accounts)
        self._create()

    # --- schema ----------------------------------------------------------------------

    def _create(self) -> None:
        for attempt in range(3):
            try:
                #: the schema version the database had when opened (0: new)
                self.migrated_from = S.migrate(self.engine)
                with self.engine.begin() as conn:
                    cutoff = _now() - timedelta(days=DRAFT_DAYS)
                    conn.execute(_drafts.delete().where(_drafts.c.updated < cutoff))
                return
            except sa.exc.SQLAlchemyError as err:
                # another process migrating the same SQLite file at this moment
                if attempt == 2:
                    raise StoreError("The database could not be opened: "
                                     f"{str(err)[:200]}") from None
                time.sleep(0.2 * (attempt + 1))

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(S.schema_info.c.version)).scalar())

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

    def _writer(self, user: User | None, what: str) -> User:
        actor = self.actor(user)
        if actor is None:
            raise Forbidden(f"Log in to {what}: a visitor who is not logged in can open "
                            "read-only links but not save.")
        return actor

    @logs_refusals
    def save(self, project: Project, analysis_id: str | None = None, *,
             user: User | None = None, kind: str = S.KIND) -> tuple[str, int]:
        """Store ``project``: a new analysis of the user's, or a new version of
        ``analysis_id`` (its owner or an editor only).

        Returns ``(id, version)``. Earlier versions are kept. A viewer gets Forbidden
        (save a copy instead: :meth:`save_copy`), anyone else NotFound.
        """
        return self._save(project, analysis_id, self._writer(user, "save"), kind, None)

    @logs_refusals
    def save_copy(self, project: Project, of: str | None = None, *,
                  user: User | None = None, token: str | None = None) -> tuple[str, int]:
        """Save ``project`` as a new analysis of the user's own, copied from ``of`` (an
        analysis they may open) or from the analysis a read-only link ``token`` opens.

        This is the Save of a viewer or link visitor: the original is never changed,
        and its owner's log records the copy.
        """
        actor = self._writer(user, "save a copy of your own")
        with self.engine.connect() as conn:
            if token is not None:
                source = self._link(conn, token, "copy", actor)
            else:
                self._require(conn, of, actor, "viewer", "copy")
                source = of
        return self._save(project, None, actor, S.KIND, source)

    def _save(self, project: Project, analysis_id: str | None, actor: User, kind: str,
              copied_from: str | None) -> tuple[str, int]:
        check_settings(project.settings)
        if kind != S.KIND:
            raise OptionError(f"This store keeps documents of kind '{S.KIND}' only.")
        name = clean_name(project.name)
        measure, k = self._summary(project)
        for attempt in range(8):     # a save that lost a race retries
            if attempt:
                time.sleep(0.02 * attempt)
            try:
                with self.engine.begin() as conn:
                    self._remember(conn, actor)
                    now = _now()
                    if analysis_id is None:
                        new_id = secrets.token_urlsafe(16)
                        conn.execute(_analyses.insert().values(
                            id=new_id, name=name, created=now, updated=now, latest=1,
                            owner=actor.id, kind=kind, copied_from=copied_from))
                        aid, version = new_id, 1
                    else:
                        # the row lock makes concurrent saves of one analysis queue
                        # (PostgreSQL); SQLite writes one at a time anyway
                        self._require(conn, analysis_id, actor, "editor", "save", lock=True)
                        latest = conn.execute(sa.select(_analyses.c.latest).where(
                            _analyses.c.id == analysis_id)).scalar()
                        version = latest + 1
                        done = conn.execute(_analyses.update().where(
                            (_analyses.c.id == analysis_id) & (_analyses.c.latest == latest))
                            .values(latest=version, name=name, updated=now))
                        if done.rowcount != 1:
                            raise sa.exc.IntegrityError("concurrent save", None,
                                                        Exception("retry"))
                        aid = analysis_id
                    digest = self._put_table(conn, project)
                    conn.execute(_versions.insert().values(
                        analysis_id=aid, version=version, saved=now, name=name,
                        source=project.source[:300], example=project.example,
                        measure=measure, k=k, table_digest=digest,
                        mapping=json.dumps([[str(a), b] for a, b in project.mapping.items()]),
                        settings=json.dumps(check_settings(project.settings)),
                        saved_by=actor.id))
                    if copied_from is not None:
                        self._log(conn, actor.id, "copy", copied_from,
                                  f"copied into a new analysis of {actor.label}")
                        self._log(conn, actor.id, "save", aid, f"version 1, a copy of "
                                  f"“{name}”")
                    else:
                        self._log(conn, actor.id, "save", aid, f"version {version}")
                    return aid, version
            except sa.exc.IntegrityError:
                continue
            except sa.exc.SQLAlchemyError as err:
                raise StoreError(f"The analysis could not be saved: {str(err)[:200]}") from None
        raise StoreError("The analysis could not be saved: it was being saved elsewhere at "
                         "the same moment; try again.")

    def _target(self, conn, analysis_id: str | None, actor: User | None,
                token: str | None, action: str) -> str:
        """The analysis a read reaches: through a link token, or an id the user may see."""
        if token is not None:
            aid = self._link(conn, token, action, actor)
            if analysis_id is not None and analysis_id != aid:
                raise NotFound("This link does not open that analysis.")
            return aid
        self._require(conn, analysis_id, actor, "viewer", action)
        return analysis_id

    @logs_refusals
    def load(self, analysis_id: str | None = None, version: int | None = None, *,
             user: User | None = None, token: str | None = None) -> tuple[Project, int]:
        """The project of a saved analysis (its latest version unless one is given), for
        a user who may open it or through a read-only link ``token``."""
        actor = self.actor(user)
        try:
            with self.engine.connect() as conn:
                aid = self._target(conn, analysis_id, actor, token, "open")
                if self._kind(conn, aid) != S.KIND:
                    raise OptionError("This link opens a whole review: open it on the "
                                      "Review page.")
                q = sa.select(_versions).where(_versions.c.analysis_id == aid)
                if version is None:
                    q = q.order_by(_versions.c.version.desc()).limit(1)
                else:
                    q = q.where(_versions.c.version == int(version))
                row = conn.execute(q).first()
                if row is None:
                    raise NotFound(f"This analysis has no version {version}.")
                return self._project(conn, row), int(row.version)
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"The analysis could not be read: {str(err)[:200]}") from None

    def list(self, limit: int = 500, *, user: User | None = None,
             kind: str = S.KIND) -> builtins.list[AnalysisInfo]:
        """The analyses the user owns or was given, the most recently saved first."""
        actor = self.actor(user)
        if actor is None:
            return []
        owner = S.users.alias("owner")
        shared = sa.select(S.shares.c.analysis_id).where(self._shared_with(actor))
        with self.engine.connect() as conn:
            q = (sa.select(_analyses.c.id, _analyses.c.latest, _analyses.c.owner,
                           _analyses.c.kind, _versions.c.name, _versions.c.source,
                           _versions.c.measure, _versions.c.k, _versions.c.saved,
                           owner.c.name.label("owner_name"),
                           owner.c.email.label("owner_email"))
                 .join(_versions, (_versions.c.analysis_id == _analyses.c.id)
                       & (_versions.c.version == _analyses.c.latest))
                 .join(owner, owner.c.id == _analyses.c.owner, isouter=True)
                 .where(((_analyses.c.owner == actor.id) | _analyses.c.id.in_(shared))
                        & (_analyses.c.kind == kind))
                 .order_by(_analyses.c.updated.desc()).limit(limit))
            rows = conn.execute(q).all()
            given = {}
            if any(r.owner != actor.id for r in rows):
                for aid, role in conn.execute(sa.select(
                        S.shares.c.analysis_id, S.shares.c.role).where(
                        self._shared_with(actor))):
                    if given.get(aid) != "editor":
                        given[aid] = role
        return [AnalysisInfo(r.id, r.name, r.source, r.measure, r.k, _aware(r.saved),
                             r.latest, r.latest, _label(r.owner_name, r.owner_email),
                             "owner" if r.owner == actor.id else given.get(r.id, "viewer"),
                             r.kind) for r in rows]

    @logs_refusals
    def versions(self, analysis_id: str | None = None, *, user: User | None = None,
                 token: str | None = None) -> builtins.list[AnalysisInfo]:
        """Every version of an analysis the user may open (or a link opens), newest first."""
        actor = self.actor(user)
        with self.engine.connect() as conn:
            aid = self._target(conn, analysis_id, actor, token, "open")
            rows = conn.execute(sa.select(_versions).where(
                _versions.c.analysis_id == aid).order_by(_versions.c.version.desc()))
            out = [AnalysisInfo(r.analysis_id, r.name, r.source, r.measure, r.k,
                                _aware(r.saved), r.version, 0) for r in rows]
        return [AnalysisInfo(**{**a.__dict__, "versions": len(out)}) for a in out]

    @logs_refusals
    def delete(self, analysis_id: str, *, user: User | None = None) -> None:
        """Remove an analysis with all its versions, shares and links (owner only)."""
        actor = self.actor(user)
        with self.engine.begin() as conn:
            self._require(conn, analysis_id, actor, "owner", "delete", lock=True)
            for table in (S.shares, S.links, _versions):
                conn.execute(table.delete().where(table.c.analysis_id == analysis_id))
            conn.execute(_analyses.delete().where(_analyses.c.id == analysis_id))
            self._log(conn, actor.id, "delete", analysis_id, "with every version")

    # --- drafts: the work in progress of one browser ---------------------------------------

    @staticmethod
    def draft_key(secret: str, user: User = LOCAL) -> str:
        """The key a draft is stored under: a hash of the user and the browser's secret,
        so the database never holds the secret and one browser keeps one draft per user.
        (The local owner's key is the one schema 1 used, so its drafts survive.)"""
        prefix = "metacore-draft:" if user.id == S.LOCAL_ID else f"metacore-draft:{user.id}:"
        return hashlib.sha256((prefix + secret).encode("utf-8")).hexdigest()

    @staticmethod
    def _secret_ok(secret: object) -> bool:
        return isinstance(secret, str) and _SECRET.fullmatch(secret) is not None

    def save_draft(self, secret: str, project: Project, analysis_id: str | None = None,
                   body: tuple[str, str] | None = None, *, user: User | None = None) -> None:
        """Keep the current work of one browser session (replacing its previous draft).

        ``body`` may pass :meth:`table_body` computed earlier, so a settings change does
        not serialise an unchanged table again. Drafts belong to a logged-in user (or the
        local owner); a visitor who is not logged in gets Forbidden.
        """
        actor = self._writer(user, "keep a draft")
        if not self._secret_ok(secret):
            raise OptionError("The browser's draft key is malformed; reload the page.")
        key = self.draft_key(secret, actor)
        values = {"updated": _now(), "name": clean_name(project.name),
                  "source": project.source[:300], "example": project.example,
                  "analysis_id": analysis_id if is_valid_id(analysis_id) else None,
                  "mapping": json.dumps([[str(a), b] for a, b in project.mapping.items()]),
                  "settings": json.dumps(check_settings(project.settings)),
                  "owner": actor.id}
        for _attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    if values["analysis_id"] and self._role(conn, values["analysis_id"],
                                                            actor) is None:
                        # only an analysis the user may open is remembered, so a draft
                        # cannot be used to probe which ids exist
                        values["analysis_id"] = None
                    values["table_digest"] = self._put_table(conn, project, body)
                    done = conn.execute(_drafts.update().where(
                        (_drafts.c.key == key) & (_drafts.c.owner == actor.id)).values(**values))
                    if done.rowcount == 0:
                        conn.execute(_drafts.insert().values(key=key, **values))
                    return
            except sa.exc.IntegrityError:
                continue

    def load_draft(self, secret: str, *, user: User | None = None
                   ) -> tuple[Project, str | None] | None:
        """The user's draft in this browser and the saved analysis it continues, if any.

        A draft that continues an analysis the user may no longer open (the share was
        revoked) is dropped: revoking ends access to the copy in the draft too. If that
        analysis was deleted, the draft comes back as unsaved work.
        """
        actor = self.actor(user)
        if actor is None or not self._secret_ok(secret):
            return None
        key = self.draft_key(secret, actor)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_drafts).where(
                (_drafts.c.key == key) & (_drafts.c.owner == actor.id))).first()
            if row is None:
                return None
            aid = row.analysis_id if is_valid_id(row.analysis_id) else None
            lost = False
            if aid is not None and self._role(conn, aid, actor) is None:
                exists = conn.execute(sa.select(_analyses.c.id).where(
                    _analyses.c.id == aid)).first() is not None
                # the draft only names analyses the user could open when it was saved,
                # so telling "deleted" from "no longer yours" reveals nothing new
                lost, aid = exists, None
            if not lost:
                try:
                    return self._project(conn, row), aid
                except StoreError:
                    return None
        self.discard_draft(secret, user=actor)
        return None

    def discard_draft(self, secret: str, *, user: User | None = None) -> None:
        """Forget the user's draft in this browser."""
        actor = self.actor(user)
        if actor is None or not self._secret_ok(secret):
            return
        with self.engine.begin() as conn:
            conn.execute(_drafts.delete().where(
                (_drafts.c.key == self.draft_key(secret, actor)) & (_drafts.c.owner == actor.id)))


    # --- whole reviews: one document of kind "review", versioned like an analysis ------

    @staticmethod
    def _kind(conn, analysis_id: str) -> str:
        return conn.execute(sa.select(_analyses.c.kind).where(
            _analyses.c.id == analysis_id)).scalar() or S.KIND

    @staticmethod
    def review_body(review: Review) -> tuple[str, str]:
        """``(digest, JSON)`` of a review as stored (the project file's text)."""
        body = review_to_json(review)
        return hashlib.sha256(body.encode("utf-8")).hexdigest(), body

    def _put_body(self, conn, digest: str, body: str, n: int) -> None:
        if conn.execute(sa.select(_tables.c.digest).where(
                _tables.c.digest == digest)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(_tables.insert().values(digest=digest, body=body, n_rows=n,
                                                         created=_now()))
            except sa.exc.IntegrityError:
                pass    # stored by a concurrent save a moment ago: same content

    @logs_refusals
    def save_review(self, review: Review, review_id: str | None = None, *,
                    user: User | None = None) -> tuple[str, int]:
        """Store a whole review: a new document of kind ``"review"`` of the user's, or a
        new version of ``review_id`` (owner or editor). Sharing, read-only links, the
        versions list and delete work on it as on an analysis.

        >>> import metacore as mc
        >>> db = Store("sqlite://")
        >>> rid, v = db.save_review(mc.Review("Steroids for sepsis"))
        >>> db.load_review(rid)[0].title, v, [a.kind for a in db.list(kind="review")]
        ('Steroids for sepsis', 1, ['review'])
        """
        actor = self._writer(user, "save")
        digest, body = self.review_body(review)
        name = clean_name(review.title)
        k = len(review.outcomes)
        try:
            with self.engine.begin() as conn:
                self._remember(conn, actor)
                now = _now()
                if review_id is None:
                    aid, version = secrets.token_urlsafe(16), 1
                    conn.execute(_analyses.insert().values(
                        id=aid, name=name, created=now, updated=now, latest=1,
                        owner=actor.id, kind=REVIEW))
                else:
                    self._require(conn, review_id, actor, "editor", "save", lock=True)
                    if self._kind(conn, review_id) != REVIEW:
                        raise OptionError("That id is an analysis, not a review.")
                    aid = review_id
                    version = conn.execute(sa.select(_analyses.c.latest).where(
                        _analyses.c.id == aid)).scalar() + 1
                    conn.execute(_analyses.update().where(_analyses.c.id == aid)
                                 .values(latest=version, name=name, updated=now))
                self._put_body(conn, digest, body, k)
                conn.execute(_versions.insert().values(
                    analysis_id=aid, version=version, saved=now, name=name, source=REVIEW,
                    example=None, measure="", k=k, table_digest=digest, mapping="[]",
                    settings="{}", saved_by=actor.id))
                self._log(conn, actor.id, "save", aid, f"review version {version}")
                return aid, version
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"The review could not be saved: {str(err)[:200]}") from None

    def _review_from(self, conn, digest: str) -> Review:
        body = conn.execute(sa.select(_tables.c.body).where(_tables.c.digest == digest)).scalar()
        if body is None:
            raise StoreError("A stored review is missing from the database.")
        try:
            return review_from_json(body)
        except (ValueError, MetacoreError) as err:
            raise StoreError(f"A stored review could not be read: {err}") from None

    @logs_refusals
    def load_review(self, review_id: str | None = None, version: int | None = None, *,
                    user: User | None = None, token: str | None = None) -> tuple[Review, int]:
        """A saved review (its latest version unless one is given), for a user who may
        open it or through a read-only link ``token``."""
        actor = self.actor(user)
        try:
            with self.engine.connect() as conn:
                aid = self._target(conn, review_id, actor, token, "open")
                if self._kind(conn, aid) != REVIEW:
                    raise OptionError("This link opens a single analysis, not a review: open "
                                      "it from the Saved analyses page.")
                q = sa.select(_versions).where(_versions.c.analysis_id == aid)
                q = q.order_by(_versions.c.version.desc()).limit(1) if version is None \
                    else q.where(_versions.c.version == int(version))
                row = conn.execute(q).first()
                if row is None:
                    raise NotFound(f"This review has no version {version}.")
                return self._review_from(conn, row.table_digest), int(row.version)
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"The review could not be read: {str(err)[:200]}") from None

    def save_review_draft(self, secret: str, review: Review, review_id: str | None = None,
                          *, user: User | None = None) -> None:
        """Keep the review in progress of one browser (beside its analysis draft)."""
        actor = self._writer(user, "keep a draft")
        if not self._secret_ok(secret):
            raise OptionError("The browser's draft key is malformed; reload the page.")
        key = self.draft_key("review:" + secret, actor)
        digest, body = self.review_body(review)
        values = {"updated": _now(), "name": clean_name(review.title), "source": REVIEW,
                  "example": None, "analysis_id": review_id if is_valid_id(review_id) else None,
                  "mapping": "[]", "settings": "{}", "owner": actor.id, "kind": REVIEW,
                  "table_digest": digest}
        with self.engine.begin() as conn:
            if values["analysis_id"] and self._role(conn, values["analysis_id"], actor) is None:
                values["analysis_id"] = None
            self._put_body(conn, digest, body, len(review.outcomes))
            done = conn.execute(_drafts.update().where(
                (_drafts.c.key == key) & (_drafts.c.owner == actor.id)).values(**values))
            if done.rowcount == 0:
                conn.execute(_drafts.insert().values(key=key, **values))

    def load_review_draft(self, secret: str, *, user: User | None = None
                          ) -> tuple[Review, str | None] | None:
        """The user's review draft in this browser and the saved review it continues."""
        actor = self.actor(user)
        if actor is None or not self._secret_ok(secret):
            return None
        key = self.draft_key("review:" + secret, actor)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_drafts).where(
                (_drafts.c.key == key) & (_drafts.c.owner == actor.id))).first()
            if row is None:
                return None
            aid = row.analysis_id if is_valid_id(row.analysis_id) else None
            if aid is not None and self._role(conn, aid, actor) is None:
                return None     # no longer the user's to open: the draft goes with it
            try:
                return self._review_from(conn, row.table_digest), aid
            except StoreError:
                return None


_STORES: dict[tuple[str, bool], Store] = {}
_LOCK = threading.Lock()


def open_store(url: str | None = None, *, accounts: bool = False) -> Store:
    """The store for ``url`` (default :func:`default_url`), opened once per process;
    ``accounts=True`` on a server with logins (see :class:`Store`)."""
    url = url or default_url()
    with _LOCK:
        if (url, accounts) not in _STORES:
            _STORES[url, accounts] = Store(url, accounts=accounts)
        return _STORES[url, accounts]
