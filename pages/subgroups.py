"""Subgroups & meta-regression: explain heterogeneity, not just measure it."""

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.table import extra_columns
from metacore.numbers import format_effect, format_number, format_p
from metacore.report.describe import SHORT_NAMES
from ui import analysis as an
from ui import state, widgets
from ui.page import setup
from ui.subgroups import regression, regression_chart, sentence, subgroup_view
from ui.text import md

MAX_LEVELS = 20

setup()
s = st.session_state
st.title("Subgroups & meta-regression")
st.markdown("Does the effect differ by population, dose or design? Split the studies into "
            "subgroups, or regress their effects on study characteristics (moderators).")
result = widgets.analysis_or_stop()
eff = result.effects
model = result.result.model if result.result.model in ("random", "common") else "common"
if result.result.model in ("MH", "PETO"):
    st.caption(":material/info: Subgroups and meta-regression use inverse-variance weights; "
               "with Mantel-Haenszel or Peto chosen, the common-effect model is used here.")
tau2, ci, level = s[state.TAU2], s[state.CI], float(s[state.LEVEL])
inputs = an.current_inputs()
extra = extra_columns(eff.data)
text_cols = [c for c in extra if not pd.api.types.is_numeric_dtype(eff.data[c])]
numeric_cols = [c for c in extra if pd.api.types.is_numeric_dtype(eff.data[c])]

st.header("Subgroups")
if not extra:
    st.info("This table has no column to form subgroups or moderators from. Add one on the "
            "Data page (e.g. a text column 'subgroup' or a number such as the year).")
else:
    choices = text_cols + [c for c in numeric_cols if eff.data[c].nunique() <= MAX_LEVELS]
    default = choices.index("subgroup") if "subgroup" in choices else 0
    c1, c2 = st.columns([2, 3])
    by = c1.selectbox("Subgroups from", choices, index=default, key="sg_by",
                      format_func=str) if choices else None
    common = c2.radio("Between-study variance", ["separate", "common"], key="sg_tau2",
                      horizontal=True, format_func={"separate": "τ² per subgroup (RevMan, meta)",
                                                    "common": "one common τ² (metafor mods)"}.get,
                      disabled=model == "common") == "common"
    levels = eff.data[by].dropna().astype(str).str.strip().nunique() if by else 0
    if by is None:
        st.info("No column has few enough values to form subgroups.")
    elif levels > MAX_LEVELS:
        st.warning(f"'{md(by)}' has {levels} different values: subgroups need several studies "
                   f"each. Pick a column with at most {MAX_LEVELS} values.",
                   icon=":material/warning:")
    else:
        favours = ("Favours treatment", "Favours control")
        if s[state.OUTCOME] == "desirable":
            favours = favours[::-1]
        spec, sg, error = subgroup_view(inputs, by, common, model, tau2, ci, level, favours)
        if error:
            st.warning(md(error), icon=":material/warning:")
        else:
            st.vega_lite_chart(an.arrow_datasets(spec), key="sg_chart", width="content",
                               theme=None)
            st.caption(md(sg.test_text()) + ". " + widgets.settings_line(sg.overall))
            for note in sg.notes:
                st.caption(f":material/info: {md(note)}")
            widgets.chart_downloads(spec, f"subgroups_{by}", "dl_sg", label="Subgroup plot")

st.header("Meta-regression")
if extra:
    mods = st.multiselect("Moderators", numeric_cols + [c for c in text_cols
                                                         if c not in numeric_cols],
                          default=[c for c in ("ablat",) if c in numeric_cols][:1],
                          key="mr_mods", placeholder="Pick one or more study characteristics")
    too_many = [m for m in mods if m in text_cols and
                eff.data[m].dropna().astype(str).nunique() > MAX_LEVELS]
    if too_many:
        st.warning(f"'{md(too_many[0])}' has more than {MAX_LEVELS} different values; as a "
                   "categorical moderator it would need a coefficient for each.",
                   icon=":material/warning:")
    elif mods:
        res, error = regression(inputs, tuple(mods), tau2, ci, level)
        if error:
            st.warning(md(error), icon=":material/warning:")
        else:
            table = res.coef.copy()
            if res.ratio:
                table.insert(1, "ratio", np.exp(table["estimate"]))
            st.dataframe(widgets.rounded(table), width="stretch")
            test = (f"F({res.qm_df}, {res.qm_df2}) = {res.qm:.2f}" if res.qm_df2 else
                    f"QM({res.qm_df}) = {res.qm:.2f}")
            m = st.columns(4)
            m[0].metric("Test of moderators", test, help=f"p = {format_p(res.qm_pvalue)}")
            m[1].metric("R² (variance explained)", f"{res.r2:.1f}%")
            m[2].metric("Residual τ²", format_number(res.tau2, 3),
                        help=f"I² = {res.i2:.1f}%, H² = {res.h2:.2f}")
            m[3].metric("Residual heterogeneity", f"QE({res.qe_df}) = {res.qe:.2f}",
                        help=f"p = {format_p(res.qe_pvalue)}")
            st.caption(f"{res.settings}; k = {res.k}. Measure: {mc.MEASURE_LABELS[res.measure]}"
                       + (" (coefficients on the log scale; 'ratio' = exp)." if res.ratio
                          else "."))
            for note in res.notes:
                st.caption(f":material/info: {md(note)}")
            continuous = [m for m in mods if m not in res.levels]
            categorical = [m for m in mods if m in res.levels]
            if continuous:
                shown = continuous[0] if len(continuous) == 1 else st.selectbox(
                    "Bubble plot against", continuous, key="mr_bubble")
                x = res.design.X[:, res.design.names.index(shown)]
                st.info(sentence(res, shown, x), icon=":material/chat:")
                at_value = st.number_input(f"Predict the effect at {shown} =",
                                           value=float(np.round(np.median(x), 2)),
                                           key="mr_predict_at")
                others = {t: (res.levels[t][0] if t in res.levels else
                              float(res.design.X[:, res.design.names.index(t)].mean()))
                          for t in res.terms if t != shown}
                p = res.predict({shown: at_value, **others}).iloc[0]
                tr = res.transform
                st.caption(
                    f"Predicted {SHORT_NAMES.get(res.measure, 'effect')} at {md(shown)} = "
                    f"{format_number(at_value)}: {format_effect(tr(p['pred']), 3)} "
                    f"({res.level:.0%} CI {format_effect(tr(p['ci_low']), 3)} to "
                    f"{format_effect(tr(p['ci_high']), 3)}; prediction interval "
                    f"{format_effect(tr(p['pi_low']), 3)} to {format_effect(tr(p['pi_high']), 3)})"
                    + (f", other moderators at {md(', '.join(others))} reference values"
                       if others else "") + ".")
                chart = regression_chart(inputs, tuple(mods), tau2, ci, level, "bubble", shown)
                st.vega_lite_chart(chart, key="mr_chart", width="content", theme=None)
                widgets.chart_downloads(chart, f"bubble_{shown}", "dl_bubble",
                                        label="Bubble plot")
            for cat in categorical:
                chart = regression_chart(inputs, tuple(mods), tau2, ci, level, "level", cat)
                st.vega_lite_chart(chart, key=f"mr_level_{cat}", width="content", theme=None)
            st.download_button("Coefficients (CSV)", widgets.deferred_csv(res.to_frame()),
                               "metaregression_coefficients.csv", "text/csv", key="dl_coef",
                               on_click="ignore")
    else:
        st.info("Pick one or more moderators above (for BCG: ablat, the absolute latitude).")
