"""Classical versus causal meta-analysis of the current 2x2 table (seed 003)."""

import pandas as pd
import streamlit as st

from metacore.models.causal import geometric_mean_ratio, verdict
from metacore.models.pooling import CI_LABELS
from metacore.numbers import format_effect
from metacore.report.charts import METHOD_COLORS, comparison_chart
from ui import analysis as an
from ui import state, widgets
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Classical versus causal")
st.markdown(
    "A classical meta-analysis of risk ratios or odds ratios averages the studies' **log "
    "ratios**; the result need not be the effect in any real population. The causal approach "
    "of Berenfeld et al. first averages each arm's **risk** over a target population — by "
    "default everyone in the trials pooled, P* = Σ nₖ/n Pₖ — and then forms the ratio. Even "
    "for the risk difference the two answer different questions (Berenfeld et al.): the "
    "random-effects RD is a causal effect too, but for a different population — one that "
    "weights each trial ∝ 1/(σₖ² + τ²), by its precision rather than by its size — so on "
    "the same data the two RDs can differ, and for ratios they can disagree, even reverse.")

mapping = state.mapping_key()
if "binary" not in an.kinds_of(state.table_ref(), mapping):
    st.info("The causal comparison needs 2×2 tables (events and totals per arm). Load the BCG "
            "or magnesium example in the sidebar, or bring such a table on the Data page.")
    st.stop()

usable = an.analyse(state.table_ref(), mapping, tuple(s.get(an.LEAVE_OUT, ())), "AS", "common",
                    "DL", "z", 0.95, 0.0, "none", False)
if widgets.error_box(usable):
    st.stop()
studies = list(usable.effects.study)
sizes = (usable.effects.data["n_t"] + usable.effects.data["n_c"]).to_numpy(float)

st.subheader("Target population")
TARGETS = {"sizes": "All trial participants pooled (weights n_k/n)",
           "equal": "An equal mix of the trial populations",
           "trial": "The population of one trial", "custom": "Custom weights"}
target = st.radio("Whose effect do you want?", list(TARGETS), key="causal_target",
                  format_func=TARGETS.get, horizontal=True)
weights: tuple[float, ...] | None = None
label = "study sizes"
if target == "equal":
    weights, label = tuple(1.0 for _ in studies), "equal"
elif target == "trial":
    # Chosen by position: two trials may share a name.
    trials = [f"{name} (row {row})" for name, row in zip(studies, usable.effects.rows,
                                                          strict=True)]
    pick = st.selectbox("Trial", range(len(trials)), key="causal_trial",
                        format_func=trials.__getitem__)
    pick = pick if pick is not None and pick < len(trials) else 0
    weights = tuple(float(i == pick) for i in range(len(trials)))
    label = trials[pick]
elif target == "custom":
    start = pd.DataFrame({"study": studies, "weight": sizes / sizes.sum()})
    edited = st.data_editor(start, key=f"causal_weights_{len(studies)}", hide_index=True,
                            disabled=["study"], column_config={"weight": st.column_config
                            .NumberColumn("weight", min_value=0.0, format="%.3f")})
    w = pd.to_numeric(edited["weight"], errors="coerce").fillna(0).clip(lower=0).to_numpy()
    if w.sum() <= 0:
        st.warning("Give at least one study a positive weight; using study sizes meanwhile.")
    else:
        weights, label = tuple(w / w.sum()), "custom"

results, error = an.causal_comparisons(state.table_ref(), mapping, tuple(s.get(an.LEAVE_OUT, ())),
                                       weights, label, s[state.TAU2], s[state.CI],
                                       float(s[state.LEVEL]))
if error:
    st.error(md(error), icon=":material/error:")
    st.stop()

