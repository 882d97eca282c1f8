"""Bayesian meta-analysis: priors, posteriors, shrinkage and prior sensitivity."""

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.models import priors as P
from metacore.numbers import format_effect, format_number, format_prob
from metacore.report.charts import density_chart, interval_rows_chart
from metacore.report.charts.common import HALF_PAGE
from metacore.report.describe import SHORT_NAMES
from ui import state, widgets
from ui.cache import cached
from ui.page import setup
from ui.text import md

setup()
s = st.session_state
st.title("Bayesian meta-analysis")
st.markdown("The heterogeneity τ is uncertain too: a Bayesian analysis puts a prior on it "
            "(and optionally on μ) and averages over it. Computed exactly, without MCMC: μ is "
            "integrated analytically and τ on an adaptive grid.")

result = widgets.analysis_or_stop()
eff = result.effects
# Lambert et al.'s (2005) priors carry their own numbers and are named exactly as the course
# notes define them (L1 ... L11); the others take the scale typed beside them.
FAMILIES = {
    "halfnormal": "Half-normal(scale)", "halfcauchy": "Half-Cauchy(scale)",
    "halft": "Half-t(3 df, scale)", "uniform": "Uniform(0, upper)",
    "invgamma": "L1: τ⁻² ~ Γ(0.001, 0.001)", "logunif": "L3: log(τ²) ~ U(−10, 10)",
    "unifprec": "L5: τ⁻² ~ U(1/1000, 1000)", "pareto": "L7: τ⁻² ~ Par(1, 0.001)",
    "l9": "L9: τ ~ U(0, 100)", "l11": "L11: τ ~ N(0, 100), τ > 0",
    "jeffreys": "Jeffreys", "fixed": "Fixed τ"}
#: Priors whose numbers are part of their definition: the scale box does not apply.
SET_PRIORS = ("invgamma", "logunif", "unifprec", "pareto", "l9", "l11", "jeffreys")
default_scale = float(round(max(np.std(eff.yi), np.sqrt(np.mean(eff.vi)), 0.05), 3))
s.setdefault("bayes_scale", default_scale)
c = st.columns(4)
family = c[0].selectbox("Prior for τ", list(FAMILIES), format_func=FAMILIES.get,
                        key="bayes_tau_prior")
value = c[1].number_input("Scale / upper / a / τ", min_value=0.0, key="bayes_scale",
                          format="%.4f", disabled=family in SET_PRIORS)
mu_kind = c[2].radio("Prior for μ", ["flat", "normal"], key="bayes_mu_prior", horizontal=True)
mu_sd = c[3].number_input("μ prior SD (mean 0)", min_value=0.001, value=10.0,
                          key="bayes_mu_sd", disabled=mu_kind == "flat")
threshold = st.number_input(
    "Threshold of clinical interest" + (" (ratio, natural scale)" if eff.ratio else ""),
    # one box per kind of scale: a ratio's 0.9 read as a mean difference of 0.9 is nonsense
    value=0.9 if eff.ratio else 0.0, key="bayes_threshold" + ("" if eff.ratio else "_diff"),
    format="%.3f")


if value <= 0 and family not in (*SET_PRIORS, "fixed"):
    st.warning(f"{FAMILIES[family]} needs a positive scale; enter one above "
               f"(for example {default_scale:g}, the spread of these studies).",
               icon=":material/warning:")
    st.stop()


def make_prior(family: str, value: float) -> P.TauPrior:
    return {"halfnormal": P.HalfNormal(value), "halfcauchy": P.HalfCauchy(value),
            "halft": P.HalfT(value, 3), "uniform": P.Uniform(value),
            "invgamma": P.InvGamma(0.001, 0.001), "logunif": P.LogUniformTau2(-10, 10),
            "unifprec": P.UniformPrecision(0.001, 1000), "pareto": P.ParetoPrecision(1, 0.001),
            "l9": P.Uniform(100), "l11": P.HalfNormal(10),    # N(0, 100): variance 100
            "jeffreys": P.Jeffreys(), "fixed": P.Fixed(value)}[family]


@cached(max_entries=128)
def fit(yi, vi, study, measure, ratio, family, value, mu_kind, mu_sd, level, thr):
    e = mc.EffectSizes(yi=yi, vi=vi, study=study, measure=measure, ratio=ratio)
    mu_prior = None if mu_kind == "flat" else P.Normal(0.0, mu_sd)
    try:
        return mc.bayes_pool(e, tau_prior=make_prior(family, value), mu_prior=mu_prior,
                             level=level, threshold=thr), None
    except mc.MetacoreError as err:
        return None, str(err)


