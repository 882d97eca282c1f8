"""Network meta-analysis against metafor's rma.mv and the published formulas
(tests/reference/make_network.R -> network_reference.json)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import REF_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metacore as mc

CASES = {"hasselblad1998": ("OR", "no_contact"), "senn2013": ("MD", "placebo")}
FITS = {  # reference fit -> (model, tau2_method, ci_method, tolerance)
    "common": ("common", "REML", "z", 1e-6),
    "REML": ("random", "REML", "z", 1e-5),
    "ML": ("random", "ML", "z", 1e-5),
    "DL": ("random", "DL", "z", 1e-6),
    "REML_hksj": ("random", "REML", "hksj", 1e-5),
}


@cache
def ref() -> dict:
    return json.loads((REF_DIR / "network_reference.json").read_text())["networks"]


@cache
def fitted(name: str, fit: str) -> mc.NetworkResult:
    measure, reference = CASES[name]
    model, method, ci, _ = FITS[fit]
    return mc.network(mc.datasets.load(name), measure, reference, model=model,
                      tau2_method=method, ci_method=ci)


def arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.mark.parametrize("fit", list(FITS))
@pytest.mark.parametrize("name", list(CASES))
def test_estimates_tau2_q_league_pscores_match_metafor(name, fit):
    # metafor: rma.mv(yi, V, mods = ~ dummies - 1, random = ~ comp | study, rho = 1/2)
    r = ref()[name]["fits"][fit]
    tol = FITS[fit][3]
    nm = fitted(name, fit)
    est = nm.estimates.set_index("treatment").loc[r["treatments"]]
    for col in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
        np.testing.assert_allclose(est[col], r[col], atol=tol, rtol=0, err_msg=col)
    assert nm.tau2 == pytest.approx(r["tau2"], abs=tol)
    assert nm.q == pytest.approx(r["q"], abs=1e-6)
    assert nm.q_df == r["q_df"]
    assert nm.q_pvalue == pytest.approx(r["q_pvalue"], rel=1e-6)
    lg = pd.DataFrame(r["league"]).set_index(["t1", "t2"])
    mine = nm.league.set_index(["t1", "t2"]).loc[lg.index]
    assert len(nm.league) == len(lg) == len(nm.treatments) * (len(nm.treatments) - 1)
    for col in lg.columns:
        np.testing.assert_allclose(mine[col], lg[col], atol=tol, rtol=0, err_msg=col)
    treatments = ref()[name]["treatments"]
    np.testing.assert_allclose(nm.pscores("good").loc[treatments], r["pscore_good"],
                               atol=tol, rtol=0)
    np.testing.assert_allclose(nm.pscores("bad").loc[treatments], r["pscore_bad"],
                               atol=tol, rtol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_common_effect_equals_direct_gls_and_likelihood_maxima_agree(name):
    r = ref()[name]["fits"]
    nm = fitted(name, "common")
    # R's direct GLS solve, beside rma.mv without random effects
    np.testing.assert_allclose(nm.estimates["estimate"], r["common"]["gls_estimate"], atol=1e-9)
    # tau^2 found by optimize() on the hand-written (restricted) likelihood, 1e-13
    for fit in ("REML", "ML"):
        assert fitted(name, fit).tau2 == pytest.approx(r[fit]["tau2_optimize"], abs=1e-6)


def test_metafor_predict_gives_the_same_prediction_interval():
    p = ref()["hasselblad1998"]["fits"]["REML"]["predict_first"]
    row = fitted("hasselblad1998", "REML").estimates.iloc[0]
    assert (row.estimate, row.pi_low, row.pi_high) == pytest.approx(
        (p["pred"], p["pi_low"], p["pi_high"]), abs=1e-5)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("fit", ["common", "REML", "DL"])
def test_result_does_not_depend_on_arm_order(name, fit):
    measure, reference = CASES[name]
    model, method, ci, _ = FITS[fit]
    arms = mc.datasets.load(name)
    rng = np.random.default_rng(7)
    shuffled = (arms.assign(_k=rng.random(len(arms)))
                .sort_values(["study", "_k"]).drop(columns="_k").reset_index(drop=True))
    reversed_ = arms.iloc[::-1].reset_index(drop=True)
    base = fitted(name, fit)
    for table in (shuffled, reversed_):
        other = mc.network(table, measure, reference, model=model, tau2_method=method,
                           ci_method=ci)
        assert [s.treatments[0] for s in other.studies] != [s.treatments[0] for s in
                                                            base.studies]
        a = base.estimates.set_index("treatment")
        b = other.estimates.set_index("treatment").loc[a.index]
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), atol=1e-9)
        assert other.tau2 == pytest.approx(base.tau2, abs=1e-9)
        assert other.q == pytest.approx(base.q, abs=1e-9)


def pairwise(name: str) -> pd.DataFrame:
    """netmeta's pairwise output from the bundled arms: every pair of every study,
    TE = treatment1 minus treatment2."""
    nm = fitted(name, "common")
    rows = []
    for s in nm.studies:
        for i in range(len(s.treatments)):
            for j in range(i + 1, len(s.treatments)):
                rows.append({"studlab": s.name, "treat1": s.treatments[j],
                             "treat2": s.treatments[i], "TE": s.g[j] - s.g[i],
                             "seTE": np.sqrt(s.v[i] + s.v[j])})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", list(CASES))
def test_contrast_level_input_gives_the_arm_level_results(name):
    _, reference = CASES[name]
    r = ref()[name]["fits"]["REML"]
    nm = mc.network(pairwise(name), "GEN", reference)
    assert nm.input_kind == "contrasts"
    est = nm.estimates.set_index("treatment").loc[r["treatments"]]
    np.testing.assert_allclose(est["estimate"], r["estimate"], atol=1e-5)
    np.testing.assert_allclose(est["se"], r["se"], atol=1e-5)
    assert nm.tau2 == pytest.approx(r["tau2"], abs=1e-5)


def test_contrast_level_multi_arm_study_needs_every_pair_and_consistent_contrasts():
    pw = pairwise("hasselblad1998")
    multi = pw[pw.studlab == "Cottraux et al. 1983"]
    nm = mc.network(pw.drop(index=multi.index[-1]), "GEN")
    assert "Cottraux et al. 1983" not in {s.name for s in nm.studies}
    assert any("every pair" in e.reason for e in nm.excluded if e.study == "Cottraux et al. 1983")
    bad = pw.copy()
    bad.loc[multi.index[0], "TE"] += 0.3
    nm = mc.network(bad, "GEN")
    assert nm.n_studies == 23
    assert any("do not add up" in e.reason for e in nm.excluded)
    assert any("Cottraux et al. 1983" in n for n in nm.notes)


def test_zero_event_studies_get_half_added_to_every_arm():
    nm = fitted("hasselblad1998", "REML")
    corrected = {s.name for s in nm.studies if s.corrected}
    assert corrected == {"Rabkin et al. 1984", "Williams and Hall 1988"}
    ref_c = pd.DataFrame(ref()["hasselblad1998"]["contrasts"])
    rabkin = ref_c[ref_c.study == "Rabkin et al. 1984"].iloc[0]
    s = next(s for s in nm.studies if s.name == "Rabkin et al. 1984")
    assert s.g[1] - s.g[0] == pytest.approx(rabkin.yi, abs=1e-12)
    assert s.v[0] + s.v[1] == pytest.approx(rabkin.vi, abs=1e-12)
    assert any("0.5 was added" in n for n in nm.notes)


def test_geometry():
    g = fitted("hasselblad1998", "REML").geometry
    assert set(g.multi_arm) == {"Cottraux et al. 1983", "Mothersill et al. 1988"}
    e = g.edges.set_index(["t1", "t2"])
    assert len(e) == 6
    assert int(e.loc[("no_contact", "ind_counseling"), "studies"]) == 15
    # participants of the edge: both arms of every study that compares the two
    arms = mc.datasets.load("hasselblad1998")
    both = arms.groupby("study").filter(
        lambda a: {"no_contact", "self_help"} <= set(a.treatment))
    expected = both[both.treatment.isin(["no_contact", "self_help"])]["n"].sum()
    assert e.loc[("no_contact", "self_help"), "participants"] == expected
    t = g.treatments.set_index("treatment")
    assert int(t.loc["no_contact", "studies"]) == 19
    assert t["participants"].sum() == arms["n"].sum()
    assert len(g.designs) == 8


def test_disconnected_network_names_its_sub_networks():
    arms = mc.datasets.load("hasselblad1998")
    extra = pd.DataFrame({"study": ["Island A", "Island A", "Island B", "Island B"],
                          "treatment": ["drug_x", "drug_y", "drug_y", "drug_z"],
                          "events": [5, 9, 4, 6], "n": [50, 50, 40, 40]})
    with pytest.raises(mc.DataError) as err:
        mc.network(pd.concat([arms, extra]), "OR")
    msg = str(err.value)
    assert "2 sub-networks" in msg
    assert "drug_x, drug_y, drug_z (studies Island A, Island B)" in msg
    assert "grp_counseling, ind_counseling, no_contact, self_help" in msg


@pytest.mark.parametrize("name", list(CASES))
def test_design_by_treatment_decomposition(name):
    r = ref()[name]["decomp"]
    dd = mc.decomp_design(fitted(name, "REML"))
    t = dd.table.set_index("source")
    assert t.loc["total", "q"] == pytest.approx(r["q_total"], abs=1e-6)
    assert t.loc["within designs", "q"] == pytest.approx(r["q_within"], abs=1e-6)
    assert t.loc["between designs", "q"] == pytest.approx(r["q_between"], abs=1e-6)
    assert list(t.df) == [r["df_total"], r["df_within"], r["df_between"]]
    assert t.loc["between designs", "pvalue"] == pytest.approx(r["p_between"], rel=1e-6)
    assert list(dd.designs.design) == r["designs"]
    np.testing.assert_allclose(dd.designs.q, r["q_design"], atol=1e-6)
    assert list(dd.designs.df) == r["df_design"]
    assert dd.tau2_within == pytest.approx(r["tau2_within"], abs=1e-6)
    assert dd.q_between_random == pytest.approx(r["q_between_random"], abs=1e-6)
    assert dd.q_between_random_pvalue == pytest.approx(r["p_between_random"], rel=1e-6)


@pytest.mark.parametrize("fit", ["common", "REML"])
@pytest.mark.parametrize("name", list(CASES))
def test_netsplit_back_calculation(name, fit):
    r = pd.DataFrame(ref()[name]["netsplit"][fit])
    ns = mc.netsplit(fitted(name, fit))
    assert list(zip(ns.t1, ns.t2, strict=True)) == list(zip(r.t1, r.t2, strict=True))
    assert list(ns.k) == list(r.k)
    for col in ("direct", "direct_se", "indirect", "indirect_se", "network", "network_se",
                "prop_direct", "diff", "diff_se", "z", "pvalue"):
        np.testing.assert_allclose(ns[col], arr(r[col]), atol=1e-5, err_msg=col)


@pytest.mark.parametrize("name", list(CASES))
def test_contribution_matrix(name):
    r = ref()[name]["contribution"]
    cm = mc.netcontrib(fitted(name, "common"))
    assert list(cm.index) == [x.replace(":", " vs ") for x in r["rows"]]
    assert list(cm.columns) == r["columns"]
    np.testing.assert_allclose(cm.to_numpy(), np.array(r["percent"]), atol=1e-8)
    np.testing.assert_allclose(cm.sum(axis=1), 100)
    # a comparison studied only directly, in two-arm trials, takes all from its own column
    if name == "senn2013":
        assert cm.loc["placebo vs sitagliptin", "placebo vs sitagliptin"] == 100


def test_contribution_two_step_reproduces_the_network_under_random_effects():
    from metacore.diagnostics.network import _design_level
    nm = fitted("hasselblad1998", "REML")
    beta, cov, Xd, _ = _design_level(nm)
    prec = np.linalg.inv(cov)
    two_step = np.linalg.solve(Xd.T @ prec @ Xd, Xd.T @ prec @ beta)
    np.testing.assert_allclose(two_step, nm.estimates["estimate"], atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_leave_one_study_out(name):
    r = ref()[name]["loo"]
    loo = mc.network_leave_one_out(fitted(name, "REML"), r["t1"], r["t2"])
    assert list(loo.omitted) == r["study"]
    np.testing.assert_allclose(loo.estimate, r["estimate"], atol=1e-5)
    np.testing.assert_allclose(loo.se, r["se"], atol=1e-5)
    np.testing.assert_allclose(loo.tau2, r["tau2"], atol=1e-5)


def test_leave_one_design_out_names_what_cannot_be_refitted():
    nm = fitted("senn2013", "common")
    loo = mc.network_leave_one_out(nm, "sitagliptin", "placebo", by="design")
    gone = loo.set_index("omitted").loc["placebo:sitagliptin"]
    assert np.isnan(gone.estimate) and "sitagliptin" in gone.note
    kept = loo.set_index("omitted").loc["miglitol:placebo"]
    # sitagliptin vs placebo rests on one study only, untouched by removing miglitol trials
    assert kept.estimate == pytest.approx(-0.57, abs=1e-12)


def test_sucra_equals_pscores_within_monte_carlo_error():
    nm = fitted("senn2013", "REML")
    n_sim = 40_000
    probs = nm.rank_probabilities("good", n_sim=n_sim, seed=1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0)
    sucra = nm.sucra("good", n_sim=n_sim, seed=1)
    pscore = nm.pscores("good")
    # each SUCRA is a mean of n - 1 indicators: MC error below 0.5 / sqrt(n_sim)
    assert np.max(np.abs(sucra - pscore)) < 5 * 0.5 / np.sqrt(n_sim)
    again = nm.rank_probabilities("good", n_sim=n_sim, seed=1)
    pd.testing.assert_frame_equal(probs, again)
    assert nm.pscores("good").idxmax() == "rosiglitazone"   # lowest HbA1c change
    assert (nm.pscores("good") + nm.pscores("bad")).round(12).eq(1).all()


def test_natural_summary_frame_and_reference_default():
    nm = mc.network(mc.datasets.load("hasselblad1998"), "OR")
    assert nm.reference == "no_contact"        # most studied, first in the data among ties
    nat = nm.natural()
    np.testing.assert_allclose(nat["estimates"]["estimate"], np.exp(nm.estimates["estimate"]))
    assert "Odds ratio" in nm.summary() and "τ² = 0.450" in nm.summary()
    assert {"estimate_natural", "ci_low_natural"} <= set(nm.to_frame().columns)
    lm = nm.league_matrix()
    assert lm.loc["ind_counseling", "no_contact"] == pytest.approx(
        -lm.loc["no_contact", "ind_counseling"])
    assert np.isnan(lm.loc["self_help", "self_help"])


def test_hksj_and_dl_are_named_in_the_notes():
    hk = fitted("senn2013", "REML_hksj")
    assert hk.df == 18 and any("Knapp-Hartung" in n for n in hk.notes)
    dl = fitted("senn2013", "DL")
    assert any("generalised DerSimonian-Laird" in n for n in dl.notes)
    s2 = ref()["senn2013"]["fits"]["REML_hksj"]["s2"]
    assert hk.hksj_s2 == pytest.approx(s2, rel=1e-5)


def test_metafor_script():
    for fit in ("common", "REML", "DL", "REML_hksj"):
        code = mc.network_script(fitted("hasselblad1998", fit))
        assert "rma.mv(yi, V, mods = ~ `grp_counseling` + `ind_counseling` + `self_help` - 1" \
            in code
        assert ("random = ~ comp | study, rho = 1/2" in code) == (fit != "common")
        assert code.count('"Cottraux et al. 1983"') == 2   # two contrasts vs its first arm
    assert "s2 <-" in mc.network_script(fitted("hasselblad1998", "REML_hksj"))


@pytest.mark.parametrize("measure", ["RR", "RD", "SMD"])
def test_other_measures_fit(measure):
    name = "senn2013" if measure == "SMD" else "hasselblad1998"
    nm = mc.network(mc.datasets.load(name), measure)
    assert np.isfinite(nm.estimates[["estimate", "se"]].to_numpy()).all()
    assert nm.tau2 >= 0
    if measure == "SMD":
        assert any("first arm" in n for n in nm.notes)


def test_bad_input_is_named():
    arms = mc.datasets.load("hasselblad1998")
    with pytest.raises(mc.DataError, match="missing: events"):
        mc.network(arms.drop(columns="events"), "OR")
    bad = arms.copy()
    bad.loc[3, "events"] = 500
    nm = mc.network(bad, "OR")
    assert any("row 4 (Cottraux et al. 1983, ind_counseling)" in e.reason
               for e in nm.excluded)
    twice = arms.copy()
    twice.loc[1, "treatment"] = "no_contact"
    nm = mc.network(twice, "OR")
    assert [e.reason for e in nm.excluded] == [
        "Study 'Reid et al. 1974' is left out: it has more than one arm of no_contact; "
        "combine those arms (or give them different treatment names)."]
    with pytest.raises(mc.OptionError, match="reference treatment 'placebo'"):
        mc.network(arms, "OR", "placebo")
    with pytest.raises(mc.OptionError, match="REML, ML, DL"):
        mc.network(arms, "OR", tau2_method="PM")
    with pytest.raises(mc.MeasureError):
        mc.network(arms, "PETO")
    with pytest.raises(mc.DataError, match="treatment1, treatment2"):
        mc.network(arms, "GEN")
    one_arm = arms[~((arms.study == "Reid et al. 1974") & (arms.treatment == "no_contact"))]
    nm = mc.network(one_arm, "OR")
    assert any("only one usable arm" in e.reason for e in nm.excluded)
    assert nm.n_studies == 23


NET_CELL = st.one_of(st.integers(min_value=-3, max_value=60), st.floats(width=64),
                     st.sampled_from(["", "abc", " 12 ", "NaN"]), st.none(),
                     st.floats(min_value=1e-300, max_value=1e300))


@st.composite
def network_tables(draw):
    """Arm tables of 2-8 rows over few study and treatment names (so that studies have
    several arms, repeated arms, lone arms and disconnected parts), cells of any kind."""
    n = draw(st.integers(min_value=0, max_value=8))
    cols = draw(st.lists(st.sampled_from(["events", "n", "mean", "sd", "junk"]),
                         min_size=0, max_size=5, unique=True))
    table = {"study": [draw(st.sampled_from(["A", "B", "C", "", None])) for _ in range(n)],
             "treatment": [draw(st.sampled_from(["x", "y", "z", "w", " "])) for _ in range(n)]}
    table.update({c: [draw(NET_CELL) for _ in range(n)] for c in cols})
    return pd.DataFrame(table)


# derandomize: the same 300 examples every run
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(network_tables(), st.sampled_from(["OR", "RR", "RD", "MD", "SMD"]),
       st.sampled_from(["REML", "ML", "DL"]), st.sampled_from(["z", "hksj"]))
def test_generated_network_tables_never_crash(table, measure, method, ci):
    try:
        nm = mc.network(table, measure, model="random", tau2_method=method, ci_method=ci)
    except mc.MetacoreError as err:
        assert str(err)
        return
    assert np.isfinite(nm.estimates[["estimate", "se"]].to_numpy()).all()
    assert nm.tau2 >= 0
    for study, reason in nm.excluded:
        assert reason.startswith("row ") or reason.startswith(f"Study '{study}'")
    assert len(nm.league) == len(nm.treatments) * (len(nm.treatments) - 1)


@st.composite
def contrast_tables(draw):
    n = draw(st.integers(min_value=0, max_value=7))
    pick = st.sampled_from(["x", "y", "z", "w"])
    return pd.DataFrame({"studlab": [draw(st.sampled_from(["A", "B", "C"])) for _ in range(n)],
                         "treat1": [draw(pick) for _ in range(n)],
                         "treat2": [draw(pick) for _ in range(n)],
                         "TE": [draw(NET_CELL) for _ in range(n)],
                         "seTE": [draw(NET_CELL) for _ in range(n)]})


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(contrast_tables(), st.sampled_from(["REML", "DL"]))
def test_generated_contrast_tables_never_crash(table, method):
    try:
        nm = mc.network(table, "GEN", tau2_method=method)
    except mc.MetacoreError as err:
        assert str(err)
        return
    assert np.isfinite(nm.estimates[["estimate", "se"]].to_numpy()).all()
    for _, reason in nm.excluded:
        assert reason.startswith("row ") or reason.startswith("Study '")


def test_comparison_adjusted_funnel_points():
    nm = fitted("hasselblad1998", "REML")
    ca = mc.comparison_adjusted(nm)
    assert len(ca) == 28
    order = {t: i for i, t in enumerate(nm.treatments)}
    assert all(order[a] > order[b] for a, b in zip(ca.t1, ca.t2, strict=True))
    reid = ca[ca.study == "Reid et al. 1974"].iloc[0]
    # log odds ratio of individual counselling vs no contact in Reid et al. (363/714 vs 75/731)
    assert reid.yi == pytest.approx(np.log(363 / 351) - np.log(75 / 656), abs=1e-12)
    assert reid.sei == pytest.approx(np.sqrt(1 / 363 + 1 / 351 + 1 / 75 + 1 / 656), abs=1e-12)
    assert reid.centred == pytest.approx(reid.yi - 0.709009280007882, abs=1e-5)


@pytest.mark.parametrize("method", ["REML", "ML", "DL"])
def test_two_treatments_reduce_to_pairwise_pooling(method):
    # a network of two treatments is a pairwise meta-analysis (metafor's rma on escalc RR)
    bcg = mc.datasets.load("bcg")
    arms = pd.concat([
        pd.DataFrame({"study": bcg.study, "treatment": "vaccine", "events": bcg.events_t,
                      "n": bcg.n_t}),
        pd.DataFrame({"study": bcg.study, "treatment": "control", "events": bcg.events_c,
                      "n": bcg.n_c})]).sort_index(kind="stable")
    for ci in ("z", "hksj"):
        nm = mc.network(arms, "RR", "control", tau2_method=method, ci_method=ci)
        res = mc.pool(mc.compute_effects(bcg, "RR"), tau2_method=method, ci_method=ci)
        row = nm.estimates.iloc[0]
        assert (row.estimate, row.se, row.ci_low, row.pi_high) == pytest.approx(
            (res.estimate, res.se, res.ci_low, res.pi_high), abs=1e-9)
        assert nm.tau2 == pytest.approx(res.tau2, abs=1e-10)
        assert nm.q == pytest.approx(res.q, abs=1e-9)


def test_metadat_column_names_are_understood():
    # dat.hasselblad1998 as metadat ships it: id (one per arm), study, authors, year, trt, xi, ni
    arms = mc.datasets.load("hasselblad1998")
    raw = pd.DataFrame({"id": range(1, len(arms) + 1), "study": arms.study,
                        "authors": arms.study, "year": 1990, "trt": arms.treatment,
                        "xi": arms.events, "ni": arms.n})
    nm = mc.network(raw, "OR", "no_contact")
    assert nm.n_studies == 24
    assert nm.tau2 == pytest.approx(fitted("hasselblad1998", "REML").tau2, abs=1e-12)


def test_league_grid_network_below_direct_above():
    nm = fitted("hasselblad1998", "REML")
    g = mc.league_grid(nm).set_index(["row", "col"])
    lg = nm.league.set_index(["t1", "t2"])
    # below the diagonal: the network odds ratio of row vs col
    assert g.loc[("ind_counseling", "no_contact"), "kind"] == "network"
    assert g.loc[("ind_counseling", "no_contact"), "estimate"] == pytest.approx(
        np.exp(lg.loc[("ind_counseling", "no_contact"), "estimate"]))
    # above: netsplit's direct estimate, back-transformed
    ns = pd.DataFrame(ref()["hasselblad1998"]["netsplit"]["REML"]).set_index(["t1", "t2"])
    cell = g.loc[("no_contact", "ind_counseling")]
    assert cell.kind == "direct"
    assert cell.estimate == pytest.approx(np.exp(ns.loc[("no_contact", "ind_counseling"),
                                                        "direct"]), rel=1e-6)
    senn = mc.league_grid(fitted("senn2013", "REML"), natural=False).set_index(["row", "col"])
    assert np.isnan(senn.loc[("placebo", "sulfonylurea"), "estimate"])   # never compared


@pytest.mark.parametrize("method", ["REML", "ML", "DL"])
def test_a_tree_network_has_no_heterogeneity_df(method):
    # three two-arm trials forming a star: as many contrasts as effects, Q has 0 df
    arms = pd.DataFrame({"study": ["S1", "S1", "S2", "S2", "S3", "S3"],
                         "treatment": ["A", "B", "A", "C", "A", "D"],
                         "events": [10, 15, 12, 8, 9, 14], "n": [100, 100, 90, 95, 80, 85]})
    nm = mc.network(arms, "OR", "A", tau2_method=method, ci_method="hksj")
    assert nm.q_df == 0 and nm.tau2 == 0 and nm.df is None
    assert any("no heterogeneity degrees of freedom" in n for n in nm.notes)
    assert any("Wald z intervals are used" in n for n in nm.notes)
    s1 = nm.estimates.set_index("treatment").loc["B"]
    assert s1.estimate == pytest.approx(np.log(15 / 85) - np.log(10 / 90), abs=1e-12)


def test_decomposition_frame_and_summary():
    dd = mc.decomp_design(fitted("senn2013", "REML"))
    f = dd.to_frame()
    assert list(f.source) == ["total", "within designs", "between designs",
                              "between designs (random effects)"]
    assert f.q.iloc[3] == pytest.approx(ref()["senn2013"]["decomp"]["q_between_random"])
    assert "Q(7) = 22.53" in dd.summary()
