"""Meta-regression against metafor's rma(yi, vi, mods = ...) (tests/reference/make_metareg.R)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from tests.conftest import REF_DIR

REF = json.loads((REF_DIR / "metareg_reference.json").read_text())
ITERATIVE = {"ML", "REML", "EB", "PM"}


def effects(name: str, measure: str) -> mc.EffectSizes:
    table = mc.datasets.load("bcg").iloc[:5] if name == "bcg5" else mc.datasets.load(name)
    return mc.compute_effects(table, measure)


def _close(ours, theirs, method):
    rtol = 1e-5 if method in ITERATIVE else 1e-6
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=rtol,
                               atol=1e-9)


@pytest.mark.parametrize("case", REF["metareg"], ids=[c["call"] + c["data"]
                                                      for c in REF["metareg"]])
def test_metareg_matches_metafor(case):
    mods = case["mods"] if isinstance(case["mods"], list) else [case["mods"]]
    ci = "hksj" if case["test"] == "knha" else "z"
    res = mc.metareg(effects(case["data"], case["measure"]), mods,
                     tau2_method=case["method"], ci_method=ci)
    names = case["names"] if isinstance(case["names"], list) else [case["names"]]
    # metafor names factor columns "subgroupalternate" etc.; so do we
    assert list(res.coef.index) == names
    m = case["method"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("statistic", "statistic"),
                         ("pvalue", "pvalue"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        _close(res.coef[ours], case[theirs], m)
    _close([res.tau2, res.qm, res.qm_pvalue, res.qe, res.qe_pvalue, res.i2, res.h2],
           [case["tau2"], case["qm"], case["qm_pvalue"], case["qe"], case["qe_pvalue"],
            case["i2"], case["h2"]], m)
    if case["r2"] is not None:
        _close(res.r2, case["r2"], m)
    assert res.k == case["k"] and res.qm_df == case["qm_df"][0]
    if "predict" in case:
        p = case["predict"]
        pred = res.predict(pd.DataFrame({"ablat": p["ablat"]}))
        for col in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
            _close(pred[col], p[col], m)


def test_bcg_latitude_in_words():
    res = mc.metareg(effects("bcg", "RR"), ["ablat"])
    # metafor: rma(yi, vi, mods = ~ ablat, data = dat.bcg RR): R^2 = 75.63%
    assert res.r2 == pytest.approx(75.63, abs=0.01)
    assert "Test of moderators" in res.summary()


def test_rank_deficient_designs_name_the_moderator():
    eff = effects("bcg", "RR")
    table = mc.datasets.load("bcg").assign(const=3.0, label=lambda d: "same")
    eff = mc.compute_effects(table, "RR")
    with pytest.raises(mc.DataError, match="'const' takes one value"):
        mc.metareg(eff, ["const"])
    with pytest.raises(mc.DataError, match="'label' has one value"):
        mc.metareg(eff, ["label"])
    with pytest.raises(mc.DataError, match="No column named 'nope'"):
        mc.metareg(eff, ["nope"])
    small = mc.compute_effects(mc.datasets.load("bcg").iloc[:2], "RR")
    with pytest.raises(mc.DataError, match="more studies than coefficients"):
        mc.metareg(small, ["ablat"])
    twin = mc.datasets.load("bcg").assign(ablat2=lambda d: 2 * d["ablat"])
    with pytest.raises(mc.DataError, match="collinear"):
        mc.metareg(mc.compute_effects(twin, "RR"), ["ablat", "ablat2"])


def test_missing_moderator_values_are_named_and_left_out():
    table = mc.datasets.load("bcg")
    table.loc[2, "ablat"] = np.nan
    res = mc.metareg(mc.compute_effects(table, "RR"), ["ablat"])
    assert res.k == 12 and any("Rosenthal et al 1960" in n for n in res.notes)