rows, verdicts = [], {}
for measure, cmp in results.items():
    if isinstance(cmp, str):
        verdicts[measure] = [cmp]
        continue
    named = (("Common effect", cmp.common), ("Random effects", cmp.random),
             ("Causal (target population)", cmp.causal))
    for method, res in named:
        if res is None:
            continue
        nat = res.natural()
        rows.append({"measure": measure, "method": method, "est": nat["estimate"],
                     "lo": nat["ci_low"], "hi": nat["ci_high"]})
    if cmp.random is not None:
        verdicts[measure] = verdict(
            (cmp.random.estimate, cmp.random.ci_low, cmp.random.ci_high),
            (cmp.causal.estimate, cmp.causal.ci_low, cmp.causal.ci_high), measure)
frame = pd.DataFrame(rows)
# The chart has its own row: beside the verdicts it was wider than its column.
if frame.empty:
    st.info("No measure could be estimated from these tables (for example, no events in "
            "any arm); the reasons are listed below.", icon=":material/info:")
else:
    st.vega_lite_chart(comparison_chart(frame, float(s[state.LEVEL])).to_dict(validate=False),
                       key="causal_chart", width="content", theme=None)
st.markdown("**Do the conclusions differ?** (classical random effects vs causal)")
names = {"RD": "Risk difference", "RR": "Risk ratio", "OR": "Odds ratio",
         "SR": "Survival ratio"}
boxes = st.columns(2)
for i, (measure, why) in enumerate(verdicts.items()):
    with boxes[i % 2]:
        if why:
            st.warning(f"**{names[measure]}** — " + md(" ".join(why)), icon=":material/warning:")
        else:
            st.success(f"**{names[measure]}** — same direction, same significance, and each "
                       "estimate inside the other's interval.", icon=":material/check_circle:")
st.caption(f"Classical fits: τ² by {s[state.TAU2]}, "
           f"{CI_LABELS.get(s[state.CI], s[state.CI])} intervals; level "
           f"{float(s[state.LEVEL]):.0%}. The survival ratio is compared with the "
           "classical risk ratio of non-events.")

measure = s[state.MEASURE] if s[state.MEASURE] in results else "RR"
cmp = results.get(measure)
if not isinstance(cmp, str):
    st.subheader(f"{names[measure]}: what is estimated, and with which weights")
    st.info(md(cmp.causal.summary()), icon=":material/target:")
    table = cmp.weights.rename(columns={"causal": "causal (%)", "common effect":
                                        "common effect (%)", "random effects":
                                        "random effects (%)"})
    table.insert(1, "risk treated", cmp.causal.risks_t)
    table.insert(2, "risk control", cmp.causal.risks_c)
    st.dataframe(table.round(4), hide_index=True, width="stretch")
    for note in cmp.notes:
        st.caption(note)

rr = results.get("RR")
if not isinstance(rr, str) and rr is not None:
    st.subheader("Why ratios disagree: two averages")
    geo = geometric_mean_ratio(rr.causal.risks_t, rr.causal.risks_c)
    st.markdown(
        "With two equally sized trials, the classical target is the **geometric mean** of the "
        "trials' risk ratios, √(ψ₁(1)ψ₁(2) / (ψ₀(1)ψ₀(2))), while the causal one is the **ratio of "
        "averaged risks**, (ψ₁(1)+ψ₁(2)) / (ψ₀(1)+ψ₀(2)). A trial with a tiny control risk "
        "pulls the geometric mean far more than the averaged risks. For the current data:")
    c = st.columns(3)
    c[0].metric("Geometric mean of the trials' RRs", format_effect(geo, 3),
                help="Unweighted, from the raw arm risks of trials with events in both arms")
    c[1].metric("Classical random-effects RR", format_effect(rr.random.natural()["estimate"], 3))
    c[2].metric("Causal RR = ψ₁ / ψ₀", format_effect(rr.causal.natural()["estimate"], 3),
                help=f"ψ₁ = {rr.causal.risk_t:.4f}, ψ₀ = {rr.causal.risk_c:.4f}")
st.caption("Variance: delta method with the covariance between the two arms' between-study "
           "terms, which the paper's printed formula omits; with fixed target weights only the "
           "within-trial binomial variance remains. Colours: " + ", ".join(METHOD_COLORS))
