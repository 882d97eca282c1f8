"""What the models are, in the words of the course material, with the formulas used."""

import streamlit as st

from ui.page import setup

setup()

st.title("About & methods")
st.markdown("""
**metacore** pools study results the way R's *metafor* does, number for number, and shows
what each choice changes. Every statistic on these pages is checked against metafor in the
test suite.

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
st.table({"": ["Estimate", "Spread", "Problems?"],
          "Common effect": ["β₀", "none", "Unrealistic"],
          "Fixed effects": ["β_F", "ζ²", "Just right"],
          "Random effects": ["μ", "τ²", "Sensitive"]})
st.caption("After the summary table of the course notes on Bayesian meta-analysis.")
