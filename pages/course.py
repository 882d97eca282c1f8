"""Course notes: one-click set-up per document, the documents' own figures the other pages
lack, and exercises with hidden answers (issue 29)."""

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.models.causal import causal_pool, compare_classical_causal
from metacore.report.charts.bayes import log_tau_likelihood_chart, tau_sensitivity_chart
from metacore.report.charts.shrinkage import covariate_shrinkage_chart
from ui import teaching
from ui.page import setup

setup()
s = st.session_state
st.title("Course notes")
st.markdown("Each course document in one click: its example, DerSimonian–Laird and Wald z as "
            "the notes compute them, and the outcome direction the example needs (instead of "
            "metafor's REML defaults). Then open the page the lecture starts on; turn on "
            "**Presentation mode** in the sidebar (or add `&present=1` to a lecture link) "
            "and step through with → and space.")
st.markdown(teaching.TERMS_NOTE)
done = s.pop("_course_set", None)
if done:
    st.success(f"Set up for {teaching.COURSE[done]['title']}: "
               f"{mc.datasets.CATALOG[teaching.COURSE[done]['dataset']].title}, "
               "DerSimonian–Laird, Wald z, 95%.", icon=":material/school:")


def header(doc: str) -> None:
    info = teaching.COURSE[doc]
    st.header(info["title"])
    c1, c2 = st.columns([1, 2], vertical_alignment="center")
    c1.button("Course notes set-up", key=f"course_{doc}", on_click=teaching.set_up_course,
              args=(doc,), icon=":material/school:", width="stretch")
    c2.markdown(f"{mc.datasets.CATALOG[info['dataset']].title}; the lecture starts on "
                f"**{info['page']}**.")


# --- doc 000 ------------------------------------------------------------------------------
header("000")
eff0 = mc.compute_effects(mc.datasets.load("seed000"), "GEN")
ce0 = mc.pool(eff0, model="common")
st.markdown(f"The tutorial's eight studies: common effect **{ce0.estimate:.3f}** "
            f"(SE **{ce0.se:.4f}**, 95% CI {ce0.ci_low:.3f} to {ce0.ci_high:.3f}); "
            f"Q = {ce0.q:.2f} on {ce0.q_df} df, so DerSimonian–Laird's τ² is 0 and random "
            "effects give the same numbers — as the tutorial prints.")
teaching.z_decomposition(ce0)
largest = int(np.argmax(1 / eff0.vi))
keep = np.arange(eff0.k) != largest
left = mc.pool(mc.EffectSizes(yi=eff0.yi[keep], vi=eff0.vi[keep],
                              study=tuple(np.asarray(eff0.study)[keep]), measure="GEN"),
               model="common")
teaching.exercise(
    "000_leave_out", f"Leave out the most precise study ({eff0.study[largest]}, SE "
    f"{np.sqrt(eff0.vi[largest]):.2f}). What is the common-effect estimate now (3 decimals)? "
    "Does the conclusion change?", round(left.estimate, 3),
    f"Without it the estimate rises to {left.estimate:.3f} (95% CI {left.ci_low:.3f} to "
    f"{left.ci_high:.3f}): its small effect pulled the average down, but the conclusion — a "
    "positive effect, CI clear of 0 — stands.")

# --- doc 001 ------------------------------------------------------------------------------
header("001")
st.markdown("Partial pooling with a covariate: units shrink toward a **fitted line**, not only "
            "toward one mean. Schools on a modified calendar (Konstantopoulos 2011), effect "
            "against the year of the study; the line is the mixed-effects meta-regression "
            "(DerSimonian–Laird τ²), and each school's partial-pooling estimate is")
st.latex(r"\tilde\theta_i = x_i^\top\hat\beta + \frac{\hat\tau^2}{\hat\tau^2+v_i}\,"
         r"(y_i - x_i^\top\hat\beta)")
eff1 = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
reg = mc.metareg(eff1, "year", tau2_method="DL")
b0, b1 = (float(reg.coef.loc[n, "estimate"]) for n in ("intrcpt", "year"))
year = eff1.data["year"].to_numpy(float)
fit_line = b0 + b1 * year
shrunk = fit_line + reg.tau2 / (reg.tau2 + eff1.vi) * (eff1.yi - fit_line)
st.vega_lite_chart(covariate_shrinkage_chart(year, eff1.yi, shrunk, b0, b1, x_title="Year",
                                             y_title="Standardised mean difference")
                   .to_dict(validate=False), key="course_covariate", width="content",
                   theme=None)
st.caption(f"Fitted line {b0:.3f} + {b1:.5f} × year; τ² = {reg.tau2:.4f} (DL). The same "
           "fit as the Subgroups & meta-regression page (checked against metafor's rma with "
           "mods = ~ year).")
noisiest = int(np.argmax(eff1.vi))
pulled = float(1 - reg.tau2 / (reg.tau2 + eff1.vi[noisiest]))
teaching.exercise(
    "001_shrink", f"What share of its distance from the line does the noisiest school "
    f"({eff1.study[noisiest]}, vᵢ = {eff1.vi[noisiest]:.3f}) give up (2 decimals)?",
    round(pulled, 2), f"vᵢ / (τ² + vᵢ) = {pulled:.3f}: noisy units borrow most from the line.",
    tol=0.01)

