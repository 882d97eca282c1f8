"""What the course notes and the app say the same way on every page: the names of the three
models, the terminology note, and the decomposition Z² = Z_F² + Q."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc

#: The one wording of the three models, after the summary table of doc 002 (used on the
#: Pooling & shrinkage and About pages alike).
TERMS = pd.DataFrame({"Common effect": ["β₀", "none (assumed 0)", "Unrealistic"],
                      "Fixed effects": ["β_F", "ζ²", "Just right!"],
                      "Random effects": ["μ", "τ²", "Sensitive"]},
                     index=["Estimate", "Spread", "Problems?"])

TERMS_NOTE = (
    "**Names.** This app calls the model with one true effect the **common effect** model "
    "(β₀). Doc 000 calls the same calculation \"fixed-effects\"; doc 002 keeps "
    "**fixed effects** (plural, β_F) for a different reading of the same number — the "
    "precision-weighted average of the studies' own effects, with spread ζ² — and "
    "**random effects** (μ, τ²) for the mean of a distribution of effects. The model "
    "selector, forest plot and tables say \"common effect\" and \"random effects\"; "
    "\"fixed effects\" appears only where β_F and ζ² are meant.")


def terms_table() -> None:
    """The three models side by side, with where the table comes from."""
    st.table(TERMS)
    st.caption("After the summary table of the course notes on Bayesian meta-analysis "
               "(doc 002).")
    st.markdown(TERMS_NOTE)


def z_decomposition(fit: mc.PoolResult) -> None:
    """Z² = Z_F² + Q with each term defined and its value on the current data."""
    st.latex(r"Z^2=\sum_i \frac{y_i^2}{v_i}\;=\;\underbrace{\hat\beta_F^2\sum_i v_i^{-1}}_"
             r"{Z_F^2}\;+\;\underbrace{\sum_i \frac{(y_i-\hat\beta_F)^2}{v_i}}_{Q}")
    st.caption(
        f"Z² = {fit.z2_total:.4g}: how far all studies together are from no effect. "
        f"Z_F² = {fit.z2_fixed:.4g}: the part explained by one shared β_F (the squared z "
        f"statistic of the common-effect estimate). Q = {fit.q:.4g}: what is left, the "
        "studies' disagreement with each other (heterogeneity).")


# --- the step-by-step reveal of the forest plot and the pooling views ----------------------

STEPS = ("The studies alone", "+ the common effect", "+ random effects",
         "+ the prediction interval", "+ the causal estimate")


def _causal_row(measure: str, level: float) -> tuple[str, float, float, float] | None:
    """The causal estimate (Berenfeld et al., all trial participants pooled) of the current
    2x2 table on the analysis scale, or None when the data are not 2x2 tables."""
    from metacore.models.causal import CAUSAL_MEASURES
    from ui import analysis as an
    from ui import state

    if measure not in CAUSAL_MEASURES or \
            "binary" not in an.kinds_of(state.table_ref(), state.mapping_key()):
        return None
    s = st.session_state
    results, error = an.causal_comparisons(
        state.table_ref(), state.mapping_key(), tuple(s.get(an.LEAVE_OUT, ())), None,
        "study sizes", s[state.TAU2], s[state.CI], level)
    res = results.get(measure)
    if error or res is None or isinstance(res, str):
        return None
    res = res.causal
    return ("Causal estimate", res.estimate, res.ci_low, res.ci_high)


def reveal(analysis) -> None:
    """Studies only → common effect → random effects → prediction interval → causal
    estimate, one step per key press (or Next button), on one fixed axis."""
    from metacore.report.charts import reveal_chart
    from metacore.report.charts.common import ROW_PX
    from ui import present

    eff = analysis.effects
    fits = [analysis.result, *analysis.others]
    common = next((r for r in fits if r.model == "common"), None) or mc.pool(
        eff, model="common", level=analysis.result.level)
    random = next((r for r in fits if r.model == "random"), None) or mc.pool(
        eff, model="random", level=analysis.result.level)
    level = random.level
    pooled = [("Common effect", common.estimate, common.ci_low, common.ci_high),
              ("Random effects", random.estimate, random.ci_low, random.ci_high),
              ("Prediction interval", random.estimate, random.pi_low, random.pi_high)]
    causal = _causal_row(eff.measure, level)
    names = list(STEPS[:4])
    if causal is not None:
        pooled.append(causal)
        names.append(STEPS[4])
    step = present.stepper(names)
    name = mc.MEASURE_LABELS.get(eff.measure, eff.measure)
    chart = reveal_chart(list(eff.study), eff.yi, eff.sei, pooled, step, ratio=eff.ratio,
                         x_title=name + (" (log scale)" if eff.ratio else ""), level=level,
                         # a slide: the whole chart on one 1080-px screen once scaled up
                         height=min(ROW_PX * (eff.k + len(pooled)), 290) if present.on()
                         else None, width=740 if present.on() else 560)
    st.vega_lite_chart(chart.to_dict(validate=False), key="reveal_chart", width="content",
                       theme=None)
    t = random.transform
    said = [f"Each study alone: its estimate and {level:.0%} confidence interval.",
            f"Common effect {common.transform(common.estimate):.3g} (SE {common.se:.3g}"
            f"{' on the log scale' if eff.ratio else ''}): "
            "one true effect, weights 1/vᵢ.",
            f"Random effects {t(random.estimate):.3g} (τ² = {random.tau2:.3g}, "
            f"{random.tau2_method}): the mean of a distribution of effects, weights "
            "1/(vᵢ + τ²).",
            f"Prediction interval {t(random.pi_low):.3g} to {t(random.pi_high):.3g}: where "
            "a new study's true effect would lie."]
    if causal is not None:
        cz = np.exp(causal[1]) if eff.ratio else causal[1]
        said.append(f"Causal estimate {cz:.3g}: the effect in all trial participants "
                    "pooled (Berenfeld et al.), risks averaged before the ratio.")
    st.markdown(said[step])
    if causal is None and step == len(names) - 1:
        st.caption("The causal estimate needs 2×2 tables (events and totals per arm); these "
                   "data are ready-made effects, so the reveal ends with the prediction "
                   "interval.")


# --- course notes set-up, one click per document -------------------------------------------

#: What each course document's first slide needs: its example, DerSimonian–Laird and Wald z
#: (as the notes compute), and the outcome direction of the example (None: the dataset's own).
COURSE = {
    "000": {"title": "Doc 000 — pooling and the eight-study example", "dataset": "seed000",
            "page": "Forest & heterogeneity"},
    "001": {"title": "Doc 001 — partial pooling and shrinkage",
            "dataset": "konstantopoulos2011", "page": "Pooling & shrinkage"},
    "002": {"title": "Doc 002 — common vs fixed vs random effects, priors, MANTRA",
            "dataset": "seed002", "page": "Bayesian"},
    "003": {"title": "Doc 003 — causal meta-analysis", "dataset": "magnesium",
            "page": "Classical vs causal"},
}


def set_up_course(doc: str) -> None:
    """Callback: the right example with DerSimonian–Laird, Wald z, 95%, random effects, and
    the outcome direction the example needs (from the dataset catalogue)."""
    from ui import state

    s = st.session_state
    state.load_dataset(COURSE[doc]["dataset"])
    s.update({state.MODEL: "random", state.TAU2: "DL", state.CI: "z", state.LEVEL: 0.95,
              "present_step": 0})
    s["_course_set"] = doc


# --- exercises -----------------------------------------------------------------------------

def exercise(key: str, question: str, answer: float | None, explanation: str,
             tol: float = 0.005) -> None:
    """A question with its answer hidden until asked; a numeric answer is checked."""
    s = st.session_state
    with st.container(border=True):
        st.markdown(f"**Exercise.** {question}")
        if answer is not None:
            c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
            given = c1.number_input("Your answer", value=None, key=f"ex_{key}",
                                    format="%.4f", placeholder="type a number")
            if given is not None:
                if abs(given - answer) <= tol:
                    c2.success(f"Right: {answer:.4g}.", icon=":material/check:")
                else:
                    c2.warning("Not quite — try again, or show the answer.",
                               icon=":material/help:")
        shown = st.toggle("Show the answer", key=f"ex_{key}_show")
        if shown or s.get(f"ex_{key}_show"):
            st.info(explanation if answer is None else f"**{answer:.4g}.** {explanation}",
                    icon=":material/lightbulb:")
