"""The analysis behind every page, cached on its inputs so reruns are instant."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

import metacore as mc
from metacore.report.charts.common import clip_label
from ui import state
from ui.cache import TableRef, cached

LEAVE_OUT = "leave_out"


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything a page draws: effect sizes, the chosen fit, companion fits, or an error."""

    effects: mc.EffectSizes | None = None
    shadow: mc.EffectSizes | None = None
    result: mc.PoolResult | None = None
    others: tuple[mc.PoolResult, ...] = ()
    error: str | None = None
    kinds: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result is not None


@cached(max_entries=64)
def kinds_of(ref: TableRef, mapping: tuple) -> tuple[str, ...]:
    """Data kinds of a table (binary, continuous, generic); () if none is recognised."""
    try:
        return mc.standardize(ref.frame, dict(mapping)).kinds
    except mc.MetacoreError:
        return ()


def _prepared(ref: TableRef, mapping: tuple, leave_out: tuple[int, ...]) -> mc.StudyTable:
    """The table in canonical columns, with the what-if leave-outs unticked."""
    st_table = mc.standardize(ref.frame, dict(mapping))
    if not leave_out:
        return st_table
    data = st_table.data.copy()
    data.loc[data["row"].isin(leave_out), "include"] = False
    return dataclasses.replace(st_table, data=data)


@cached(max_entries=64)
def analyse(ref: TableRef, mapping: tuple, leave_out: tuple[int, ...], measure: str,
            model: str, tau2: str, ci: str, level: float, cc: float, cc_to: str,
            drop00: bool, gen_scale: str = "auto", gen_label: str = "auto") -> Analysis:
    """Run the engine for one set of inputs; errors come back as text, never raised.

    ``gen_scale``/``gen_label`` say how ready-made effects are given; ``"auto"`` takes
    what :func:`metacore.generic_scale` reads from the table (an HR column is a ratio).
    """
    try:
        st_table = _prepared(ref, mapping, leave_out)
        scale, label = generic_choice(st_table, gen_scale, gen_label)
        # the same run the exported report and R script describe
        effects, result, shadow = mc.analysis_of(
            st_table, measure=measure, model=model, tau2_method=tau2, ci_method=ci,
            level=level, cc=cc, cc_to=cc_to, drop00=drop00, scale=scale, label=label)
        others: list[mc.PoolResult] = []
        companion = "common" if model == "random" else "random"
        if effects.k >= 1:
            others.append(mc.pool(effects, model=companion, tau2_method=tau2, ci_method=ci,
                                  level=level))
        return Analysis(effects=effects, shadow=shadow, result=result, others=tuple(others),
                        kinds=st_table.kinds)
    except mc.MetacoreError as err:
        return Analysis(error=str(err), kinds=kinds_of(ref, mapping))
    except Exception as err:  # noqa: BLE001 - the app must answer, never show a traceback
        return Analysis(error=f"This table could not be analysed ({type(err).__name__}: {err}). "
                              "Check the column mapping and the values on the Data page.")


def generic_choice(st_table: mc.StudyTable, gen_scale: str, gen_label: str) -> tuple[str, str]:
    """The scale and name of ready-made effects: the user's choice, else the table's own."""
    guess_scale, guess_label, _ = mc.generic_scale(st_table)
    scale = guess_scale if gen_scale == "auto" else gen_scale
    label = guess_label if gen_label == "auto" else gen_label
    if scale == "linear" and label in mc.effects.GENERIC_RATIOS:
        label = ""     # a ratio name on a linear scale would mislead
    return scale, label


@cached(max_entries=64)
def generic_guess(ref: TableRef, mapping: tuple) -> tuple[str, str, str]:
    """What the table itself says about its ready-made effects: ``(scale, label, why)``."""
    try:
        return mc.generic_scale(mc.standardize(ref.frame, dict(mapping)))
    except mc.MetacoreError:
        return "linear", "", ""


def current_inputs() -> tuple:
    """The arguments of :func:`analyse` for the current table and controls."""
    s = st.session_state
    return (state.table_ref(), state.mapping_key(),
            tuple(s.get(LEAVE_OUT, ())), s[state.MEASURE], s[state.MODEL], s[state.TAU2],
            s[state.CI], float(s[state.LEVEL]), float(s[state.CC]), s[state.CC_TO],
            bool(s[state.DROP00]), s.get(state.GEN_SCALE, "auto"), s.get(state.GEN_LABEL, "auto"))


def current() -> Analysis:
    """The analysis for the current table and controls."""
    return analyse(*current_inputs())


