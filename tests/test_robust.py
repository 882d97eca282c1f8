"""Cluster-robust inference against metafor's robust() and clubSandwich
(tests/reference/make_multilevel.R)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.errors import DataError, OptionError
from tests.conftest import REF_DIR


@cache
def ref() -> dict:
    return json.loads((REF_DIR / "multilevel_reference.json").read_text())["robust"]


@cache
def k11() -> mc.EffectSizes:
    return mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")


@cache
def as16() -> mc.EffectSizes:
    return mc.compute_effects(pd.read_csv(REF_DIR / "assink2016.csv"), "GEN")


# name in the JSON -> (fit, effects it came from or None, cluster column, tolerance)
# Tolerances: rma/metareg fits are exact (1e-6 is generous); rma.mv fits are iterative.
FITS = {
    "pool_as16": (lambda: mc.pool(as16(), model="random", tau2_method="REML"), as16, "sid",
                  1e-6),
    "pool_k11_dl": (lambda: mc.pool(k11(), model="random", tau2_method="DL"), k11,
                    "district", 1e-6),
    "pool_k11_ee": (lambda: mc.pool(k11(), model="common"), k11, "district", 1e-6),
    "metareg_as16": (lambda: mc.metareg(as16(), ["year", "deltype"]), as16, "sid", 1e-6),
    "ml_as16": (lambda: mc.multilevel(as16(), ["sid", "esid"], profile=False), None, "sid",
                1e-5),
    "ml_as16_deltype": (lambda: mc.multilevel(as16(), ["sid", "esid"], mods=["deltype"],
                                              profile=False), None, "sid", 1e-5),
    "ml_as16_rho06": (lambda: mc.multilevel(as16(), ["sid", "esid"], rho=0.6, profile=False),
                      None, "sid", 1e-5),
    "ml_k11_year": (lambda: mc.multilevel(k11(), ["district", "school"], mods=["year"],
                                          profile=False), None, "district", 1e-5),
    "ml_k11": (lambda: mc.multilevel(k11(), ["district", "school"], profile=False), None,
               "district", 1e-5),
}
KINDS = {"cr2": {"small_sample": True}, "cr1": {"small_sample": False},
         "cr0": {"small_sample": False, "adjust": False}}


@cache
def fit(name):
    return FITS[name][0]()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", FITS)
def test_robust_matches_metafor_and_clubsandwich(name, kind):
    r = ref()[f"{name}_{kind}"]
    _, effects, cluster, tol = FITS[name]
    rb = mc.robust(fit(name), cluster, effects=effects() if effects else None, **KINDS[kind])
    assert rb.n_clusters == r["n_clusters"]
    assert rb.vcov_type == kind.upper()
    assert list(rb.coef.index) == list(np.atleast_1d(r["coef_names"]))
    for col, key in [("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_lb"),
                     ("ci_high", "ci_ub"), ("pvalue", "pval")]:
        np.testing.assert_allclose(rb.coef[col], r[key], atol=tol, rtol=0, err_msg=col)
    np.testing.assert_allclose(rb.coef["df"], r["df"], atol=tol, rtol=tol)
    np.testing.assert_allclose(rb.vcov, np.array(r["vcov"], ndmin=2), atol=tol, rtol=0)
    assert (rb.se, rb.df, rb.ci_low) == (rb.coef["se"].iloc[0], rb.coef["df"].iloc[0],
                                         rb.coef["ci_low"].iloc[0])
    if len(rb.coef) > 1:   # HTZ (CR2) or F(m, n - p): metafor's QM
        assert rb.htz.test == ("HTZ" if kind == "cr2" else "F")
        np.testing.assert_allclose(rb.htz.statistic, r["qm"], rtol=tol)
        np.testing.assert_allclose([rb.htz.df1, rb.htz.df2], [r["qm_df1"], r["qm_df2"]],
                                   rtol=tol)
        np.testing.assert_allclose(rb.htz.pvalue, r["qm_p"], atol=tol, rtol=0)
    else:
        assert rb.htz is None


def test_wald_test_of_all_moderators_equals_the_htz():
    rb = mc.robust(fit("metareg_as16"), "sid", effects=as16())
    joint = rb.wald_test(["year", "deltypegeneral", "deltypeovert"])
    assert joint == rb.htz
    one = rb.wald_test(["year"])
    assert one.df1 == 1 and 0 < one.pvalue < 1
    with pytest.raises(OptionError, match="unknown: age"):
        rb.wald_test(["age"])
    cr1 = mc.robust(fit("metareg_as16"), "sid", effects=as16(), small_sample=False)
    assert cr1.wald_test(["year"]).df2 == cr1.n_clusters - 4


def test_cluster_labels_may_be_given_directly():
    ml = fit("ml_k11")
    by_name = mc.robust(ml, "district")
    by_values = mc.robust(ml, ml.data["district"].to_numpy())
    assert by_values.se == pytest.approx(by_name.se, abs=1e-15)


def test_one_row_per_cluster_cr0_is_the_heteroscedasticity_robust_estimate():
    # With singleton clusters the CR0 sandwich is sum w_i^2 e_i^2 / (sum w_i)^2.
    res = mc.pool(k11(), model="random", tau2_method="DL")
    rb = mc.robust(res, "study", effects=k11(), small_sample=False, adjust=False)
    w = 1 / (res.vi + res.tau2)
    expected = np.sqrt(np.sum(w**2 * (res.yi - res.estimate) ** 2)) / w.sum()
    assert rb.se == pytest.approx(expected, rel=1e-12)


def test_presentation():
    rb = mc.robust(fit("ml_as16_deltype"), "sid")
    text = rb.summary()
    assert "CR2" in text and "17 clusters" in text and "HTZ" in text
    assert rb.to_frame()["coefficient"].tolist() == ["intrcpt", "deltypegeneral",
                                                     "deltypeovert"]
    assert rb.natural()["estimate"] == rb.estimate
    assert rb.model_se == pytest.approx(fit("ml_as16_deltype").se)


def test_bad_input_is_named():
    res = mc.pool(k11(), model="random")
    with pytest.raises(OptionError, match="effects="):
        mc.robust(res, "district")
    with pytest.raises(DataError, match="'county'"):
        mc.robust(res, "county", effects=k11())
    with pytest.raises(DataError, match="at least two clusters"):
        mc.robust(res, ["A"] * res.k)
    with pytest.raises(DataError, match="56 rows"):
        mc.robust(res, ["A", "B"])
    with pytest.raises(OptionError, match="not nested"):
        mc.robust(fit("ml_k11"), fit("ml_k11").data["school"].to_numpy())
    labels = ["A", "B"] * 28
    labels[3] = None
    with pytest.raises(DataError, match="District 11, school 4"):
        mc.robust(res, labels)
    with pytest.raises(OptionError, match="mc.pool"):
        mc.robust("not a fit", "district")


def test_mantel_haenszel_results_are_refused():
    mh = mc.pool_mh(mc.datasets.load("bcg"), "RR")
    with pytest.raises(OptionError, match="inverse-variance"):
        mc.robust(mh, "subgroup", effects=mc.compute_effects(mc.datasets.load("bcg"), "RR"))


def test_dependence_table_sets_the_three_analyses_side_by_side():
    table = mc.datasets.load("konstantopoulos2011")
    table.loc[0, "school"] = np.nan          # left out of every row of the table alike
    eff = mc.compute_effects(table, "GEN")
    tab = mc.dependence_table(eff, ["district", "school"]).set_index("model")
    ml = mc.multilevel(eff, ["district", "school"], profile=False)
    rows = eff.data["school"].notna().to_numpy()
    naive = mc.pool(mc.compute_effects(table.loc[rows], "GEN"), model="random")
    rb = mc.robust(ml, "district")
    assert tab.loc["naive", "estimate"] == pytest.approx(naive.estimate, abs=1e-12)
    assert tab.loc["multilevel", "se"] == pytest.approx(ml.se, abs=1e-12)
    assert tab.loc["robust", "ci_high"] == pytest.approx(rb.ci_high, abs=1e-12)
    assert tab.loc["naive", "width_ratio"] == 1
    assert tab.loc["multilevel", "width_ratio"] > 1.5   # ignoring the nesting is too narrow
