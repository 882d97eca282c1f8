"""What the models are, in the words of the course material, with the formulas used."""

import streamlit as st

import metacore as mc
from ui import teaching
from ui.page import setup

setup()

st.title("About & methods")
st.markdown("""
**metacore** pools study results the way R's *metafor* does, number for number, and shows
what each choice changes.

A meta-analysis pools **effect estimates and their uncertainty**, not verdicts: each study
contributes an estimate *yᵢ* with sampling variance *vᵢ*, and precise studies weigh more.
""")

st.header("Common effect (fixed effect)")
st.markdown("All studies estimate one true effect; differences are sampling error only.")
st.latex(r"\hat\theta_{CE}=\frac{\sum_i w_i y_i}{\sum_i w_i},\qquad w_i=\frac{1}{v_i},"
         r"\qquad \mathrm{SE}(\hat\theta_{CE})=\Big(\sum_i w_i\Big)^{-1/2}")
st.markdown("""The same number has a second reading (the *fixed-effect**s*** view of the
Bayesian course notes): without assuming the true effects are equal, it estimates the
precision-weighted average β_F of the studies' own effects — "the average the data tell us
most about". Its spread around that average is""")
st.latex(r"\hat\zeta^2=\frac{Q-(k-1)}{\sum_i \sigma_i^{-2}}\ (\ge 0),\qquad "
         r"Z^2=\sum_i \frac{y_i^2}{v_i}=Z_F^2+Q")

st.header("Random effects")
st.markdown("True effects differ between studies: θᵢ ~ N(μ, τ²). The pooled μ is the mean "
            "of a distribution of effects, and τ² its between-study variance.")
st.latex(r"\hat\mu=\frac{\sum_i w_i^* y_i}{\sum_i w_i^*},\qquad w_i^*=\frac{1}{v_i+\hat\tau^2}")
st.markdown("τ² estimators (all available in the sidebar):")
st.latex(r"\hat\tau^2_{DL}=\max\Big(0,\frac{Q-(k-1)}{\sum w_i-\sum w_i^2/\sum w_i}\Big)")
st.markdown("""
- **DL** DerSimonian–Laird (moment estimator above; RevMan 5's default)
- **HE** Hedges, **HS** Hunter–Schmidt, **SJ** Sidik–Jonkman (non-iterative)
- **ML**, **REML** (metafor's default), **PM** Paule–Mandel and **EB** empirical Bayes
  (identical to PM without moderators) — solved to machine precision by safeguarded Newton
  iterations; metacore says so if an estimator does not converge and falls back to DL.
""")
st.header("Heterogeneity")
st.latex(r"Q=\sum_i w_i (y_i-\hat\theta_{CE})^2\sim\chi^2_{k-1}\ \text{under homogeneity}")
st.latex(r"I^2=100\%\cdot\frac{\hat\tau^2}{\hat\tau^2+\tilde v},\quad "
         r"\tilde v=\frac{k-1}{\sum w_i-\sum w_i^2/\sum w_i},\qquad H^2=\frac{\hat\tau^2+"
         r"\tilde v}{\tilde v}")
st.markdown("""This is metafor's τ²-based I²; under DerSimonian–Laird it equals Higgins' Q-based
**I² = (Q − df)/Q**, which is also shown. Intervals for τ², I² and H² come from the
**Q-profile** method: the τ² values where the generalised Q statistic meets the χ²
quantiles.""")

st.header("Intervals")
st.markdown("""- **Wald z**: μ̂ ± z·SE.
- **HKSJ** (Hartung–Knapp–Sidik–Jonkman): SE rescaled by the weighted residual variance,
  t distribution with k − 1 df (Cochrane 2025's recommendation).
- **Prediction interval**: where the true effect of a new study would likely lie,""")
st.latex(r"\hat\mu\pm c\,\sqrt{\mathrm{SE}^2+\hat\tau^2},\qquad c=z_{1-\alpha/2}\ "
         r"\text{(Wald) or } t_{k-1,1-\alpha/2}\ \text{(HKSJ)}")

st.header("Effect measures")
st.markdown("""Binary outcomes: odds ratio (OR), risk ratio (RR), risk difference (RD), arcsine
difference (AS), Peto's odds ratio; ratios are analysed on the log scale and shown on the
natural scale. Zero cells: 0.5 is added to every cell of a study with a zero (metafor's
default; adjustable). Continuous outcomes: mean difference (MD), Hedges' g (SMD, exact
small-sample correction, large-sample variance), heteroscedastic SMD (SMDH), log ratio of
means (ROM). Ready effect sizes: *yi* with *sei*, *vi* or a 95% CI.

**Mantel–Haenszel** (OR, RR, RD) and **Peto** pool 2×2 tables directly, with no continuity
correction inside the sums, as metafor's `rma.mh` and `rma.peto`.""")

st.header("Which question does each model answer?")
teaching.terms_table()
teaching.z_decomposition(mc.pool(mc.compute_effects(mc.datasets.load("seed000"), "GEN")))
st.caption("On doc 000's eight-study example: Q = 5.43 on 7 df, so τ̂² = 0 and the "
           "common-effect estimate 0.246 has SE 0.0465, as the tutorial prints.")

