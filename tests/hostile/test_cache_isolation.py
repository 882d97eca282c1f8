"""Two users' tables must never share a cache entry (hostile probe 1).

Streamlit 1.67 hashes a DataFrame of 50,000 rows or more by a 10,000-row sample.
The probe: two 60,000-row tables that differ only outside the sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime.caching import hashing

from metacore.data.fingerprint import frame_digest
from ui import analysis as an
from ui.cache import TableRef

N = 60_000


def _colliding_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"study": [f"S{i}" for i in range(N)],
                      "yi": rng.normal(0.2, 0.3, N), "sei": rng.uniform(0.1, 0.5, N),
                      "include": True})
    sampled = a.sample(n=hashing._PANDAS_SAMPLE_SIZE, random_state=hashing._sample_seed()).index
    outside = np.setdiff1d(a.index, sampled)
    b = a.copy()
    # Move every unsampled study's estimate a long way: the pooled result must change.
    b.loc[outside, "yi"] = b.loc[outside, "yi"] + 5.0
    b.loc[outside, "study"] = [f"Other {i}" for i in outside]
    return a, b


@pytest.fixture(scope="module")
def pair():
    return _colliding_pair()


def test_the_probe_tables_do_collide_under_streamlit_sampling(pair):
    a, b = pair
    calls = []

    @st.cache_data(show_spinner=False)
    def naive(table: pd.DataFrame) -> int:
        calls.append(1)
        return len(calls)

    assert naive(a) == naive(b) == 1   # the second call was served from the first's entry
    naive.clear()


def test_full_content_digest_tells_them_apart(pair):
    a, b = pair
    assert frame_digest(a) != frame_digest(b)
    assert frame_digest(a) == frame_digest(a.copy())
    # a single edited cell, and a renamed column, change the digest too
    c = a.copy()
    c.iloc[N - 1, 1] += 1e-12
    assert frame_digest(c) != frame_digest(a)
    assert frame_digest(a.rename(columns={"yi": "y"})) != frame_digest(a)
    assert frame_digest(a.astype({"include": object})) != frame_digest(a)


def test_cached_analysis_is_per_table(pair):
    a, b = pair
    args = ((), (), "GEN", "random", "DL", "z", 0.95, 0.5, "only0", False)
    res_a = an.analyse(TableRef.of(a), *args)
    res_b = an.analyse(TableRef.of(b), *args)
    assert res_a.ok and res_b.ok
    assert res_b.result.estimate > res_a.result.estimate + 3.0
    assert res_b.effects.study[-1] != res_a.effects.study[-1] or \
        set(res_b.effects.study) != set(res_a.effects.study)
    # and a one-cell edit is seen
    c = a.copy()
    c.loc[N - 1, "yi"] += 100.0
    res_c = an.analyse(TableRef.of(c), *args)
    assert res_c.result.estimate != res_a.result.estimate


def test_mixed_object_columns_are_digested():
    mixed = pd.DataFrame({"x": [1, "1", None, 2.0]}, dtype=object)
    other = pd.DataFrame({"x": ["1", 1, None, 2.0]}, dtype=object)
    assert frame_digest(mixed) != frame_digest(other)
    none_vs_nan = pd.DataFrame({"x": ["a", None]}, dtype=object)
    assert frame_digest(none_vs_nan) == frame_digest(none_vs_nan.copy())
