"""The Data page's column mapping: every column with its role in words, opened with
suggestions when the names were not recognised."""

import pandas as pd
import streamlit as st

from metacore.data.table import ALIASES, COLUMN_WORDS, detect_kinds, map_columns, suggest_mapping
from ui import state
from ui.text import md

_VERSION = "_map_version"


def _words(canon: str | None) -> str:
    return "(not used)" if canon is None else COLUMN_WORDS.get(canon, canon)


def _use(suggested: dict) -> None:
    """Callback: take the suggestions (the selectboxes are drawn afresh with them)."""
    s = st.session_state
    s[state.MAPPING] = {**state.mapping(), **suggested}
    s[_VERSION] = s.get(_VERSION, 0) + 1


def column_mapping(table: pd.DataFrame) -> None:
    """The "Column mapping" expander for ``table``."""
    s = st.session_state
    auto = map_columns(list(table.columns))
    current = {**auto, **{k: v for k, v in state.mapping().items() if k in table.columns}}
    found = {v for v in current.values() if v}
    recognised = bool(detect_kinds(pd.DataFrame(columns=sorted(found))))
    suggested = {} if recognised else {
        c: k for c, k in suggest_mapping(list(table.columns)).items()
        if current.get(c) is None and k not in found}
    with st.expander("Column mapping", expanded=not recognised):
        if not recognised:
            if suggested:
                listed = "; ".join(f"**{md(c)}** → {COLUMN_WORDS.get(k, k)}"
                                   for c, k in suggested.items())
                st.info("The study columns were not all recognised by name. From the column "
                        f"names these look likely: {listed}. Check them, then use them — or "
                        "map each column below.", icon=":material/lightbulb:")
                st.button("Use the suggested mapping", key="map_suggested", on_click=_use,
                          args=(suggested,), type="primary")
            else:
                st.info("The study columns were not recognised by name: map each one below "
                        "(e.g. the events and totals of each arm).", icon=":material/info:")
        st.caption("Columns are recognised by name (metafor, RevMan and meta spellings, any "
                   "case). Fix a mapping here if a column was missed or misread.")
        options = [None, *ALIASES]
        cols = st.columns(3)
        overrides = {}
        version = f"{s[state.EDITOR_VERSION]}_{s.get(_VERSION, 0)}"
        for i, col in enumerate(table.columns):
            now = current.get(col)
            label = md(col) + (f" — suggested: {_words(suggested[col])}"
                               if col in suggested else "")
            picked = cols[i % 3].selectbox(label, options,
                                           index=options.index(now) if now in options else 0,
                                           key=f"map_{version}_{i}", format_func=_words)
            if picked != auto.get(col):
                overrides[col] = picked
        if overrides != state.mapping():
            s[state.MAPPING] = overrides
            st.rerun()
