"""Keeping work: project files (one JSON document per analysis) and the database of
saved analyses, with accounts (owners, shares, read-only links, teams, the audit log).
Beside the layers: imports ``data`` (and ``review`` for reviews)."""

from metacore._extras import check

# Before the submodules' ``import sqlalchemy``: one line naming the extra, not a traceback.
check("sqlalchemy", "Saved analyses (the database)")


from metacore.store.accounts import LOCAL, ROLES, AuditEntry, Grant, Team, User, clean_email
from metacore.store.database import (
    SCHEMA_VERSION,
    AnalysisInfo,
    Forbidden,
    NotFound,
    Store,
    StoreError,
    default_url,
    is_valid_id,
    is_valid_token,
    open_store,
)

__all__ = ["LOCAL", "ROLES", "SCHEMA_VERSION", "AnalysisInfo", "AuditEntry", "Forbidden",
           "Grant", "NotFound", "Store", "StoreError", "Team", "User", "clean_email",
           "default_url", "is_valid_id", "is_valid_token", "open_store"]