# --- doc 002 ------------------------------------------------------------------------------
header("002")
st.subheader("Exchangeability")
st.table(pd.DataFrame({
    "What it says": ["p(β₁, β₂) = p(β₂, β₁)", "p(β₁, β₂) = p(β₁) p(β₂)",
                     "any two of β₁, β₂, β₃ exchangeable"],
    "Name": ["exchangeable", "independent", "2-exchangeable"],
    "For meta-analysis": ["no reason to tell the βᵢ apart before seeing the data: "
                          "βᵢ ~ N(μ, τ²) (de Finetti)",
                          "stronger: learning one βᵢ tells nothing about another",
                          "full exchangeability may fail (e.g. ancestry groups: MANTRA)"]}))
st.subheader("Three studies, three populations: whose average?")
eff2 = mc.compute_effects(mc.datasets.load("seed002"), "MD")
beta = eff2.yi[:3]
mixes = {"each population equally (1/1/1)": (1, 1, 1), "proportions 2/7/1": (2, 7, 1),
         "proportions 7/1/2": (7, 1, 2)}
st.table(pd.DataFrame({"weights": list(mixes),
                       "β_combine": [float(np.dot(w, beta) / sum(w)) for w in mixes.values()]})
         .set_index("weights").round(3))
st.caption(f"With β₁, β₂, β₃ = {', '.join(f'{b:.2f}' for b in beta)} (the first three "
           "studies of the six-study example): each mix of populations has its own average "
           "effect — \"still an average effect, but closer to β₂\" with 2/7/1.")
st.subheader("τ sensitivity, and what the data say about τ")
fits2 = {m: mc.pool(eff2, tau2_method=m) for m in ("DL", "REML")}
c1, c2 = st.columns(2)
with c1:
    st.vega_lite_chart(tau_sensitivity_chart(eff2.yi, eff2.vi,
                                             {f"{m} τ̂": f.tau for m, f in fits2.items()},
                                             x_title="Mean difference").to_dict(validate=False),
                       key="course_tau_sens", width="content", theme=None)
with c2:
    st.vega_lite_chart(log_tau_likelihood_chart(eff2.yi, eff2.vi).to_dict(validate=False),
                       key="course_log_tau", width="content", theme=None)
beta_f2 = mc.pool(eff2, model="common").estimate
st.caption(f"Six-study example: β_F = {beta_f2:.2f} "
           "whatever τ is; μ runs from it (τ = 0) toward the unweighted mean as τ grows, and "
           "its interval widens — the notes' \"priors matter for μ, not β_F\". Right: the "
           "likelihood of log τ levels off at L(τ = 0) as τ → 0 (here far below its peak); "
           "a prior flat on log τ gives that whole left tail as much weight as the middle, so "
           "with fewer or less discordant studies the prior, not the data, decides τ.")
tau_dl = fits2["DL"].tau2
teaching.exercise(
    "002_tau2", "What is the DerSimonian–Laird τ² of the six-study example (3 decimals)?",
    round(tau_dl, 3), "Set up doc 002 above and read it on the Forest page; the Bayesian page "
    "shows how much μ depends on what τ² is taken to be, while β_F does not.", tol=0.002)

# --- doc 003 ------------------------------------------------------------------------------
header("003")
st.subheader("The causal graph of the setting")
st.graphviz_chart("""digraph {
  rankdir=LR; node [shape=circle, fontname="Helvetica", fontsize=16];
  H [label="H\\ntrial"]; X [label="X\\npatients"]; A [label="A\\ntreatment"];
  Y [label="Y\\noutcome"];
  H -> X; H -> Y; X -> Y; A -> Y; H -> A [style=dashed, label="randomised\\nwithin trial"];
}""")
st.caption("H, the trial a patient belongs to, shapes who is enrolled (X) and the outcome; "
           "treatment A is randomised within each trial, so each trial identifies its own "
           "effect θ(P_H). The causal estimand averages risks over a target mix of the P_H; a "
           "classical meta-analysis averages log ratios, an effect of no real population.")
st.subheader("A published example where the conclusions differ")
rows = []
for measure in ("RR", "OR", "RD"):
    cmp = compare_classical_causal(mc.datasets.load("magnesium"), measure, tau2_method="DL")
    for method, r in (("Random effects (DL)", cmp.random), ("Causal (all participants)",
                                                             cmp.causal)):
        t = np.exp if measure != "RD" else (lambda x: x)
        rows.append({"measure": measure, "method": method, "estimate": float(t(r.estimate)),
                     "95% CI low": float(t(r.ci_low)), "95% CI high": float(t(r.ci_high)),
                     "CI excludes no effect": bool(r.ci_low > 0 or r.ci_high < 0)})
st.dataframe(pd.DataFrame(rows).round(3), hide_index=True, width="stretch")
st.caption("Intravenous magnesium after myocardial infarction, 22 trials (Li et al. 2007; "
           "metadat::dat.li2007, bundled as the magnesium example). Random effects, which "
           "weight trials by 1/(σₖ² + τ²), give many small trials the say: RR about 0.70, a "
           "clear benefit. The causal estimate averages the risks over all 72,476 "
           "participants, most of them in the ISIS-4 mega-trial: RR about 0.99, no effect. "
           "The set-up above loads this example.")
rr = causal_pool(mc.datasets.load("bcg"), "RR")
teaching.exercise(
    "003_causal_rr", "On the BCG trials, what is the causal RR for all trial participants "
    "pooled (3 decimals)? Compare it with the random-effects RR on the Classical vs causal "
    "page.", round(float(np.exp(rr.estimate)), 3),
    "Risks are averaged over the trials' participants first, then the ratio is taken; the "
    "random-effects RR (0.49) is a geometric mean of ratios over a population weighted by "
    "precision.")
