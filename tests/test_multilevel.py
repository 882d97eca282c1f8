"""Multilevel models against metafor's rma.mv (tests/reference/make_multilevel.R)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metacore as mc
from metacore.errors import DataError, OptionError
from tests.conftest import REF_DIR

TOL = 1e-5   # iterative fits (metafor: nlminb rel.tol 1e-10, confint tol 1e-10)


@cache
def ref() -> dict:
    return json.loads((REF_DIR / "multilevel_reference.json").read_text())


@cache
def k11() -> mc.EffectSizes:
    table = mc.datasets.load("konstantopoulos2011")
    # The invented outer level of the R script: districts in sorted order -> R1, R2, R3, R1 ...
    districts = sorted(table["district"].unique())
    table["region"] = [f"R{districts.index(d) % 3 + 1}" for d in table["district"]]
    return mc.compute_effects(table, "GEN")


@cache
def as16() -> mc.EffectSizes:
    return mc.compute_effects(pd.read_csv(REF_DIR / "assink2016.csv"), "GEN")


# name in the JSON -> (effects, levels, options)
CASES = {
    "k11_reml": (k11, ["district", "school"], {}),
    "k11_ml": (k11, ["district", "school"], {"tau2_method": "ML"}),
    "k11_reml_t": (k11, ["district", "school"], {"ci_method": "t"}),
    "k11_reml_year": (k11, ["district", "school"], {"mods": ["year"]}),
    "k11_ml_year_t": (k11, ["district", "school"], {"mods": ["year"], "tau2_method": "ML",
                                                    "ci_method": "t"}),
    "k11_district": (k11, ["district"], {}),
    "k11_four": (k11, ["region", "district", "school"], {}),
    "as16_reml": (as16, ["sid", "esid"], {}),
    "as16_ml": (as16, ["sid", "esid"], {"tau2_method": "ML"}),
    "as16_deltype": (as16, ["sid", "esid"], {"mods": ["deltype"]}),
    "as16_rho06": (as16, ["sid", "esid"], {"rho": 0.6}),
}


@cache
def fitted(name: str) -> mc.MultilevelResult:
    eff, levels, options = CASES[name]
    return mc.multilevel(eff(), levels, **options)


@pytest.mark.parametrize("name", CASES)
def test_fit_matches_rma_mv(name):
    r, res = ref()["fits"][name], fitted(name)
    assert res.k == r["k"]
    beta = [res.estimate] if res.coef is None else res.coef["estimate"].tolist()
    se = [res.se] if res.coef is None else res.coef["se"].tolist()
    np.testing.assert_allclose(beta, r["estimate"], atol=TOL, rtol=0)
    np.testing.assert_allclose(se, r["se"], atol=TOL, rtol=0)
    np.testing.assert_allclose(res.sigma2, r["sigma2"], atol=TOL, rtol=0)
    np.testing.assert_allclose(res.loglik, r["loglik"], atol=TOL, rtol=0)
    ci_lb = [res.ci_low] if res.coef is None else res.coef["ci_low"].tolist()
    ci_ub = [res.ci_high] if res.coef is None else res.coef["ci_high"].tolist()
    pv = [res.pvalue] if res.coef is None else res.coef["pvalue"].tolist()
    np.testing.assert_allclose(ci_lb, r["ci_lb"], atol=TOL, rtol=0)
    np.testing.assert_allclose(ci_ub, r["ci_ub"], atol=TOL, rtol=0)
    np.testing.assert_allclose(pv, r["pval"], atol=TOL, rtol=1e-4)
    if res.coef is None:
        np.testing.assert_allclose([res.pi_low, res.pi_high], [r["pi_lb"], r["pi_ub"]],
                                   atol=TOL, rtol=0)
    else:
        np.testing.assert_allclose(res.qm, r["qm"], atol=TOL, rtol=1e-6)
        np.testing.assert_allclose(res.qm_pvalue, r["qm_p"], atol=TOL, rtol=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_variance_components_intervals_i2_and_lrt(name):
    r, res = ref()["fits"][name], fitted(name)
    np.testing.assert_allclose([c.low for c in res.sigma2_ci], r["sigma2_ci_lb"], atol=TOL)
    np.testing.assert_allclose([c.high for c in res.sigma2_ci], r["sigma2_ci_ub"], atol=TOL)
    np.testing.assert_allclose(res.i2, r["i2"], atol=1e-4)   # percent
    np.testing.assert_allclose(res.i2_total, r["i2_total"], atol=1e-4)
    np.testing.assert_allclose(res.typical_variance, r["typical_variance"], rtol=1e-10)
    np.testing.assert_allclose(res.lrt, r["lrt"], atol=1e-4)
    np.testing.assert_allclose(res.lrt_pvalue, r["lrt_p"], atol=TOL)


def test_rho_sensitivity_matches_vcalc_fits():
    r = ref()["rho_sensitivity"]
    tab = mc.rho_sensitivity(as16(), ["sid", "esid"])
    np.testing.assert_allclose(tab["rho"], r["rho"])
    for col, key in [("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_lb"),
                     ("ci_high", "ci_ub"), ("sigma2[sid]", "sigma2_outer"),
                     ("sigma2[esid]", "sigma2_inner")]:
        np.testing.assert_allclose(tab[col], r[key], atol=TOL, rtol=0)


def test_one_level_with_a_row_per_group_is_the_random_effects_model():
    eff = k11()
    table = eff.data.assign(row_id=np.arange(eff.k))
    one = mc.multilevel(mc.compute_effects(table.drop(columns=["row", "include"]), "GEN"),
                        ["row_id"], profile=False)
    pooled = mc.pool(eff, model="random", tau2_method="REML")
    assert one.estimate == pytest.approx(pooled.estimate, abs=1e-9)
    assert one.se == pytest.approx(pooled.se, abs=1e-9)
    assert one.sigma2[0] == pytest.approx(pooled.tau2, abs=1e-9)


def test_order_of_rows_does_not_matter():
    eff = as16()
    shuffled = eff.data.sample(frac=1.0, random_state=3).drop(columns=["row", "include"])
    res = mc.multilevel(mc.compute_effects(shuffled, "GEN"), ["sid", "esid"], profile=False)
    assert res.estimate == pytest.approx(fitted("as16_reml").estimate, abs=1e-10)
    assert res.loglik == pytest.approx(fitted("as16_reml").loglik, abs=1e-9)


def test_result_presentation():
    res = fitted("k11_reml")
    text = res.summary()
    assert "district (11 groups)" in text and "school (56 groups)" in text
    frame = res.to_frame().set_index("statistic")["value"]
    assert frame["sigma2[district]"] == res.sigma2[0]
    assert frame["k"] == 56
    nat = res.natural()
    assert nat["estimate"] == res.estimate   # SMD: no back-transform
    split = res.variance_split()
    assert split["percent"].sum() == pytest.approx(100)
    assert split["component"].tolist()[1:] == ["district", "school"]
    # the sampling share is 100 - total I^2
    assert split["percent"].iloc[0] == pytest.approx(100 - res.i2_total)
    assert fitted("k11_reml_year").coef.index.tolist() == ["intrcpt", "year"]


def test_bad_input_is_named():
    eff = k11()
    with pytest.raises(DataError, match="'county'"):
        mc.multilevel(eff, ["county"])
    with pytest.raises(OptionError, match="REML"):
        mc.multilevel(eff, ["district"], tau2_method="DL")
    with pytest.raises(OptionError, match="ci_method"):
        mc.multilevel(eff, ["district"], ci_method="hksj")
    with pytest.raises(OptionError, match="ρ"):
        mc.multilevel(eff, ["district"], rho=1.5)
    with pytest.raises(OptionError, match="twice"):
        mc.multilevel(eff, ["district", "district"])
    table = eff.data.drop(columns=["row", "include"]).assign(one="A")
    with pytest.raises(DataError, match="one group only"):
        mc.multilevel(mc.compute_effects(table, "GEN"), ["one", "district"])


def test_rows_without_a_level_are_named_and_left_out():
    table = mc.datasets.load("konstantopoulos2011")
    table.loc[0, "school"] = np.nan
    res = mc.multilevel(mc.compute_effects(table, "GEN"), ["district", "school"],
                        profile=False)
    assert res.k == 55
    assert any("District 11, school 1" in n for n in res.notes)


def test_icc_and_rows_without_a_moderator():
    res = fitted("k11_reml")
    assert res.icc == pytest.approx(res.sigma2[0] / (res.sigma2[0] + res.sigma2[1]))
    table = mc.datasets.load("konstantopoulos2011")
    table.loc[2, "year"] = np.nan
    out = mc.multilevel(mc.compute_effects(table, "GEN"), ["district", "school"],
                        mods=["year"], profile=False)
    assert out.k == 55
    assert any("District 11, school 3" in n for n in out.notes)


def test_a_negative_rho_that_is_impossible_is_explained():
    with pytest.raises(DataError, match="positive definite"):
        mc.multilevel(as16(), ["sid", "esid"], rho=-0.5, profile=False)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None, ""]),
                          st.sampled_from([1, 2, 3, None]),
                          st.floats(-3, 3), st.floats(1e-4, 2.0)),
                min_size=1, max_size=14),
       st.sampled_from([None, 0.0, 0.5]), st.sampled_from(["REML", "ML"]))
def test_generated_tables_give_a_fit_or_a_clear_message(rows, rho, method):
    table = pd.DataFrame(rows, columns=["outer", "inner", "yi", "vi"])
    table["study"] = [f"Row {i + 1}" for i in range(len(table))]
    try:
        eff = mc.compute_effects(table, "GEN")
        res = mc.multilevel(eff, ["outer", "inner"], rho=rho, tau2_method=method)
    except (DataError, OptionError) as err:
        assert str(err).endswith(".") and len(str(err)) > 20
        return
    assert all(s >= 0 for s in res.sigma2)
    assert np.isfinite(res.estimate) and np.isfinite(res.loglik)
    for s2, ci in zip(res.sigma2, res.sigma2_ci, strict=True):
        assert ci.low - 1e-9 <= s2 <= ci.high + 1e-9
    rb = mc.robust(res, "outer") if res.n_groups[0] > 1 else None
    assert rb is None or np.isfinite(rb.se)


def test_row_number_as_the_effect_level():
    # each row its own effect: the same model as naming a unique effect id per study
    by_row = mc.multilevel(as16(), ["sid", "row"], profile=False)
    assert by_row.sigma2 == pytest.approx(fitted("as16_reml").sigma2, abs=1e-10)
    assert by_row.n_groups == (17, 100)
