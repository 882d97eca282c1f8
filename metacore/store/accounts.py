"""Users, sharing, read-only links, teams and the audit log of the store.

A user is the OpenID Connect provider's issuer and subject (never the email alone), with
a name and an email for display and for sharing by email; nothing else is stored. Access
is decided in the store on every read and write, from these rules:

=========  ==========================================================================
owner      open, open versions, save versions, share, revoke, read the audit, delete
editor     open, open versions, save new versions, save a copy of their own
viewer     open, open versions, save a copy of their own (never over the original)
link       as viewer, without logging in; saving a copy needs a user
=========  ==========================================================================

A user is an editor or viewer through a share to their email or to a team their email is
in; the highest role wins. An id the user may not see raises the same
:class:`~metacore.store.schema.NotFound` as an id nobody has, and each refusal is
written to the audit log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

import sqlalchemy as sa

from metacore.errors import OptionError
from metacore.store import schema as S
from metacore.store.schema import Forbidden, NotFound, is_valid_id, is_valid_token

__all__ = ["LOCAL", "ROLES", "AuditEntry", "Grant", "Sharing", "Team", "User", "clean_email"]

#: Roles a share gives, weakest first (the owner is above both).
ROLES = ("viewer", "editor")
_RANK = {"viewer": 1, "editor": 2, "owner": 3}
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+")
#: The message of every id the user may not see, known or not.
NOT_FOUND = "No saved analysis has this id."
BAD_LINK = "This link does not open any analysis: it may have expired or been revoked."


@dataclass(frozen=True)
class User:
    """Who acts: the provider's ``issuer`` and ``subject``, with ``name`` and ``email``.

    >>> u = User("https://login.example.org", "248289761001", "Alice", "Alice@Example.org")
    >>> len(u.id), u.email
    (64, 'alice@example.org')
    """

    issuer: str
    subject: str
    name: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        for part in ("issuer", "subject"):
            value = getattr(self, part)
            if not isinstance(value, str) or not value.strip() or len(value) > 300:
                raise OptionError(f"A user needs an {part} of 1 to 300 characters (from the "
                                  "login provider).")
        object.__setattr__(self, "name", " ".join(str(self.name or "").split())[:200])
        email = str(self.email or "").strip().lower()
        object.__setattr__(self, "email", email if _EMAIL.fullmatch(email) else "")

    @property
    def id(self) -> str:
        """The key the store files this user's work under (a hash of issuer and subject)."""
        if (self.issuer, self.subject) == ("metacore", S.LOCAL_ID):
            return S.LOCAL_ID
        raw = f"{self.issuer}\x00{self.subject}".encode()
        return hashlib.sha256(raw).hexdigest()

    @property
    def label(self) -> str:
        """Name and email as people read them."""
        return _label(self.name, self.email)

    @classmethod
    def from_claims(cls, claims: Mapping) -> User:
        """The user of an OpenID Connect identity (``st.user``): ``iss``, ``sub``, ``name``,
        ``email``. An email the provider marks unverified is not used for sharing.

        >>> User.from_claims({"iss": "https://id.example.org", "sub": "42", "name": "Bo",
        ...                   "email": "bo@example.org", "email_verified": False}).email
        ''
        """
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
            raise OptionError("The login provider did not give an issuer URL ('iss'); check "
                              "the [auth] section of .streamlit/secrets.toml.")
        email = claims.get("email") if claims.get("email_verified", True) is not False else ""
        name = claims.get("name") or claims.get("preferred_username") or ""
        return cls(issuer, str(subject) if subject is not None else "", str(name),
                   str(email or ""))


#: The owner of single-user mode and of everything saved before accounts existed.
LOCAL = User("metacore", S.LOCAL_ID, "Local owner", "")


def _label(name: str | None, email: str | None) -> str:
    if name and email:
        return f"{name} <{email}>"
    return name or email or "a user"


def clean_email(email: object) -> str:
    """An email address as shares store it (lower case), or OptionError.

    >>> clean_email("  Bob@Example.ORG ")
    'bob@example.org'
    """
    text = str(email or "").strip().lower()
    if len(text) > 320 or not _EMAIL.fullmatch(text):
        raise OptionError(f"{str(email)[:60]!r} is not an email address; share with the "
                          "address the person logs in with.")
    return text


