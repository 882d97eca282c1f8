"""Small-study effects, influence, cumulative and GOSH against metafor
(tests/reference/make_smallstudy.R: regtest, ranktest, trimfill, fsn, influence, cumul, gosh)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metacore as mc
from tests.conftest import REF_DIR

REF = json.loads((REF_DIR / "smallstudy_reference.json").read_text())


def _eff(case):
    return mc.compute_effects(mc.datasets.load(case["data"]), case["measure"])


def _kw(case):
    model = "common" if case["method"] == "FE" else "random"
    return {"model": model, "tau2_method": "REML" if model == "common" else case["method"],
            "ci_method": "hksj" if case["test"] == "knha" else "z"}


def _close(a, b, case):
    rtol = {"REML": 1e-5, "ML": 1e-5, "REML-loose": 1e-4}.get(case.get("method"), 1e-6)
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol,
                               atol=1e-9)


def _id(c):
    return "-".join(str(c.get(x, "")) for x in ("data", "method", "test", "model", "estimator",
                                                 "type"))


@pytest.mark.parametrize("case", REF["egger"], ids=_id)
def test_egger_matches_regtest(case):
    if case["model"] == "lm":
        res = mc.egger(_eff(case), model="lm")
    else:
        kw = _kw(case)
        res = mc.egger(_eff(case), model=kw["model"], tau2_method=kw["tau2_method"],
                       ci_method=kw["ci_method"])
    _close([res.statistic, res.pvalue, res.limit, res.limit_ci_low, res.limit_ci_high],
           [case["statistic"], case["pvalue"], case["limit"], case["limit_ci_low"],
            case["limit_ci_high"]], case)


@pytest.mark.parametrize("case", REF["begg"], ids=_id)
def test_begg_matches_ranktest(case):
    res = mc.begg(_eff(case))
    _close([res.tau, res.pvalue], [case["tau"], case["pvalue"]], case)


@pytest.mark.parametrize("case", REF["trimfill"], ids=_id)
def test_trimfill_matches_metafor(case):
    res = mc.trimfill(_eff(case), estimator=case["estimator"], **_kw(case))
    assert res.k0 == case["k0"] and res.side == case["side"]
    # metafor refits the filled data with its default control (REML threshold 1e-5) and
    # without the model's test (always z); we keep HKSJ and solve to machine precision.
    tol = dict(case, method="REML-loose") if case["method"] == "REML" else case
    fields = [res.result.estimate, res.result.tau2, res.se_k0]
    refs = [case["estimate"], case["tau2"], case["se_k0"]]
    if case["test"] == "z":
        fields.append(res.result.se)
        refs.append(case["se"])
    _close(fields, refs, tol)
    filled = case["filled"] if isinstance(case["filled"], list) else [case["filled"]]
    _close(np.sort(res.filled_yi), np.sort(np.asarray(filled, float)), case)
    if case["p_k0"] is not None:
        _close(res.p_k0, case["p_k0"], case)


@pytest.mark.parametrize("case", REF["fsn"], ids=_id)
def test_failsafe_matches_fsn(case):
    res = mc.failsafe(_eff(case), method=case["type"].lower())
    assert res.n == case["n"]
    if case["pvalue"] is not None:
        _close(res.pvalue, case["pvalue"], case)


@pytest.mark.parametrize("case", REF["influence"], ids=_id)
def test_influence_matches_metafor(case):
    inf = mc.influence(_eff(case), **_kw(case))
    for ours, theirs in (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook_d"),
                         ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "qe_del"),
                         ("hat", "hat"), ("weight", "weight")):
        _close(inf[ours], case[theirs], case)
    assert inf["inf"].tolist() == case["inf"]


@pytest.mark.parametrize("case", REF["cumul"], ids=_id)
def test_cumulative_matches_cumul(case):
    cu = mc.cumulative(_eff(case), **_kw(case))
    for col in ("estimate", "se", "ci_low", "ci_high", "tau2", "q"):
        ref = np.asarray([np.nan if x is None else x for x in case[col]], float)
        ours = cu[col].to_numpy(float)
        ok = np.isfinite(ref)
        _close(ours[ok], ref[ok], case)


@pytest.mark.parametrize("case", REF["gosh"], ids=lambda c: c["method"])
def test_gosh_matches_metafor_on_every_subset(case):
    eff = mc.compute_effects(mc.datasets.load("bcg").iloc[:8], "RR")
    model = "common" if case["method"] == "FE" else "random"
    g = mc.gosh(eff, model=model, tau2_method="DL")
    assert len(g) == 255 == len(case["code"])
    codes = (g[[f"s{j}" for j in range(8)]].to_numpy() * (1 << np.arange(8))).sum(1)
    ours = g.assign(code=codes).set_index("code").loc[case["code"]]
    _close(ours["estimate"], case["estimate"], {"method": "DL"})
    _close(ours["i2"], case["i2"], {"method": "DL"})
    _close(ours["k"], case["k"], {"method": "DL"})


def test_few_studies_are_flagged_and_tiny_tables_refused():
    small = mc.compute_effects(mc.datasets.load("bcg").iloc[:5], "RR")
    assert any("fewer than 10 studies" in n for n in mc.egger(small).notes)
    assert any("fewer than 10 studies" in n for n in mc.begg(small).notes)
    two = mc.compute_effects(mc.datasets.load("bcg").iloc[:2], "RR")
    for fn in (mc.egger, mc.begg, mc.trimfill, mc.influence):
        with pytest.raises(mc.DataError, match="at least 3 studies"):
            fn(two)


# --- issue 23, item 8: Begg's exact Kendall p-value at any k without ties --------------------

def _begg_ref() -> dict:
    return json.loads((REF_DIR / "begg_reference.json").read_text())["cases"]


@pytest.mark.parametrize("name", ["k60", "k150", "k200", "k200_null", "k60_ties"])
def test_begg_exact_at_large_k(name):
    # metafor: ranktest(yi, vi) (exact = TRUE); beyond k = 170 R's exact distribution
    # overflows to NaN, and the reference is the same exact p-value on the probability
    # scale (tests/reference/make_begg.R)
    case = _begg_ref()[name]
    eff = mc.EffectSizes(yi=np.array(case["yi"]), vi=np.array(case["vi"]), measure="GEN",
                         study=tuple(str(i) for i in range(len(case["yi"]))))
    bg = mc.begg(eff)
    assert bg.tau == pytest.approx(case["tau"], rel=1e-12)
    if name == "k60_ties":
        assert not bg.exact and bg.pvalue == pytest.approx(case["pvalue"], rel=1e-9)
    else:
        assert bg.exact
        assert bg.pvalue == pytest.approx(case["pvalue_exact"], rel=1e-9)
        if isinstance(case["pvalue"], float):    # metafor itself: "NaN" at k = 200
            assert bg.pvalue == pytest.approx(case["pvalue"], rel=1e-9)
