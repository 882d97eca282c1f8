"""Clustered heterogeneity (MANTRA): which studies belong together?"""

import time

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc
from metacore.data.table import extra_columns, is_id_like
from metacore.models.cluster import distances_from_groups
from metacore.numbers import format_effect, format_number, format_prob
from metacore.report.charts import (
    cluster_map_chart,
    coclustering_chart,
    interval_rows_chart,
    prob_c_chart,
)
from metacore.report.charts.cluster import cluster_names
from metacore.report.charts.common import HALF_PAGE
from ui import analysis as an
from ui import state, widgets
from ui.cache import cached
from ui.page import setup
from ui.text import md


@cached(max_entries=32)
def clustered(inputs: tuple, source: tuple, rate: float, mu_sd: float | None):
    """(ClusterResult, coordinates, seconds, error) for the current analysis."""
    eff = an.analyse(*inputs).effects
    kind, cols = source
    data = eff.data
    try:
        if kind == "group":
            D = distances_from_groups(data[cols[0]])
            coords = pd.factorize(data[cols[0]].astype(str))[0].astype(float)
        elif kind == "order":
            coords = np.arange(eff.k, dtype=float)
            D = mc.distances_from(coords)
        else:
            coords = data[list(cols)].to_numpy(float)
            if not np.all(np.isfinite(coords)):
                return None, None, 0.0, ("Some studies have no value for "
                                         + ", ".join(cols) + "; fill them in on the Data page.")
            D = mc.distances_from(coords)
        t0 = time.perf_counter()
        res = mc.cluster_meta(eff, D, tau2_prior_rate=rate, mu_prior_sd=mu_sd,
                              samples=10_000)
        return res, coords, time.perf_counter() - t0, ""
    except mc.MetacoreError as err:
        return None, None, 0.0, str(err)


@cached(max_entries=16)
def chart_specs(inputs: tuple, source: tuple, rate: float, mu_sd: float | None,
                level: float) -> tuple[dict, dict, dict, dict]:
    """The four charts of a fit (studies by cluster, P(C), co-clustering, map), built once."""
    res, coords, _, _ = clustered(inputs, source, rate, mu_sd)
    eff = an.analyse(*inputs).effects
    names = cluster_names(res)
    lo, hi = eff.ci(level)
    forest = pd.DataFrame({"label": list(eff.study), "est": eff.yi, "lo": lo, "hi": hi,
                           "group": names})
    order = list(np.lexsort(np.atleast_2d(np.asarray(coords, float)).T[::-1])) \
        if np.ndim(coords) > 1 else list(np.argsort(np.asarray(coords, float), kind="stable"))
    axes = list(source[1]) if source[0] == "coords" else (
        ["group"] if source[0] == "group" else ["table order"])
    return (interval_rows_chart(forest.iloc[order],
                                "Studies coloured by the most probable clustering",
                                mc.MEASURE_LABELS[eff.measure], ratio=eff.ratio,
                                subtitle=f"{level:.0%} Wald intervals; colour: cluster",
                                width=HALF_PAGE).to_dict(validate=False),
            prob_c_chart(res).to_dict(validate=False),
            coclustering_chart(res, order).to_dict(validate=False),
            cluster_map_chart(coords, res, axes).to_dict(validate=False))


setup()
s = st.session_state
st.title("Clustered heterogeneity (MANTRA)")
st.markdown(
    "The random-effects model treats the studies as **exchangeable**: any study's effect is "
    "a draw from one distribution, so each borrows strength from all the others equally. "
    "When studies come from different ancestries, regions or settings, that is too strong — "
    "similar populations should share an effect, dissimilar ones need not. MANTRA (Morris "
    "2011) groups studies around *centre* studies by a distance between their populations: "
    "within a cluster the studies share one effect βc ~ N(μ, τ²); the number of clusters has "
    "prior P(C = 1) = ½, then tails off. Here the model is computed **exactly**, by "
    "enumerating every set of centres, instead of by reversible-jump MCMC.")
result = widgets.analysis_or_stop()
eff = result.effects
extra = extra_columns(eff.data)
numeric = [c for c in extra if pd.api.types.is_numeric_dtype(eff.data[c])]
text = [c for c in extra if c not in numeric]

st.subheader("Where each study comes from")
modes = {"coords": "coordinates from the table", "group": "a grouping column",
         "order": "table order (no information)"}
available = [m for m in modes if (m != "coords" or numeric) and (m != "group" or text)]
# an identifier (trial numbers: whole, one per row) is never taken as a coordinate unasked
ids = {c for c in numeric if is_id_like(eff.data[c])}
measured = [c for c in numeric if c not in ids]
default_mode = "coords" if {"pc1", "pc2"} <= set(numeric) or "ablat" in numeric else (
    "group" if text else available[0])
c1, c2 = st.columns([1, 2])
mode = c1.radio("Distances from", available, key="mt_mode", format_func=modes.get,
                index=available.index(default_mode) if default_mode in available else 0)
