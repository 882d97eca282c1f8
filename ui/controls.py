"""The sidebar controls shared by every page (keys in :mod:`ui.state`)."""

from __future__ import annotations

import streamlit as st

import metacore as mc
from metacore.report.charts import clip_label
from ui import persist, review, state
from ui.analysis import generic_guess, kinds_of
from ui.text import md

MODEL_LABELS = {"random": "Random effects", "common": "Common effect",
                "MH": "Mantel-Haenszel", "PETO": "Peto"}
CI_LABELS = {"z": "Wald z", "hksj": "Hartung-Knapp (HKSJ)",
             "hksj-adhoc": "Modified HKSJ (never narrower than Wald)",
             "hksj-se": "HKSJ, SE floored at Wald's (meta 'se')",
             "hksj-ci": "HKSJ or Wald, whichever is wider (meta 'ci')",
             "hksj-iqwig6": "HKSJ, IQWiG 6 rule (meta 'IQWiG6')"}
CC_TO_LABELS = {"only0": "studies with a zero cell", "all": "all studies",
                "if0all": "all studies, if any has a zero cell", "none": "no correction"}
LABELS = {"dataset": "example dataset", "measure": "effect measure", "model": "pooling model",
          "tau2_method": "τ² estimator", "ci_method": "confidence interval",
          "level": "confidence level", "show_pi": "prediction interval",
          "cc": "zero-cell correction"}
ALL_MEASURES = (*mc.BINARY_MEASURES, *mc.CONTINUOUS_MEASURES, "GEN")


def valid_measures(kinds: tuple[str, ...]) -> list[str]:
    """Effect measures the current table supports (all of them if none is recognised)."""
    return [m for k in kinds for m in mc.measures_for(k)] or list(ALL_MEASURES)


def valid_models(measure: str) -> list[str]:
    """Pooling models available for a measure: MH for OR/RR/RD, Peto for OR."""
    models = ["random", "common"]
    if measure in {"OR", "RR", "RD"}:
        models.append("MH")
    if measure in {"OR", "PETO"}:
        models.append("PETO")
    return models


def sidebar(ignored: dict[str, str] | None = None) -> None:
    """Draw the shared controls; invalid choices left over from other data are reset first.

    Controls named in ``ignored`` (key -> reason) are drawn disabled with the reason.
    """
    s = st.session_state
    ignored = ignored or {}
    off = ignored.__contains__
    with st.sidebar:
        if ignored:
            st.caption(":material/info: On this page some controls are off: "
                       + "; ".join(f"{LABELS.get(k, k)} — {why}" for k, why in ignored.items())
                       + ".")
        analysis_controls()
        review.picker()
        if "_dataset_next" in s:
            s[state.DATASET] = s.pop("_dataset_next")
        names = mc.datasets.names()
        if s.get(state.DATASET) == state.YOURS:
            names = [state.YOURS, *names]
        s["_dataset_shown"] = s.get(state.DATASET)
        # a fixed label for "your table": a label that changed with the table's name would
        # no longer match the choice the browser sends back after the name changed
        st.selectbox("Example dataset", names, key=state.DATASET, disabled=off("dataset"),
                     format_func=lambda n: "Your table" if n == state.YOURS
                     else mc.datasets.CATALOG[n].title,
                     on_change=state.choose_dataset,
                     help="Loads a bundled table; your own data goes in on the Data page.")
        if s.get(state.DATASET) == state.YOURS:
            st.caption(f"Your table: **{md(clip_label(s[state.SOURCE], 60))}**")
        if s.get(state.PENDING):
            replace_question(mc.datasets.CATALOG[s[state.PENDING]].title, "dataset",
                             state.resolve_pending)
        kinds = kinds_of(state.table_ref(), state.mapping_key())
        measures = valid_measures(kinds)
        if s.get(state.MEASURE) not in measures:
            s[state.MEASURE] = measures[0]
        st.selectbox("Effect measure", measures, key=state.MEASURE, disabled=off("measure"),
                     format_func=lambda m: f"{mc.MEASURE_LABELS[m]} ({m})")
        if s[state.MEASURE] == "GEN":
            generic_controls()
        models = valid_models(s[state.MEASURE])
        if s.get(state.MODEL) not in models:
            s[state.MODEL] = "random"
        st.radio("Pooling model", models, key=state.MODEL, format_func=MODEL_LABELS.get,
                 horizontal=True, disabled=off("model"))
        fixed_only = s[state.MODEL] in ("MH", "PETO")
        st.selectbox("τ² estimator", list(mc.ESTIMATORS), key=state.TAU2,
                     format_func=lambda m: f"{mc.TAU2_LABELS[m]} ({m})",
                     disabled=(s[state.MODEL] != "random" and not off("model"))
                     or off("tau2_method"),
                     help="Between-study variance estimator for random effects.")
        st.radio("Confidence interval", list(CI_LABELS), key=state.CI,
                 format_func=CI_LABELS.get, horizontal=True,
                 disabled=fixed_only or off("ci_method"),
                 help="HKSJ uses a t distribution with k-1 df and a rescaled SE; when the "
                      "studies agree closely it can be narrower than Wald's interval, which "
                      "the modified HKSJ (metafor's test='adhoc') and meta's variants avoid.")
        st.select_slider("Confidence level", options=list(state.LEVELS), key=state.LEVEL,
                         format_func=lambda x: f"{x:.0%}")
        st.toggle("Prediction interval", key=state.SHOW_PI, disabled=off("show_pi"),
                  help="Where the true effect of a new study would likely lie.")
        with st.expander("Zero cells (2×2 tables)"):
            st.number_input("Continuity correction", min_value=0.0, max_value=1.0, step=0.05,
                            key=state.CC, disabled=off("cc"))
            st.selectbox("Add it to", list(CC_TO_LABELS), key=state.CC_TO,
                         format_func=CC_TO_LABELS.get, disabled=off("cc"))
            st.checkbox("Drop double-zero studies", key=state.DROP00, disabled=off("cc"))
        st.caption("One-click presets that reproduce other tools")
        for name, hint in state.PRESET_HINTS.items():
            st.button(name, key=f"preset_{name}", on_click=state.apply_preset, args=(name,),
                      width="stretch", help=hint)


