"""Caching that never mixes up two users' tables.

Streamlit's ``st.cache_data`` hashes a DataFrame of 50,000 rows or more by a
10,000-row sample, so two different large tables could share a cache entry and
one user would see another's results. Cached functions therefore take a
:class:`TableRef` — the frame plus a digest of its full content — and hash it by
the digest alone (``hash_funcs``); the frame itself is never hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from metacore.data.fingerprint import frame_digest

#: Cached results expire after an hour unused, so a closed session's data do not linger.
TTL = 3600


@dataclass(frozen=True, eq=False)
class TableRef:
    """A study table with the SHA-256 digest of its full content."""

    frame: pd.DataFrame
    digest: str

    @classmethod
    def of(cls, frame: pd.DataFrame) -> TableRef:
        return cls(frame, frame_digest(frame))


HASH_FUNCS = {TableRef: lambda ref: ref.digest}


def cached(max_entries: int = 64, **kwargs):
    """``st.cache_data`` with table digests as keys, an entry cap and a time-to-live."""
    return st.cache_data(show_spinner=kwargs.pop("show_spinner", False), max_entries=max_entries,
                         ttl=kwargs.pop("ttl", TTL), hash_funcs=HASH_FUNCS, **kwargs)