if mode == "coords":
    guess = [c for c in ("pc1", "pc2") if c in numeric] or \
        [c for c in ("ablat",) if c in numeric] or measured[:1]
    if s.get("_mt_guessed_for") != tuple(numeric) or not set(s["mt_coords"]) <= set(numeric):
        s["mt_coords"] = guess          # new columns: start from the likeliest ones
        s["_mt_guessed_for"] = tuple(numeric)
    cols = c2.multiselect("Coordinates (Euclidean distance)", numeric, key="mt_coords")
    source = ("coords", tuple(cols))
    if not cols:
        st.info("Pick at least one coordinate column: where each study's population lies "
                "(e.g. ancestry principal components or latitude)."
                + (f" {', '.join(sorted(ids))} look{'s' if len(ids) == 1 else ''} like "
                   "identifiers (whole numbers, one per study), so nothing was chosen for you."
                   if ids else ""))
        st.stop()
    for c in sorted(ids & set(cols)):
        st.warning(f"{md(c)} looks like an identifier (a different whole number for every "
                   "study), not a place: distances between identifiers are arbitrary, and so "
                   "are the clusters they give.", icon=":material/warning:")
elif mode == "group":
    col = c2.selectbox("Studies in the same group are at distance 0, others at 1", text,
                       key="mt_group")
    source = ("group", (col,))
else:
    source = ("order", ())
    c2.caption("Without information on where the studies come from, neighbours in the table "
               "are treated as closest — a placeholder; prefer coordinates or a group column.")

c1, c2, c3 = st.columns(3)
rate = c1.number_input("Rate of the exponential prior on τ²", min_value=0.01, max_value=1000.0,
                       value=1.0, step=0.5, key="mt_rate",
                       help="τ² ~ Exp(rate); the course notes use rate 1.")
mu_kind = c2.radio("Prior on μ", ["normal", "flat"], key="mt_mu_kind", horizontal=True,
                   help="A flat prior gives no Bayes factor against 'no effect'.")
mu_sd = c3.number_input("SD of the normal prior on μ", min_value=0.01, value=0.5, step=0.1,
                        key="mt_mu_sd", disabled=mu_kind == "flat")
res, coords, seconds, error = clustered(an.current_inputs(), source, float(rate),
                                        None if mu_kind == "flat" else float(mu_sd))
if error:
    st.warning(md(error), icon=":material/warning:")
    st.stop()

p_het = format_prob(res.prob_heterogeneous)
p_text = p_het if p_het[0] in "<>" else f"= {p_het}"
words = [f"P(more than one cluster) {p_text}."]
if np.isfinite(res.log10_bf):
    words.append(f"The data are 10^{format_number(res.log10_bf, 3)} times more likely under "
                 "clustered effects than under no effect at all (one common effect: "
                 f"10^{format_number(res.log10_bf_c1, 3)}).")
st.info(" ".join(words), icon=":material/hub:")
m = st.columns(4)
m[0].metric("P(C > 1)", p_het)
m[1].metric("log₁₀ Bayes factor", format_number(res.log10_bf, 3)
            if np.isfinite(res.log10_bf) else "n/a", help="Clustered effects vs all zero")
m[2].metric("Most probable clustering", f"{max(res.map_partition) + 1} cluster(s)",
            help=f"posterior probability {format_prob(res.map_prob)}")
m[3].metric("Partitions", f"{res.n_partitions:,}",
            help=f"{2**res.k - 1:,} centre sets; computed in {seconds:.2f} s"
            if res.exact else "sampled centre sets")
for note in res.notes:
    st.caption(f":material/info: {md(note)}")

forest_spec, probc_spec, heat_spec, map_spec = chart_specs(
    an.current_inputs(), source, float(rate), None if mu_kind == "flat" else float(mu_sd),
    float(s[state.LEVEL]))
c1, c2 = st.columns(2)
with c1:
    st.vega_lite_chart(forest_spec, key="mt_forest", width="content", theme=None)
    st.vega_lite_chart(probc_spec, key="mt_probc", width="content", theme=None)
with c2:
    st.vega_lite_chart(heat_spec, key="mt_heat", width="content", theme=None)
    st.vega_lite_chart(map_spec, key="mt_map", width="content", theme=None)

st.subheader("Compared with the exchangeable random-effects analysis")
rand = mc.pool(eff, model="random", tau2_method=s[state.TAU2], ci_method=s[state.CI],
               level=float(s[state.LEVEL]))
names = cluster_names(res)
t = np.exp if eff.ratio else (lambda x: x)
table = pd.DataFrame({"study": list(eff.study), "cluster": names,
                      "observed": t(eff.yi), "clustered model (posterior mean)":
                      t(res.theta_mean)})
st.dataframe(table.round(4), hide_index=True, width="stretch")
nat = rand.natural()
st.caption(f"Random effects ({rand.settings}): one mean for everyone, "
           f"{format_effect(nat['estimate'], 3)} [{format_effect(nat['ci_low'], 3)}, "
           f"{format_effect(nat['ci_high'], 3)}], I² {rand.i2:.0f}%. The clustered model "
           "instead lets each group of similar studies keep its own effect.")
st.markdown(
    "**Signal and heterogeneity.** The total signal splits as Z² = Z_F² + Q (here "
    f"{rand.z2_total:.1f} = {rand.z2_fixed:.1f} + {rand.q:.1f}): Z_F² is the evidence for an "
    "average effect β_F, Q the evidence that effects differ. A genome-wide study usually only "
    "examines β_F; MANTRA's Bayes factor uses both, so a variant with different effects in "
    "different ancestries can stand out even when its average effect is modest.")
st.download_button("Co-clustering probabilities (CSV)", widgets.deferred_csv(pd.DataFrame(
    res.coclustering, index=list(eff.study), columns=list(eff.study)).reset_index(
    names="study")), "coclustering.csv", "text/csv", key="dl_cocl", on_click="ignore")