st.header("Bayesian meta-analysis")
st.markdown("""θᵢ ~ N(μ, τ²), yᵢ ~ N(θᵢ, vᵢ), with a prior p(τ) and a flat or normal prior on
μ. Given τ, μ's posterior is normal and is integrated exactly; τ's posterior is evaluated on
an adaptive grid (no MCMC, so no Monte Carlo error):""")
st.latex(r"p(\tau\mid y)\propto p(\tau)\,V_\mu(\tau)^{1/2}\prod_i"
         r"(v_i+\tau^2)^{-1/2}\exp\Big(-\tfrac12\sum_i\frac{(y_i-\hat\mu(\tau))^2}"
         r"{v_i+\tau^2}\Big),\qquad \beta_F=\frac{\sum_i\theta_i/v_i}{\sum_i 1/v_i}")
st.markdown("""Lambert et al.'s (2005) priors as the notes name them: L1 τ⁻² ~ Γ(0.001, 0.001);
L3 log(τ²) ~ U(−10, 10); L5 τ⁻² ~ U(1/1000, 1000); L7 τ⁻² ~ Par(1, 0.001); L9 τ ~ U(0, 100);
L11 τ ~ N(0, 100), τ > 0.""")

st.header("Clustered heterogeneity (MANTRA)")
st.markdown("""Morris (2011): studies are grouped around centre studies by similarity
(ancestry principal components); all studies of a cluster share one effect. The number of
clusters C has the course notes' prior, and every centre set is enumerated (exact up to 16
studies) instead of reversible-jump MCMC:""")
st.latex(r"y_i\sim N(\beta_{c(i)},v_i),\quad \beta_c\sim N(\mu,\tau^2),\quad "
         r"\tau^2\sim\mathrm{Exp}(\lambda),\qquad P(C=1)=\tfrac12,\ "
         r"P(C=c)=\frac{2^{-c}\,2^{k-1}}{2^{k-1}-1}\ (c\ge2)")

st.header("Causal meta-analysis")
st.markdown("""Berenfeld et al.: average each arm's risk over a target population P* with
weights πₖ (by default the trials' sizes, πₖ = nₖ/n), then form the effect:""")
st.latex(r"\psi_a=\sum_k\pi_k\,\hat p_{a,k},\qquad \mathrm{RD}=\psi_1-\psi_0,\quad "
         r"\mathrm{RR}=\frac{\psi_1}{\psi_0},\quad \mathrm{OR}=\frac{\psi_1/(1-\psi_1)}"
         r"{\psi_0/(1-\psi_0)}")
CAUSAL_VARIANCE = (
    r"\mathrm{Var}(\hat\psi_a)=\sum_k\pi_k^2\frac{\hat p_{a,k}(1-\hat p_{a,k})}{n_{a,k}}+"
    r"\frac1n\Big(\sum_k\pi_k\hat p_{a,k}^2-\hat\psi_a^2\Big),\quad "
    r"\mathrm{Cov}(\hat\psi_1,\hat\psi_0)=\frac1n\Big(\sum_k\pi_k\hat p_{1,k}\hat p_{0,k}-"
    r"\hat\psi_1\hat\psi_0\Big)")
st.latex(CAUSAL_VARIANCE)
st.latex(r"\mathrm{Var}(\hat\theta)=\Phi_1'^2\,\mathrm{Var}(\hat\psi_1)+\Phi_0'^2\,"
         r"\mathrm{Var}(\hat\psi_0)\;+\;\underbrace{2\,\Phi_1'\Phi_0'\,\mathrm{Cov}(\hat\psi_1,"
         r"\hat\psi_0)}_{\text{missing from the paper's printed formula}}")
st.caption("With πₖ = nₖ/n the weights are estimated from the sampled mix of trials, so the "
           "two arms' averaged risks covary. The paper prints the variance without the "
           "covariance term, which overstates it: on its Appendix A example the simulated "
           "variance of log RR is 0.0021, the corrected formula 0.0021, the printed one "
           "0.0028. With a fixed target population (weights chosen by you) the between-study "
           "terms vanish.")
st.markdown("""The random-effects RD is also causal, but for a population that weights each
trial ∝ 1/(σₖ² + τ²) — its precision, not its size.""")

st.header("How each result is checked")
st.markdown("""
- **Classical pooling, heterogeneity, intervals, meta-regression, small-study tests,
  influence, Mantel–Haenszel, Peto, multilevel and robust models**: against R's metafor
  (3.8-1), from committed R scripts (tests/reference/*.R) whose outputs the tests read; to
  about 1e-10.
- **The course notes' worked examples**: doc 000's eight studies (0.246, SE 0.0465,
  Q = 5.43, τ² = 0) and doc 002's six-study example (common effect −2.04 [−2.45, −1.64],
  DL −1.21 [−2.69, 0.28]) are asserted as printed.
- **Bayesian**: metafor has no Bayesian model. The posteriors are checked against an
  independent brute-force two-dimensional quadrature over (μ, τ) with no analytic step; with
  τ fixed, against the closed-form normal posterior; τ fixed at 0 with a flat μ gives the
  common effect exactly; doc 002's prior-sensitivity pattern (μ moves with the prior, β_F
  does not) is asserted.
- **MANTRA**: the exact enumeration against brute-force sums over every clustering; one
  cluster with τ² near 0 against the common-effect Bayesian analysis; beyond 16 studies the
  importance sampler agrees with enumeration within its stated error.
- **Causal**: a two-study example computed by hand; the risk difference is collapsible
  (causal = size-weighted); the paper's Appendix A variance of the RR; coverage of the
  intervals by simulation (also on the Causal simulation page).
""")