level = float(s[state.LEVEL])
thr = float(np.log(threshold)) if eff.ratio and threshold > 0 else (
    None if eff.ratio else float(threshold))
res, error = fit(eff.yi, eff.vi, eff.study, eff.measure, eff.ratio, family, float(value),
                 mu_kind, float(mu_sd), level, thr)
if error:
    st.error(md(error), icon=":material/error:")
    st.stop()

t = res.transform
lower_is_better = s[state.DIRECTION] == "undesirable"
p_benefit = 1 - res.prob_mu_positive if lower_is_better else res.prob_mu_positive
p_harm_new = res.prob_pred_positive if lower_is_better else 1 - res.prob_pred_positive
short = SHORT_NAMES.get(eff.measure, "the effect")
null = "1" if eff.ratio else "0"
side, other = ("below", "above") if lower_is_better else ("above", "below")
outcome = "undesirable" if lower_is_better else "desirable"
lvl = f"{level:.0%}"


def prob_words(p: float) -> str:
    """"less than 0.1%" rather than "= < 0.1%" inside a sentence."""
    text = format_prob(p)
    return text.replace("< ", "less than ").replace("> ", "more than ")


st.info(f"Given these priors, the probability that the treatment is beneficial — the mean "
        f"{short} {side} {null}, as the outcome is {outcome} — is "
        f"**{prob_words(p_benefit)}**; the probability that a new study's true effect lies on "
        f"the harmful side ({other} {null}) is **{prob_words(p_harm_new)}**. Posterior median "
        f"{format_effect(t(res.mu_median), 3)}, {lvl} equal-tailed credible interval "
        f"{format_effect(t(res.mu_low), 3)} to {format_effect(t(res.mu_high), 3)}. The outcome "
        "direction is set in the sidebar (a bundled example sets its own).",
        icon=":material/psychology:")
if res.threshold is not None:
    # Report the clinically interesting direction, on the scale the threshold was typed in.
    beyond = 1 - res.prob_mu_beyond if lower_is_better else res.prob_mu_beyond
    st.caption(f"The probability that the mean {short} is {side} {format_number(threshold)} "
               f"— a benefit beyond the threshold of clinical interest — is "
               f"{prob_words(beyond)}.")
m = st.columns(4)
m[0].metric("μ (median)", format_effect(t(res.mu_median), 3))
m[1].metric(f"μ {lvl} shortest credible interval",
            f"{format_effect(t(res.mu_short_low), 3)} to {format_effect(t(res.mu_short_high), 3)}",
            help="The narrowest interval holding the stated share of the posterior; the "
                 "sentence above gives the equal-tailed one.")
m[2].metric("τ (median)", format_effect(res.tau_median, 3),
            help=f"{lvl} equal-tailed interval {format_number(res.tau_low)} to "
                 f"{format_number(res.tau_high)}")
m[3].metric("Predicted new study",
            f"{format_effect(t(res.pred_low), 2)} to {format_effect(t(res.pred_high), 2)}")
bfs = []
if np.isfinite(res.bf_mu0):
    bfs.append(f"Bayes factor for μ = 0 vs the prior: {format_number(res.bf_mu0)}")
if np.isfinite(res.bf_tau0):
    bfs.append(f"Bayes factor for τ = 0 (homogeneity): {format_number(res.bf_tau0)}")
st.caption(" · ".join(bfs + list(res.notes)) + f" — Priors: {res.tau_prior}; {res.mu_prior}.")

name = mc.MEASURE_LABELS.get(eff.measure, eff.measure)
c1, c2 = st.columns(2)
with c1:
    pred_on_mu = np.interp(res.mu_grid, res.pred_grid, res.pred_density)
    st.vega_lite_chart(density_chart(res.mu_grid, {"μ (mean effect)": res.mu_density,
                                                   "new study's effect": pred_on_mu},
                                     "Posterior of μ and of a new study's effect", name,
                                     ratio=eff.ratio).to_dict(validate=False),
                                         key="bayes_mu", width="content", theme=None)
with c2:
    if family != "fixed":
        upper = res.tau_high * 2
        keep = res.tau_grid <= upper
        series = {"posterior": res.tau_density[keep]}
        if np.all(np.isfinite(res.tau_prior_density[keep])) and family != "jeffreys":
            series["prior"] = res.tau_prior_density[keep]
        chart = density_chart(res.tau_grid[keep], series, "Prior and posterior of τ", "τ")
        st.vega_lite_chart(chart.to_dict(validate=False), key="bayes_tau", width="content",
                           theme=None)
    else:
        st.info("τ is fixed, so it has no posterior distribution.")