_SCALE_LABELS = {"auto": "As the table says", "linear": "Differences (linear scale)",
                 "ratio": "Ratios (HR, OR, RR …)", "log": "Log ratios (log HR, log OR …)"}


def generic_controls() -> None:
    """How ready-made effects are given, and their name: guessed from the table, changeable."""
    scale, label, why = generic_guess(state.table_ref(), state.mapping_key())
    guessed = f"{_SCALE_LABELS[scale].split(' (')[0].lower()}" + (
        f", {mc.measure_name('GEN', label).lower()}" if label else "")
    st.selectbox("The effects are", list(_SCALE_LABELS), key=state.GEN_SCALE,
                 format_func=lambda v: f"As the table says ({guessed})" if v == "auto"
                 else _SCALE_LABELS[v],
                 help="Ratios are analysed as logs and shown back as ratios on a log axis. "
                      + (f"Read from the table: {why}." if why else
                         "Nothing in the table says these are ratios."))
    names = ["auto", *mc.GENERIC_NAMES, ""]
    st.selectbox("Name of the measure", names, key=state.GEN_LABEL,
                 format_func=lambda v: (f"As the table says ({label or 'none'})" if v == "auto"
                                        else "None (effect size)" if v == ""
                                        else f"{mc.GENERIC_NAMES[v]} ({v})"))


def replace_question(what: str, key: str, answer) -> None:
    """Ask before unsaved edits are replaced; ``answer(True/False)`` is the callback."""
    st.warning(f"Replace your edited table with {md(what)}? Your unsaved edits would be lost "
               "(save them first to keep them).", icon=":material/warning:")
    c1, c2 = st.columns(2)
    c1.button("Replace", key=f"{key}_replace", on_click=answer, args=(True,), width="stretch")
    c2.button("Keep mine", key=f"{key}_keep", on_click=answer, args=(False,), width="stretch")


def share_link(analysis_id: str, param: str = "analysis") -> str:
    """The address that opens a saved analysis (this server, its base path); with
    ``param="link"``, a read-only link's token."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(st.context.url or "")
        base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    except Exception:  # noqa: BLE001 - no browser (AppTest)
        base = ""
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{base}/{prefix + '/' if prefix else ''}?{param}={analysis_id}"


def analysis_controls() -> None:
    """Name, save, undo/redo and the share link of the current analysis."""
    s = st.session_state
    if "_name_next" in s:
        s[persist.NAME] = s.pop("_name_next")
    st.text_input("Analysis", key=persist.NAME, max_chars=120,
                  placeholder=clip_label(s.get(state.SOURCE, "Untitled analysis"), 40),
                  help="The name it is saved under.")
    c1, c2, c3 = st.columns([1, 1, 1.3])
    c1.button("", key="undo", icon=":material/undo:", on_click=persist.undo,
              disabled=not persist.can_undo(), help="Undo (table edits and settings)",
              width="stretch")
    c2.button("", key="redo", icon=":material/redo:", on_click=persist.redo,
              disabled=not persist.can_redo(), help="Redo", width="stretch")
    c3.button("Save", key="save_analysis", icon=":material/save:", on_click=persist.save,
              type="primary", width="stretch",
              help="Saves the table as edited and every setting; saving again keeps the "
                   "earlier versions. The link in the address bar then opens it.")
    kind, text = s.pop("_save_message", (None, None))
    if kind == "error":
        st.error(md(text), icon=":material/error:")
    elif kind:
        st.success(md(text), icon=":material/check_circle:")
    if s.get(persist.ANALYSIS_ID):
        st.caption(f"Share link (version {s.get(persist.VERSION)}):")
        st.code(share_link(s[persist.ANALYSIS_ID]), language=None, wrap_lines=True)
    persist.set_cookie_once()
