"""Session-state keys, defaults and the current study table.

The edited table lives under its own key (``TABLE``) and everything is derived
from it; the editor is fed from a separate snapshot (``EDITOR_BASE``) that only
changes when the editor is mounted afresh, which avoids Streamlit's lost-edits
problem when a data editor is fed back from session state (streamlit #7749).
"""

from __future__ import annotations

import copy

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

import metacore as mc
from ui.cache import TableRef

# Widget keys the outside checks rely on.
DATASET, MEASURE, MODEL, TAU2, CI, LEVEL = (
    "dataset", "measure", "model", "tau2_method", "ci_method", "level")
CC, CC_TO, DROP00, SHOW_PI = "cc", "cc_to", "drop00", "show_pi"
#: The outcome's direction (desirable or undesirable); ``outcome`` is the review-outcome
#: picker's key (DESIGN.md's widget keys).
DIRECTION = "direction"
GEN_SCALE, GEN_LABEL = "gen_scale", "gen_label"
TABLE, SOURCE, MAPPING, EDITOR_VERSION, EDITOR_BASE = (
    "table", "source_name", "mapping", "editor_version", "editor_base")

DEFAULT_DATASET = "bcg"
DEFAULTS = {MODEL: "random", TAU2: "REML", CI: "z", LEVEL: 0.95, CC: 0.5, CC_TO: "only0",
            DROP00: False, SHOW_PI: True, DIRECTION: "undesirable", GEN_SCALE: "auto",
            GEN_LABEL: "auto",
            "show_both": False, "forest_sort": "input", "leave_out": [],
            "forest_style": "journal", "forest_font": "sans", "arm_t": "", "arm_c": "",
            "fav_left": "", "fav_right": ""}
#: Plot labels and style: kept across pages and saved with an analysis.
PLOT_KEYS = ("forest_style", "forest_font", "arm_t", "arm_c", "fav_left", "fav_right")
#: What describes a table rather than how it is analysed: arm and favours labels, how its
#: ready-made effects are given, the summary-of-findings outcome, the report's title, the
#: analysis name. They belong to the table: a new table starts without them, and a saved
#: analysis or project file brings its own (``ui.persist.apply``).
TABLE_LABELS = (GEN_SCALE, GEN_LABEL, "arm_t", "arm_c", "fav_left", "fav_right",
                "sof_outcome", "sof_certainty", "sof_acr", "sof_units", "sof_comments",
                "report_title", "analysis_name")
#: Empty values of the labels that have no entry in DEFAULTS (their widgets' defaults).
LABEL_DEFAULTS = {"sof_outcome": "", "sof_certainty": "not rated", "sof_acr": None,
                  "sof_units": "", "sof_comments": "", "report_title": "",
                  "analysis_name": ""}
_LABELS_NEXT = "_labels_next"
LEVELS = (0.8, 0.9, 0.95, 0.99)

#: Every setting a preset concerns: a preset sets each of them, so nothing chosen before
#: survives into a result that claims to reproduce another tool.
PRESET_KEYS = (MODEL, TAU2, CI, LEVEL, CC, CC_TO, DROP00, SHOW_PI)
PRESETS: dict[str, dict] = {
    # escalc(add = 1/2, to = "only0", drop00 = FALSE); rma(method = "REML", test = "z")
    "metafor defaults": {MODEL: "random", TAU2: "REML", CI: "z", LEVEL: 0.95, CC: 0.5,
                         CC_TO: "only0", DROP00: False, SHOW_PI: True},
    # RevMan 5: DerSimonian-Laird; double-zero studies "Not estimable"; no prediction interval
    "RevMan 5": {MODEL: "random", TAU2: "DL", CI: "z", LEVEL: 0.95, CC: 0.5,
                 CC_TO: "only0", DROP00: True, SHOW_PI: False},
    # Cochrane Handbook / RevMan 2025: REML, HKSJ, prediction interval
    "Cochrane 2025": {MODEL: "random", TAU2: "REML", CI: "hksj", LEVEL: 0.95, CC: 0.5,
                      CC_TO: "only0", DROP00: True, SHOW_PI: True},
}

PRESET_HINTS = {
    "metafor defaults": "REML, Wald z, prediction interval, 0.5 added to zero cells, "
                        "double-zero studies kept",
    "RevMan 5": "DerSimonian-Laird, Wald z, no prediction interval, double-zero studies "
                "not estimable",
    "Cochrane 2025": "REML, Hartung-Knapp-Sidik-Jonkman, prediction interval, double-zero "
                     "studies not estimable. Cochrane chose HKSJ because Wald intervals are "
                     "too narrow with few studies; HKSJ can itself be narrower than Wald when "
                     "studies agree closely (a note says so) - then report the modified HKSJ "
                     "as a sensitivity analysis",
}


def with_include(table: pd.DataFrame) -> pd.DataFrame:
    """The table with an ``include`` column first, ticked where not given."""
    table = table.copy()
    st_table = mc.standardize(table)
    include_cols = [c for c, canon in st_table.mapping.items() if canon == "include"]
    if include_cols:
        col = include_cols[0]
        table[col] = st_table.data["include"].to_numpy()
        return table[[col, *[c for c in table.columns if c != col]]]
    table.insert(0, "include", True)
    return table