@dataclass(frozen=True)
class Grant:
    """One way into an analysis, as its owner sees it: ``kind`` is "user", "team" or
    "link"; ``who`` the email, the team's name or "anyone with the link"."""

    id: str
    kind: str
    who: str
    role: str
    created: datetime
    expires: datetime | None = None
    revoked: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > S.now())


@dataclass(frozen=True)
class Team:
    """A named group of email addresses that its owner manages and shares with."""

    id: str
    name: str
    members: tuple[str, ...]
    created: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of an analysis's log: when, who (``actor`` as people read it; "a visitor
    with a link" or "a visitor not logged in" without a user), what, and the detail."""

    at: datetime
    actor: str
    action: str
    analysis_id: str | None
    detail: str


class _Denied(Exception):
    """Raised inside a transaction; the public error is raised (and the refusal logged)
    after the transaction has ended, so logging never waits on the store's own lock."""

    def __init__(self, error: Exception, action: str, analysis_id: str | None,
                 detail: str, actor: str | None) -> None:
        super().__init__(str(error))
        self.error, self.action, self.analysis_id = error, action, analysis_id
        self.detail, self.actor = detail, actor


def logs_refusals(method: Callable) -> Callable:
    """Turn a refusal inside ``method`` into its public error, after writing it to the log."""
    @wraps(method)
    def run(self, *args, **kw):
        try:
            return method(self, *args, **kw)
        except _Denied as denied:
            self._log(None, denied.actor, "denied", denied.analysis_id,
                      f"{denied.action}: {denied.detail}")
            raise denied.error from None
    return run


def _token_hash(token: str) -> str:
    return hashlib.sha256(("metacore-link:" + token).encode()).hexdigest()


def _expiry(expires: datetime | timedelta | None) -> datetime | None:
    if expires is None:
        return None
    at = S.now() + expires if isinstance(expires, timedelta) else S.aware(expires)
    if at <= S.now():
        raise OptionError("A link's expiry must be in the future.")
    return at


