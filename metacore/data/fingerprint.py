"""Full-content digests of tables, for caches that must never confuse two tables.

Streamlit hashes a DataFrame of 50,000 rows or more by a 10,000-row sample, so
two large tables that agree on the sampled rows would share a cache entry.
:func:`frame_digest` reads every cell, every column name and every dtype.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd

__all__ = ["frame_digest"]


def _hash(values: pd.Series) -> bytes:
    return pd.util.hash_pandas_object(values, index=False, categorize=False).to_numpy().tobytes()


def _column_bytes(column: pd.Series) -> bytes:
    nulls = np.asarray(column.isna()).tobytes()
    if column.dtype != object:
        return _hash(column) + nulls
    # Object columns may mix numbers and text (1 and "1" stringify alike), so each
    # cell's type is hashed beside its text; the null mask keeps None apart from "None".
    try:
        return _hash(column.astype(str)) + _hash(column.map(lambda v: type(v).__name__)) + nulls
    except (TypeError, ValueError):
        return pickle.dumps([(type(v).__name__, repr(v)) for v in column.tolist()])


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a DataFrame's values, column names, dtypes and index.

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1.0, 2.0]})
    >>> frame_digest(a) == frame_digest(a.copy())
    True
    >>> frame_digest(a) == frame_digest(pd.DataFrame({"x": [1.0, 2.5]}))
    False
    """
    h = hashlib.sha256()
    h.update(repr((frame.shape, [(repr(c), str(t)) for c, t in frame.dtypes.items()]))
             .encode("utf-8"))
    h.update(pd.util.hash_pandas_object(frame.index, categorize=False).to_numpy().tobytes())
    for i in range(frame.shape[1]):
        h.update(_column_bytes(frame.iloc[:, i]))
    return h.hexdigest()
