"""Keeping work: project files (one JSON document per analysis) and the database of
saved analyses. Beside the layers: imports ``data`` (and ``review`` for reviews)."""

from metacore.store.database import (
    SCHEMA_VERSION,
    AnalysisInfo,
    NotFound,
    Store,
    StoreError,
    default_url,
    is_valid_id,
    open_store,
)

__all__ = ["SCHEMA_VERSION", "AnalysisInfo", "NotFound", "Store", "StoreError", "default_url",
           "is_valid_id", "open_store"]