rows = []
for i, study in enumerate(eff.study):
    se = np.sqrt(eff.vi[i])
    rows.append({"label": study, "group": "observed", "est": eff.yi[i],
                 "lo": eff.yi[i] - 1.96 * se, "hi": eff.yi[i] + 1.96 * se})
    rows.append({"label": study, "group": "shrunken (posterior)", "est": res.theta_mean[i],
                 "lo": res.theta_low[i], "hi": res.theta_high[i]})
rows.append({"label": "μ", "group": "shrunken (posterior)", "est": res.mu_median,
             "lo": res.mu_low, "hi": res.mu_high})
st.vega_lite_chart(interval_rows_chart(pd.DataFrame(rows), "Observed and shrunken study effects",
                                       name, ratio=eff.ratio, subtitle="Observed: 95% Wald "
                                       f"interval; shrunken: {lvl} credible interval")
                   .to_dict(validate=False), key="bayes_forest", width="content", theme=None)

st.subheader("Prior sensitivity")
st.caption("Fixed τ² ∈ {1/4, 1, 25, 100} with normal priors μ ~ N(0, ψ²), ψ² ∈ {0.1, 1, 1000}, "
           "and Lambert et al.'s priors for τ with ψ² = 1000: priors matter for μ far more than "
           "for β_F, the precision-weighted average of the studies' effects. The last row of "
           "each panel is the notes' classical reference: DerSimonian–Laird for μ, the "
           "precision-weighted average (PWA) for β_F.")


@cached(max_entries=16)
def sensitivity(yi, vi, measure, ratio, level):
    e = mc.EffectSizes(yi=yi, vi=vi, study=tuple(map(str, range(len(yi)))), measure=measure,
                       ratio=ratio)
    specs = [(f"τ²={t2:g}, ψ²={p2:g}", P.Fixed(np.sqrt(t2)), P.Normal(0, np.sqrt(p2)))
             for p2 in (0.1, 1, 1000) for t2 in (0.25, 1, 25, 100)]
    specs += [(f"{lab}, ψ²=1000", pr, P.Normal(0, np.sqrt(1000))) for lab, pr in (
        ("L1 τ⁻²~Γ(.001,.001)", P.InvGamma(0.001, 0.001)),
        ("L3 log τ²~U(−10,10)", P.LogUniformTau2(-10, 10)),
        ("L5 τ⁻²~U(.001,1000)", P.UniformPrecision(0.001, 1000)),
        ("L7 τ⁻²~Par(1,.001)", P.ParetoPrecision(1, 0.001)),
        ("L9 τ~U(0,100)", P.Uniform(100)), ("L11 τ~N(0,100)", P.HalfNormal(10)))]
    out, skipped = [], []
    for label, tau_prior, mu_prior in specs:
        try:
            r = mc.bayes_pool(e, tau_prior=tau_prior, mu_prior=mu_prior, level=level)
        except mc.MetacoreError as err:
            skipped.append(f"{label}: {err}")
            continue
        out.append({"label": label, "group": "μ", "est": r.mu_median, "lo": r.mu_low,
                    "hi": r.mu_high})
        out.append({"label": label, "group": "β_F", "est": r.beta_f_mean, "lo": r.beta_f_low,
                    "hi": r.beta_f_high})
    # the notes' reference rows: the classical answers each panel should be read against
    dl = mc.pool(e, tau2_method="DL", level=level)
    pwa = mc.pool(e, model="common", level=level)
    out.append({"label": "D-L (classical random effects)", "group": "μ", "est": dl.estimate,
                "lo": dl.ci_low, "hi": dl.ci_high})
    out.append({"label": "PWA (precision-weighted average)", "group": "β_F",
                "est": pwa.estimate, "lo": pwa.ci_low, "hi": pwa.ci_high})
    return pd.DataFrame(out, columns=["label", "group", "est", "lo", "hi"]), skipped


sens, skipped = sensitivity(eff.yi, eff.vi, eff.measure, eff.ratio, level)
for why in skipped:
    st.caption(f":material/info: Not shown — {why}")
c1, c2 = st.columns(2)
# One x axis for both panels: the course notes' point is that β_F hardly moves while μ swings
# with the prior, which separate axes would hide.
ends = sens[["lo", "hi"]].to_numpy(float).ravel()
ends = ends[np.isfinite(ends)]
shared = (float(ends.min()), float(ends.max())) if ends.size else None
for col, group in ((c1, "μ"), (c2, "β_F")) if len(sens) else ():
    col.vega_lite_chart(interval_rows_chart(sens[sens.group == group], f"Estimating {group}",
                                            name, ratio=eff.ratio, width=HALF_PAGE,
                                            domain=shared)
                        .to_dict(validate=False),
                        key=f"bayes_sens_{group}", width="content", theme=None)