class Sharing:
    """Access rules, shares, links, teams, the audit log and the local owner's claim.

    A mixin of :class:`metacore.store.database.Store`; methods take the acting ``user``
    (None: the local owner in single-user mode, a visitor not logged in otherwise).
    """

    engine: sa.Engine
    accounts: bool

    # --- who acts -----------------------------------------------------------------------

    def actor(self, user: User | None) -> User | None:
        """The acting user: ``user``, else the local owner in single-user mode (a server
        with accounts has no default user, so a page that forgets to pass one sees
        nothing)."""
        if user is None:
            return None if self.accounts else LOCAL
        if not isinstance(user, User):
            raise OptionError("The store needs a metacore.store.User as the acting user.")
        return user

    def _remember(self, conn, user: User) -> None:
        t = S.now()
        row = conn.execute(sa.select(S.users.c.name, S.users.c.email).where(
            S.users.c.id == user.id)).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(S.users.insert().values(
                        id=user.id, issuer=user.issuer, subject=user.subject, name=user.name,
                        email=user.email, created=t, seen=t))
            except sa.exc.IntegrityError:
                pass    # the same user signed in on another process a moment ago
        elif user.id != S.LOCAL_ID and (row.name, row.email) != (user.name, user.email):
            conn.execute(S.users.update().where(S.users.c.id == user.id).values(
                name=user.name, email=user.email, seen=t))

    def sign_in(self, user: User) -> User:
        """Record (or refresh) a user's name and email; call once per login."""
        with self.engine.begin() as conn:
            self._remember(conn, user)
            conn.execute(S.users.update().where(S.users.c.id == user.id).values(seen=S.now()))
        return user

    # --- the rules ----------------------------------------------------------------------------

    @staticmethod
    def _shared_with(user: User):
        """Shares reaching ``user``: to their email, or to a team their email is in."""
        if not user.email:
            return sa.false()
        teams = sa.select(S.team_members.c.team_id).where(S.team_members.c.email == user.email)
        return (S.shares.c.email == user.email) | S.shares.c.team_id.in_(teams)

    def _role(self, conn, analysis_id: str, user: User | None, *,
              lock: bool = False) -> str | None:
        q = sa.select(S.analyses.c.owner).where(S.analyses.c.id == analysis_id)
        owner = conn.execute(q.with_for_update() if lock else q).scalar()
        if owner is None or user is None:
            return None
        if owner == user.id:
            return "owner"
        roles = conn.execute(sa.select(S.shares.c.role).where(
            (S.shares.c.analysis_id == analysis_id) & self._shared_with(user))).scalars()
        return max(roles, key=_RANK.__getitem__, default=None)

    def _link(self, conn, token: object, action: str, actor: User | None) -> str:
        """The analysis a valid, live link opens; else a refusal (one message for all)."""
        who = actor.id if actor else None
        if not is_valid_token(token):
            raise _Denied(NotFound(BAD_LINK), action, None, "a link token of the wrong form",
                          who)
        row = conn.execute(sa.select(S.links).where(
            S.links.c.token_hash == _token_hash(token))).first()
        if row is None:
            raise _Denied(NotFound(BAD_LINK), action, None, "an unknown link token", who)
        if row.revoked is not None:
            raise _Denied(NotFound(BAD_LINK), action, row.analysis_id,
                          f"read-only link {row.id}, revoked", who)
        if row.expires is not None and S.aware(row.expires) <= S.now():
            raise _Denied(NotFound(BAD_LINK), action, row.analysis_id,
                          f"read-only link {row.id}, expired", who)
        return row.analysis_id

    def _require(self, conn, analysis_id: object, user: User | None, need: str,
                 action: str, *, lock: bool = False) -> str:
        """The user's role on the analysis if it is at least ``need``; otherwise the
        refusal: NotFound when they may not see it (exactly as for an unknown id),
        Forbidden when they may see it but not do this."""
        who = user.id if user else None
        if not is_valid_id(analysis_id):
            raise _Denied(NotFound("That is not a valid analysis id."), action, None,
                          "an id of the wrong form", who)
        role = self._role(conn, analysis_id, user, lock=lock)
        if role is None:
            raise _Denied(NotFound(NOT_FOUND), action, analysis_id,
                          "not visible to this user" if user else "not logged in", who)
        if _RANK[role] < _RANK[need]:
            if need == "editor":
                text = ("You can open this analysis but not save over it: save a copy of "
                        "your own instead.")
            else:
                text = (f"Only the analysis's owner can {action} it; you are "
                        f"{'an' if role == 'editor' else 'a'} {role}.")
            raise _Denied(Forbidden(text), action, analysis_id, f"as {role}", who)
        return role

    @logs_refusals
    def role(self, analysis_id: str | None = None, *, user: User | None = None,
             token: str | None = None) -> str:
        """What the user may do with an analysis: "owner", "editor" or "viewer" (a link
        gives "viewer"); NotFound when they may not see it."""
        actor = self.actor(user)
        with self.engine.connect() as conn:
            if token is not None:
                self._link(conn, token, "open", actor)
                return "viewer"
            return self._require(conn, analysis_id, actor, "viewer", "open")

    # --- the audit log ----------------------------------------------------------------------

    def _log(self, conn, actor: str | None, action: str, analysis_id: str | None,
             detail: str) -> None:
        values = {"at": S.now(), "actor": actor, "action": action,
                  "analysis_id": analysis_id, "detail": detail[:500]}
        if conn is not None:
            conn.execute(S.audit.insert().values(**values))
            return
        try:
            with self.engine.begin() as own:
                own.execute(S.audit.insert().values(**values))
        except sa.exc.SQLAlchemyError:
            pass    # a log line that cannot be written must not hide the refusal itself

    @logs_refusals
    def audit(self, analysis_id: str, *, user: User | None = None,
              limit: int = 1000) -> list[AuditEntry]:
        """The log of an analysis, newest first: saves, shares, revokes, copies and
        refused attempts (owner only)."""
        actor = self.actor(user)
        with self.engine.connect() as conn:
            self._require(conn, analysis_id, actor, "owner", "read the log of")
            q = (sa.select(S.audit, S.users.c.name, S.users.c.email)
                 .join(S.users, S.users.c.id == S.audit.c.actor, isouter=True)
                 .where(S.audit.c.analysis_id == analysis_id)
                 .order_by(S.audit.c.id.desc()).limit(limit))
            out = []
            for r in conn.execute(q):
                if r.actor is None:
                    who = "a visitor not logged in"
                else:
                    who = _label(r.name, r.email)
                out.append(AuditEntry(S.aware(r.at), who, r.action, r.analysis_id, r.detail))
            return out

    # --- sharing ----------------------------------------------------------------------------

    @logs_refusals
    def share(self, analysis_id: str, email: str, role: str = "viewer", *,
              user: User | None = None) -> str:
        """Share with the person who logs in with ``email``, as "viewer" or "editor"
        (sharing again changes the role). Returns the grant's id."""
        actor = self.actor(user)
        email = clean_email(email)
        if role not in ROLES:
            raise OptionError(f"A share's role must be one of {', '.join(ROLES)}.")
        return self._grant(analysis_id, actor, role, email=email, team_id=None,
                           what=f"{email} as {role}")

    @logs_refusals
    def share_team(self, analysis_id: str, team_id: str, role: str = "viewer", *,
                   user: User | None = None) -> str:
        """Share with one of the owner's teams, as "viewer" or "editor"."""
        actor = self.actor(user)
        if role not in ROLES:
            raise OptionError(f"A share's role must be one of {', '.join(ROLES)}.")
        with self.engine.connect() as conn:
            name = self._team_name(conn, team_id, actor)
        return self._grant(analysis_id, actor, role, email=None, team_id=team_id,
                           what=f"team “{name}” as {role}")

    def _grant(self, analysis_id, actor, role, *, email, team_id, what) -> str:
        with self.engine.begin() as conn:
            self._require(conn, analysis_id, actor, "owner", "share", lock=True)
            if email is not None and email == actor.email:
                raise OptionError("You own this analysis already; share it with someone else.")
            column = S.shares.c.email if email is not None else S.shares.c.team_id
            key = email if email is not None else team_id
            old = conn.execute(sa.select(S.shares.c.id).where(
                (S.shares.c.analysis_id == analysis_id) & (column == key))).scalar()
            if old is not None:
                conn.execute(S.shares.update().where(S.shares.c.id == old).values(role=role))
                grant = old
            else:
                grant = secrets.token_urlsafe(16)
                conn.execute(S.shares.insert().values(
                    id=grant, analysis_id=analysis_id, email=email, team_id=team_id,
                    role=role, created=S.now(), created_by=actor.id))
            self._log(conn, actor.id, "share", analysis_id, what)
            return grant

    @logs_refusals
    def create_link(self, analysis_id: str, *, user: User | None = None,
                    expires: datetime | timedelta | None = None) -> tuple[str, str]:
        """A read-only link: returns ``(grant id, token)``. The token (256 random bits)
        is shown once — the store keeps only its hash — and goes in the address
        (``?link=<token>``); it is not the analysis id and does not reveal it."""
        actor = self.actor(user)
        until = _expiry(expires)
        token = secrets.token_urlsafe(32)
        grant = secrets.token_urlsafe(16)
        with self.engine.begin() as conn:
            self._require(conn, analysis_id, actor, "owner", "share", lock=True)
            conn.execute(S.links.insert().values(
                id=grant, analysis_id=analysis_id, token_hash=_token_hash(token),
                created=S.now(), created_by=actor.id, expires=until))
            self._log(conn, actor.id, "share", analysis_id, f"read-only link {grant}" + (
                f", expires {until:%Y-%m-%d %H:%M} UTC" if until else ""))
        return grant, token

    @logs_refusals
    def access(self, analysis_id: str, *, user: User | None = None,
               include_ended: bool = False) -> list[Grant]:
        """Who has access besides the owner (owner only): shares and links, oldest
        first; revoked and expired links only with ``include_ended``."""
        actor = self.actor(user)
        with self.engine.connect() as conn:
            self._require(conn, analysis_id, actor, "owner", "see who has access to")
            rows = conn.execute(
                sa.select(S.shares, S.teams.c.name.label("team"))
                .join(S.teams, S.teams.c.id == S.shares.c.team_id, isouter=True)
                .where(S.shares.c.analysis_id == analysis_id).order_by(S.shares.c.created))
            out = [Grant(r.id, "user" if r.email else "team", r.email or r.team, r.role,
                         S.aware(r.created)) for r in rows]
            for r in conn.execute(sa.select(S.links).where(
                    S.links.c.analysis_id == analysis_id).order_by(S.links.c.created)):
                g = Grant(r.id, "link", "anyone with the link", "viewer", S.aware(r.created),
                          S.aware(r.expires) if r.expires else None,
                          S.aware(r.revoked) if r.revoked else None)
                if include_ended or g.active:
                    out.append(g)
        return out

    @logs_refusals
    def revoke(self, analysis_id: str, grant_id: str, *, user: User | None = None) -> None:
        """End a share or a link at once (owner only); the next read by its holder is
        refused."""
        actor = self.actor(user)
        with self.engine.begin() as conn:
            self._require(conn, analysis_id, actor, "owner", "revoke access to", lock=True)
            if not is_valid_id(grant_id):
                raise NotFound("That is not a valid share or link id.")
            share = conn.execute(sa.select(S.shares, S.teams.c.name.label("team")).join(
                S.teams, S.teams.c.id == S.shares.c.team_id, isouter=True).where(
                (S.shares.c.id == grant_id) & (S.shares.c.analysis_id == analysis_id))).first()
            if share is not None:
                conn.execute(S.shares.delete().where(S.shares.c.id == grant_id))
                what = share.email or f"team “{share.team}”"
                self._log(conn, actor.id, "revoke", analysis_id, f"{what} ({share.role})")
                return
            done = conn.execute(S.links.update().where(
                (S.links.c.id == grant_id) & (S.links.c.analysis_id == analysis_id)
                & S.links.c.revoked.is_(None)).values(revoked=S.now()))
            if done.rowcount != 1:
                raise NotFound("This analysis has no such share or link (it may have been "
                               "revoked already).")
            self._log(conn, actor.id, "revoke", analysis_id, f"read-only link {grant_id}")

    # --- teams ------------------------------------------------------------------------------

    def _owner_of_teams(self, actor: User | None) -> User:
        if actor is None:
            raise Forbidden("Log in to manage teams.")
        return actor

    def _team_name(self, conn, team_id: object, actor: User | None) -> str:
        # a team of someone else is as unknown as a team that does not exist
        if actor is None or not is_valid_id(team_id):
            raise NotFound("You have no team with this id.")
        name = conn.execute(sa.select(S.teams.c.name).where(
            (S.teams.c.id == team_id) & (S.teams.c.owner == actor.id))).scalar()
        if name is None:
            raise NotFound("You have no team with this id.")
        return name

    def create_team(self, name: str, members: tuple[str, ...] | list[str] = (), *,
                    user: User | None = None) -> str:
        """A new team owned by the user, with members by email; returns its id."""
        actor = self._owner_of_teams(self.actor(user))
        label = " ".join(str(name or "").split())[:200]
        if not label:
            raise OptionError("A team needs a name.")
        emails = sorted({clean_email(e) for e in members})
        team = secrets.token_urlsafe(16)
        with self.engine.begin() as conn:
            self._remember(conn, actor)
            conn.execute(S.teams.insert().values(id=team, name=label, owner=actor.id,
                                                 created=S.now()))
            for e in emails:
                conn.execute(S.team_members.insert().values(team_id=team, email=e,
                                                            added=S.now()))
        return team

    def teams(self, *, user: User | None = None) -> list[Team]:
        """The teams the user manages, by name."""
        actor = self.actor(user)
        if actor is None:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(S.teams).where(S.teams.c.owner == actor.id)
                                .order_by(S.teams.c.name)).all()
            out = []
            for r in rows:
                members = conn.execute(sa.select(S.team_members.c.email).where(
                    S.team_members.c.team_id == r.id).order_by(S.team_members.c.email))
                out.append(Team(r.id, r.name, tuple(members.scalars()), S.aware(r.created)))
        return out

    def add_member(self, team_id: str, email: str, *, user: User | None = None) -> None:
        """Add someone to a team the user manages (at once they get what it was given)."""
        actor = self.actor(user)
        email = clean_email(email)
        with self.engine.begin() as conn:
            name = self._team_name(conn, team_id, actor)
            if conn.execute(sa.select(S.team_members.c.email).where(
                    (S.team_members.c.team_id == team_id)
                    & (S.team_members.c.email == email))).first() is None:
                conn.execute(S.team_members.insert().values(team_id=team_id, email=email,
                                                            added=S.now()))
                self._log_team(conn, actor, team_id, f"{email} added to team “{name}”")

    def remove_member(self, team_id: str, email: str, *, user: User | None = None) -> None:
        """Take someone out of a team: they lose what it gave them at once."""
        actor = self.actor(user)
        email = clean_email(email)
        with self.engine.begin() as conn:
            name = self._team_name(conn, team_id, actor)
            done = conn.execute(S.team_members.delete().where(
                (S.team_members.c.team_id == team_id) & (S.team_members.c.email == email)))
            if done.rowcount:
                self._log_team(conn, actor, team_id, f"{email} removed from team “{name}”")

    def delete_team(self, team_id: str, *, user: User | None = None) -> None:
        """Delete a team and every share to it."""
        actor = self.actor(user)
        with self.engine.begin() as conn:
            name = self._team_name(conn, team_id, actor)
            self._log_team(conn, actor, team_id, f"team “{name}” deleted")
            conn.execute(S.shares.delete().where(S.shares.c.team_id == team_id))
            conn.execute(S.team_members.delete().where(S.team_members.c.team_id == team_id))
            conn.execute(S.teams.delete().where(S.teams.c.id == team_id))

    def _log_team(self, conn, actor: User, team_id: str, what: str) -> None:
        # a change of members changes who sees each analysis shared with the team: the
        # line goes to each of those analyses' logs
        ids = conn.execute(sa.select(S.shares.c.analysis_id).where(
            S.shares.c.team_id == team_id)).scalars().all()
        for aid in ids:
            self._log(conn, actor.id, "share" if "added" in what else "revoke", aid, what)

    # --- the local owner ---------------------------------------------------------------------

    def claim_local(self, *, user: User) -> int:
        """Give everything the local owner holds (all saved before accounts, and in
        single-user mode) to ``user``, the first administrator; returns how many
        analyses moved. The caller decides who is an administrator; once claimed, the
        local owner's work can go to that administrator only."""
        if not isinstance(user, User) or user.id == S.LOCAL_ID:
            raise OptionError("The local owner's work is claimed by a logged-in administrator.")
        with self.engine.begin() as conn:
            self._remember(conn, user)
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(724025)"))
            by = conn.execute(sa.select(S.local_claim.c.claimed_by).where(
                S.local_claim.c.id == S.LOCAL_ID)).scalar()
            if by is not None and by != user.id:
                raise Forbidden("The local owner's analyses were claimed by another "
                                "administrator already.")
            if by is None:
                conn.execute(S.local_claim.insert().values(id=S.LOCAL_ID, claimed_by=user.id,
                                                           at=S.now()))
            ids = conn.execute(sa.select(S.analyses.c.id).where(
                S.analyses.c.owner == S.LOCAL_ID)).scalars().all()
            conn.execute(S.analyses.update().where(S.analyses.c.owner == S.LOCAL_ID)
                         .values(owner=user.id))
            conn.execute(S.teams.update().where(S.teams.c.owner == S.LOCAL_ID)
                         .values(owner=user.id))
            for aid in ids:
                self._log(conn, user.id, "claim", aid, "taken over from the local owner")
        return len(ids)