#: The dataset selector's entry for a table that is not a bundled example.
YOURS = "__yours__"
PENDING = "pending_dataset"


def set_table(table: pd.DataFrame, source: str, example: str | None = None) -> None:
    """Make ``table`` the current study table (a fresh editor shows it).

    ``example`` names the bundled dataset it came from; otherwise the dataset selector
    shows "Your table" so that choosing an example is always a change.
    """
    st.session_state[TABLE] = with_include(table)
    st.session_state["_loaded_digest"] = table_ref().digest
    # The selector may already be drawn in this run: it takes the value on the next one.
    st.session_state["_dataset_next"] = example or YOURS
    st.session_state.pop(PENDING, None)
    st.session_state[SOURCE] = source
    st.session_state["reading_notes"] = list(table.attrs.get("notes", []))
    st.session_state[MAPPING] = {}
    st.session_state["leave_out"] = []
    _forget_labels()
    st.session_state[EDITOR_VERSION] = st.session_state.get(EDITOR_VERSION, 0) + 1
    # a new table is a new analysis: it is no longer the saved one the link names (the
    # address bar follows in ui.persist.checkpoint)
    st.session_state["analysis_id"] = st.session_state["analysis_version"] = None


def _forget_labels() -> None:
    """Reset what described the previous table. A widget already drawn in this run cannot
    be set (and a deleted value would come back from the browser), so its reset waits for
    the start of the next run (:func:`init`), before any widget is drawn."""
    s = st.session_state
    for key in TABLE_LABELS:
        value = copy.deepcopy(DEFAULTS.get(key, LABEL_DEFAULTS.get(key)))
        try:
            s[key] = value
        except StreamlitAPIException:
            s.setdefault(_LABELS_NEXT, {})[key] = value


def has_edits() -> bool:
    """True when the current table differs from what was loaded (edits would be lost)."""
    return table_ref().digest != st.session_state.get("_loaded_digest")


def load_dataset(name: str | None = None) -> None:
    """Load a bundled table (the dataset selector's choice by default)."""
    name = name or st.session_state[DATASET]
    info = mc.datasets.CATALOG[name]
    set_table(mc.datasets.load(name), info.title, example=name)
    st.session_state[MEASURE] = info.measure
    if info.direction:     # a table that knows its outcome's direction sets it
        try:
            st.session_state[DIRECTION] = info.direction
        except StreamlitAPIException:   # the radio is drawn in this run: set on the next
            st.session_state.setdefault(_LABELS_NEXT, {})[DIRECTION] = info.direction


def choose_dataset() -> None:
    """Callback of the dataset selector: load it, or ask first if edits would be lost."""
    name = st.session_state[DATASET]
    if name == YOURS:
        return
    if has_edits():
        st.session_state[PENDING] = name
        st.session_state[DATASET] = st.session_state.get("_dataset_shown", YOURS)
        return
    load_dataset(name)


def resolve_pending(replace: bool) -> None:
    """Callback of the "replace your edited table?" question."""
    name = st.session_state.pop(PENDING, None)
    if replace and name:
        load_dataset(name)


def init() -> None:
    """Set defaults once per session and load the default dataset."""
    for key, value in st.session_state.pop(_LABELS_NEXT, {}).items():
        st.session_state[key] = value
    for key, value in DEFAULTS.items():
        if key not in st.session_state:   # a copy: no session may share a default list
            st.session_state[key] = copy.deepcopy(value)
    if TABLE not in st.session_state:
        load_dataset(DEFAULT_DATASET)


def persist_widgets() -> None:
    """Keep widget values when the user moves to another page.

    Streamlit forgets the state of widgets that were not drawn in the previous run
    (a page switch redraws them under the new page); writing each value back as
    plain session state makes it survive the switch.
    """
    for key in (DATASET, MEASURE, MODEL, TAU2, CI, LEVEL, CC, CC_TO, DROP00, SHOW_PI, DIRECTION,
                GEN_SCALE, GEN_LABEL, "analysis_name", "sof_outcome", "sof_certainty",
                "sof_units", "sof_comments", "report_title",
                "forest_sort", "leave_out", "show_both", *PLOT_KEYS):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def apply_preset(name: str) -> None:
    """Callback: set the controls to a preset."""
    for key, value in PRESETS[name].items():
        st.session_state[key] = value


def table() -> pd.DataFrame:
    """The current (edited) study table."""
    return st.session_state[TABLE]


def ref_of(key: str) -> TableRef:
    """The table under session key ``key`` with its full-content digest.

    The digest is computed once per table object: the memo holds the object itself,
    so an identity check cannot be fooled by a recycled ``id``.
    """
    frame = st.session_state[key]
    memo = st.session_state.get(f"_ref_{key}")
    if memo is None or memo.frame is not frame:
        memo = TableRef.of(frame)
        st.session_state[f"_ref_{key}"] = memo
    return memo


def table_ref() -> TableRef:
    """The current study table with its full-content digest."""
    return ref_of(TABLE)


def mapping_key() -> tuple:
    """The hand mapping as a hashable, ordered tuple."""
    return tuple(sorted(mapping().items(), key=str))


def mapping() -> dict:
    """Hand corrections of the column mapping: ``{column: canonical or None}``."""
    return st.session_state.get(MAPPING, {})