@cached(max_entries=64)
def forest_spec(inputs: tuple, sort: str, show_pi: bool, favours: tuple[str, str],
                show_both: bool) -> dict:
    """The forest plot's Vega-Lite spec, built once per set of inputs.

    Building and validating an Altair chart takes ~0.1 s; caching the plain spec
    keeps control changes that revisit a state instant.
    """
    from metacore.report.charts import forest_chart

    result = analyse(*inputs)
    drawn = [result.result, *result.others] if show_both else [result.result]
    chart = forest_chart(result.effects, drawn, shadow=result.shadow, sort=sort,
                         show_pi=show_pi, favours=favours)
    return chart.to_dict(validate=False)


def arrow_datasets(spec: dict) -> dict:
    """The spec with its inline datasets as Arrow bytes, the form Streamlit sends.

    ``st.vega_lite_chart`` converts list-of-records datasets to Arrow on every rerun
    (about a quarter of the forest page's CPU); a cached spec in this form skips it.
    """
    from streamlit import dataframe_util

    out = dict(spec)
    if "datasets" in out:
        out["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(values)
                           for name, values in spec["datasets"].items()}
    return out


@cached(max_entries=64)
def publication_spec(inputs: tuple, sort: str, show_pi: bool, style: str, font: str,
                     arms: tuple[str, str], favours: tuple[str, str],
                     width: int | str = "container") -> dict:
    """The RevMan-style forest plot's Vega-Lite spec (``width`` a number for exports)."""
    from metacore.report.charts.revman import publication_forest

    result = analyse(*inputs)
    chart = publication_forest(result.effects, result.result, shadow=result.shadow,
                               sort=sort, show_pi=show_pi, style=style, font=font, arms=arms,
                               favours=favours, width=width)
    return chart.to_dict(validate=False)


@cached(max_entries=64)
def publication_display_spec(inputs: tuple, sort: str, show_pi: bool, style: str, font: str,
                             arms: tuple[str, str], favours: tuple[str, str]) -> dict:
    """:func:`publication_spec` ready to send (datasets in Arrow form)."""
    return arrow_datasets(publication_spec(inputs, sort, show_pi, style, font, arms, favours))


@cached(max_entries=64)
def forest_display_spec(inputs: tuple, sort: str, show_pi: bool, favours: tuple[str, str],
                        show_both: bool) -> dict:
    """:func:`forest_spec` ready to send: datasets already in Arrow form."""
    return arrow_datasets(forest_spec(inputs, sort, show_pi, favours, show_both))


@cached(max_entries=64)
def study_choices(ref: TableRef, mapping: tuple) -> list[tuple[int, str]]:
    """``(row number, label)`` of every study, for pickers."""
    try:
        data = mc.standardize(ref.frame, dict(mapping)).data
    except mc.MetacoreError:
        return []
    # Short labels: the picker's chips must not overflow the column.
    return [(int(r), f"{clip_label(s, 32)} (row {int(r)})")
            for r, s in zip(data["row"], data["study"], strict=True)]


@cached(max_entries=32)
def causal_comparisons(ref: TableRef, mapping: tuple, leave_out: tuple[int, ...],
                       weights: tuple[float, ...] | None, target: str, tau2: str, ci: str,
                       level: float) -> tuple[dict, str | None]:
    """Classical and causal results for RD, RR, OR and SR: ``({measure: Comparison}, error)``."""
    from metacore.models.causal import CAUSAL_MEASURES, compare_classical_causal

    try:
        st_table = _prepared(ref, mapping, leave_out)
        out = {}
        for measure in CAUSAL_MEASURES:
            try:
                out[measure] = compare_classical_causal(
                    st_table, measure, weights=list(weights) if weights else None,
                    tau2_method=tau2, ci_method=ci, level=level, target=target)
            except mc.DataError as err:
                out[measure] = str(err)
        return out, None
    except mc.MetacoreError as err:
        return {}, str(err)


def export_kwargs(inputs: tuple) -> dict:
    """Keyword arguments of :mod:`metacore.report.export` for the analysis behind ``inputs``
    (the table as edited, its mapping and every setting, generic scale resolved)."""
    (ref, mapping, leave_out, measure, model, tau2, ci, level, cc, cc_to, drop00,
     gen_scale, gen_label) = inputs
    scale, label = None, ""
    if measure == "GEN":
        scale, label = generic_choice(mc.standardize(ref.frame, dict(mapping)), gen_scale,
                                      gen_label)
    return {"measure": measure, "model": model, "tau2_method": tau2, "ci_method": ci,
            "level": level, "cc": cc, "cc_to": cc_to, "drop00": drop00,
            "mapping": dict(mapping), "leave_out": list(leave_out), "scale": scale,
            "label": label}


@cached(max_entries=32)
def r_script(inputs: tuple) -> str:
    """The metafor script for the analysis behind ``inputs``."""
    return mc.export.metafor_script(inputs[0].frame, **export_kwargs(inputs))
