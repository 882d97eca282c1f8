"""Simulation sandbox: seed 003's Appendix A, with every parameter adjustable."""

import streamlit as st

from metacore.models.simulate import METHODS, AppendixA, compare_methods, simulate
from metacore.report.charts import simulation_chart
from ui.cache import cached
from ui.page import setup

setup(ignored={
    "measure": "it compares RD, RR and OR side by side",
    "model": "it fits both common and random effects",
    "ci_method": "its intervals are Wald z, as in the paper",
    "show_pi": "it shows no prediction intervals",
    "cc": "it adds 0.5 to tables with a zero cell, as metafor does",
    "dataset": "it simulates its own trials"})
s = st.session_state
st.title("Simulation sandbox: when does the classical answer flip?")
st.markdown(
    "Two sub-populations (think: two trials) differ in a covariate X. The outcome is "
    "desirable (recovery) and follows a logistic model in X with different coefficients "
    "under treatment (β₁) and control (β₀). Each simulated meta-analysis samples n patients, "
    "builds one 2×2 table per sub-population, and pools them three ways. The defaults are "
    "the paper's (Appendix A): the classical random-effects risk ratio suggests a three-fold "
    "benefit while the treatment harms the population of all trials.")

c = st.columns(4)
b1x = c[0].slider("β₁ (X₁)", -6.0, 6.0, 0.36, 0.02, key="sim_b1x")
b1y = c[1].slider("β₁ (X₂)", -6.0, 6.0, -1.38, 0.02, key="sim_b1y")
b0x = c[2].slider("β₀ (X₁)", -6.0, 6.0, 2.94, 0.02, key="sim_b0x")
b0y = c[3].slider("β₀ (X₂)", -6.0, 6.0, -4.60, 0.02, key="sim_b0y")
c = st.columns(4)
mix = c[0].slider("Share of sub-population 1", 0.05, 0.95, 0.5, 0.05, key="sim_mix")
n = c[1].select_slider("Patients per meta-analysis", [200, 500, 1000, 2000, 5000], 1000,
                       key="sim_n")
reps = c[2].select_slider("Repetitions", [20, 50, 100, 200, 500], 100, key="sim_reps")
seed = c[3].number_input("Random seed", 0, 10_000, 0, key="sim_seed")


@cached(max_entries=32, show_spinner="Simulating…")
def run(b1: tuple, b0: tuple, mix: float, n: int, reps: int, seed: int, level: float,
        tau2: str):
    design = AppendixA(beta1=b1, beta0=b0, mix=(mix, 1 - mix), n=n)
    return compare_methods(simulate(design, reps=reps, seed=seed), level=level,
                           tau2_method=tau2)


level = float(s["level"])
frame, summary, truth = run((b1x, b1y), (b0x, b0y), float(mix), int(n), int(reps), int(seed),
                            level, s["tau2_method"])
st.vega_lite_chart(simulation_chart(frame, truth).to_dict(validate=False),
                   key="sim_chart", width="content", theme=None)
st.dataframe(summary.assign(same_side=100 * summary["same_side"],
                            coverage=100 * summary["coverage"]).rename(columns={
                 "mean_estimate": "mean estimate", "truth": "true θ(P*)",
                 "same_side": "same side of no effect as the truth (%)",
                 "coverage": f"{level:.0%} CI covers the truth (%)"}).round(4),
             hide_index=True, width="stretch")
flips = summary[(summary["method"] != METHODS[-1]) & (summary["same_side"] < 0.5)]
if len(flips):
    st.warning("The classical answer points the wrong way for: " + ", ".join(
        f"{r.method} ({r.measure})" for r in flips.itertuples()) + ".",
        icon=":material/warning:")
else:
    st.success("With these settings the classical estimates point the same way as the true "
               "effect.", icon=":material/check_circle:")
st.caption("Classical fits use metafor's study effects (0.5 added to tables with a zero cell) "
           f"and the sidebar's τ² estimator ({s['tau2_method']}) for random effects; the "
           "causal estimate targets the "
           "population of all trials pooled.")
