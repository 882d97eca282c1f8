"""Inverse-variance pooling against metafor's rma (tests/reference/metafor_reference.json)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from tests.conftest import reference, table

FITS = reference()["fits"]
ITERATIVE = {"ML", "REML", "EB", "PM"}


def _effects(case: dict) -> mc.EffectSizes:
    return mc.compute_effects(table(case["dataset"]), case["measure"])


def _fit(case: dict) -> mc.PoolResult:
    model = "common" if case["method"] == "FE" else "random"
    method = "REML" if case["method"] == "FE" else case["method"]
    ci = "hksj" if case["test"] == "knha" else "z"
    return mc.pool(_effects(case), model=model, tau2_method=method, ci_method=ci)


@pytest.mark.parametrize("case", FITS, ids=lambda c: f"{c['dataset']}-{c['measure']}-"
                         f"{c['method']}-{c['test']}")
def test_pool_matches_rma(case):
    # metafor: case["call"] on escalc() output of the same table
    res = _fit(case)
    rtol = 1e-5 if case["method"] in ITERATIVE else 1e-6
    # tau^2 near 0 is compared absolutely (metafor stops its iterations at 1e-12).
    assert res.tau2 == pytest.approx(case["tau2"], rel=rtol, abs=1e-9)
    for name in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "statistic"):
        assert getattr(res, name) == pytest.approx(case[name], rel=rtol, abs=1e-10), name
    assert res.pvalue == pytest.approx(case["pvalue"], rel=1e-4, abs=1e-14)
    assert res.q == pytest.approx(case["q"], rel=1e-10)
    assert res.q_df == case["q_df"] and res.k == case["k"]
    assert res.q_pvalue == pytest.approx(case["q_pvalue"], rel=1e-6, abs=1e-300)
    assert res.i2 == pytest.approx(case["i2"], rel=rtol, abs=1e-7)
    assert res.h2 == pytest.approx(case["h2"], rel=rtol)
    np.testing.assert_allclose(res.weights, case["weights"], rtol=rtol)
    if "tau2_ci" in case:
        # metafor: confint(res) -- Q-profile interval for tau^2, tau, I^2 and H^2
        for name in ("tau2_ci", "tau_ci", "i2_ci", "h2_ci"):
            np.testing.assert_allclose(getattr(res, name), case[name], rtol=1e-5, atol=1e-8,
                                       err_msg=name)


def test_seed000_worked_example():
    # seed 000, fixed-effects table: 0.246, SE 0.0465, CI 0.155 to 0.337; Q 5.43, df 7, I^2 0.
    eff = mc.compute_effects(mc.datasets.load("seed000"), "GEN")
    fe = mc.pool(eff, model="common")
    assert round(fe.estimate, 3) == 0.246 and round(fe.se, 4) == 0.0465
    assert (round(fe.ci_low, 3), round(fe.ci_high, 3)) == (0.155, 0.337)
    assert round(fe.q, 2) == 5.43 and fe.q_df == 7 and fe.i2 == 0
    # seed 000, DerSimonian-Laird: tau^2 = 0, so random effects equal the common effect.
    dl = mc.pool(eff, model="random", tau2_method="DL")
    assert dl.tau2 == 0 and dl.estimate == pytest.approx(fe.estimate, rel=1e-12)


def test_seed002_worked_example():
    # seed 002 forest plot: FE -2.04 [-2.45, -1.64]; DerSimonian-Laird -1.21 [-2.69, 0.28].
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    fe = mc.pool(eff, model="common")
    dl = mc.pool(eff, model="random", tau2_method="DL")
    assert [round(x, 2) for x in (fe.estimate, fe.ci_low, fe.ci_high)] == [-2.04, -2.45, -1.64]
    assert [round(x, 2) for x in (dl.estimate, dl.ci_low, dl.ci_high)] == [-1.21, -2.69, 0.28]


def test_seed002_spread_and_signal_decomposition():
    # seed 002: zeta^2 = (Q - (k-1)) / sum(1/sigma^2) and Z^2 = Z_F^2 + Q.
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    res = mc.pool(eff, model="common")
    w = 1 / eff.vi
    assert res.zeta2 == pytest.approx((res.q - 5) / w.sum(), rel=1e-12)
    assert res.z2_total == pytest.approx(res.z2_fixed + res.q, rel=1e-12)
    assert res.z2_total == pytest.approx(float(np.sum(eff.yi**2 / eff.vi)), rel=1e-12)


def test_i2_definitions_agree_under_dl():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.pool(eff, model="random", tau2_method="DL")
    assert res.i2 == pytest.approx(res.i2_q, rel=1e-12)
    assert res.i2_q == pytest.approx(100 * (res.q - res.q_df) / res.q, rel=1e-12)


def test_k1_is_defined():
    eff = mc.compute_effects(mc.datasets.load("bcg").iloc[:1], "RR")
    res = mc.pool(eff, model="random", tau2_method="REML", ci_method="hksj")
    assert res.estimate == pytest.approx(eff.yi[0]) and res.tau2 == 0
    assert res.ci_method == "z"
    assert any("one study" in n for n in res.notes)
    assert any("Hartung-Knapp" in n for n in res.notes)


def test_identical_estimates():
    eff = mc.compute_effects(pd.DataFrame({"yi": [0.2] * 4, "vi": [0.01, 0.02, 0.03, 0.04]}), "GEN")
    for method in mc.ESTIMATORS:
        res = mc.pool(eff, tau2_method=method, ci_method="hksj")
        assert res.tau2 == 0 and res.estimate == pytest.approx(0.2)
        assert np.isfinite(res.pvalue)


def test_back_transform_and_summary():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.pool(eff)
    nat = res.natural()
    assert nat["estimate"] == pytest.approx(np.exp(res.estimate))
    assert "Risk ratio" in res.summary() and "τ²" in res.summary() and "tau^2" not in res.summary()
    frame = res.to_frame().set_index("statistic")
    assert frame.loc["ci_low", "natural"] == pytest.approx(np.exp(res.ci_low))
    with pytest.raises(dataclasses_error()):
        res.estimate = 1.0  # results are immutable


def dataclasses_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_bad_options_are_refused():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    for kwargs in ({"model": "mixed"}, {"tau2_method": "XX"}, {"ci_method": "t"},
                   {"level": 95}):
        with pytest.raises(mc.OptionError):
            mc.pool(eff, **kwargs)


def test_nothing_to_pool():
    eff = mc.compute_effects(pd.DataFrame({"yi": [None], "sei": [0.1]}), "GEN")
    with pytest.raises(mc.DataError, match="No study has a usable estimate"):
        mc.pool(eff)


def test_metafor_warnings_become_notes():
    # metafor warns: "Ratio of largest to smallest sampling variance extremely large"
    eff = mc.EffectSizes(yi=np.array([0.1, 0.2, 0.3]), vi=np.array([1e-8, 0.01, 0.5]),
                         study=("a", "b", "c"), measure="GEN")
    assert any("times the smallest" in n for n in mc.pool(eff).notes)
    # metafor warns: "Knapp & Hartung method is not meant to be used in the context of FE"
    common = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"), model="common",
                     ci_method="hksj")
    assert any("not meant for the common-effect model" in n for n in common.notes)
    plain = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    assert not any("metafor warns" in n for n in plain.notes)


def test_sentences_have_no_computer_notation():
    from metacore.report.describe import describe

    eff = mc.EffectSizes(yi=np.array([0.0, 60.0, -50.0, 20.0]), vi=np.array([1.0, 1, 1, 1]),
                         study=tuple("abcd"), measure="MD")
    text = describe(mc.pool(eff, tau2_method="DL"))
    assert "e+" not in text and "τ² 2\u2009091" in text          # τ² ≈ 2,091
    assert "tau^2" not in mc.pool(eff).summary()
