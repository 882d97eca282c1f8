"""HKSJ narrower than Wald (issue 23, item 2): the modified HKSJ and meta's variants.

References: tests/reference/hksj_reference.json, written by tests/reference/make_hksj.R
(metafor's rma(test="adhoc") and meta's adhoc.hakn.ci formulas on rma() fits).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.models.effects import EffectSizes
from tests.conftest import REF_DIR


@cache
def _ref() -> dict:
    return json.loads((REF_DIR / "hksj_reference.json").read_text())


def _effects(name: str) -> EffectSizes:
    d = _ref()["data"][name]
    return mc.compute_effects(pd.DataFrame({"yi": d["yi"], "vi": d["vi"]}), "GEN")


@pytest.mark.parametrize("case", _ref()["fits"],
                         ids=lambda c: f"{c['data']}-{c['method']}-{c['ci']}")
def test_variants_match_metafor_and_meta(case):
    # metafor: case["call"]; meta's variants from their formulas (make_hksj.R header)
    res = mc.pool(_effects(case["data"]), model="random", tau2_method=case["method"],
                  ci_method=case["ci"])
    assert res.ci_method == case["ci"]
    for name in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "statistic"):
        assert getattr(res, name) == pytest.approx(case[name], rel=1e-6, abs=1e-9), name
    assert res.pvalue == pytest.approx(case["pvalue"], rel=1e-5)


def test_axfors_hksj_narrower_than_wald_is_noted():
    # metafor on escalc("OR") of all 33 trials: Q = 7.23 on 32 df (the 6.76 is a
    # different handling of the 15 double-zero trials); plain HKSJ is narrower than Wald.
    eff = _effects("axfors")
    hk = mc.pool(eff, tau2_method="REML", ci_method="hksj")
    wald = mc.pool(eff, tau2_method="REML", ci_method="z")
    adhoc = mc.pool(eff, tau2_method="REML", ci_method="hksj-adhoc")
    assert hk.q == pytest.approx(7.2269, abs=1e-3) and hk.q_df == 32
    assert hk.ci_high - hk.ci_low < wald.ci_high - wald.ci_low
    assert adhoc.ci_high - adhoc.ci_low > wald.ci_high - wald.ci_low
    note = " ".join(hk.notes)
    assert "narrower than the Wald interval" in note
    assert "modified HKSJ" in note and "IQWiG6" in note and "Cochrane" in note
    # No such note when HKSJ is not narrower, nor for the modified version.
    assert not any("narrower than the Wald" in n for n in adhoc.notes)
    assert not any("narrower than the Wald" in n
                   for n in mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"),
                                    ci_method="hksj").notes)


def test_two_studies_note_and_label():
    res = mc.pool(_effects("bcg_k2"), ci_method="hksj")
    assert any("Only two studies: the HKSJ interval uses t with 1 degree of freedom" in n
               and "12.7" in n for n in res.notes)
    assert "metafor test='adhoc'" in mc.pool(_effects("bcg_k2"), ci_method="hksj-adhoc").settings


def test_hksj_ci_falls_back_to_z_with_its_note():
    res = mc.pool(_effects("axfors"), ci_method="hksj-ci")
    assert res.df is None
    assert any("Wald z interval is given" in n for n in res.notes)


def test_unknown_ci_method_is_refused():
    with pytest.raises(mc.OptionError, match="hksj-adhoc"):
        mc.pool(_effects("bcg"), ci_method="hksj-foo")


def test_common_model_takes_the_variants():
    eff = _effects("bcg")
    res = mc.pool(eff, model="common", ci_method="hksj-adhoc")
    hk = mc.pool(eff, model="common", ci_method="hksj")
    # bcg is heterogeneous (scale factor > 1): the floor changes nothing.
    assert res.ci_low == pytest.approx(hk.ci_low, rel=1e-12)
    assert np.isfinite(res.pi_low)


@pytest.mark.parametrize("case", _ref()["metareg"], ids=lambda c: f"rows1-{len(c['rows'])}")
def test_metareg_adhoc_matches_metafor(case):
    # metafor: case["call"] on the bcg rows given
    d = _ref()["data"]["bcg"]
    rows = np.array(case["rows"]) - 1
    frame = pd.DataFrame({"yi": np.array(d["yi"])[rows], "vi": np.array(d["vi"])[rows],
                          "ablat": np.array(_ref()["bcg_ablat"])[rows]})
    res = mc.metareg(mc.compute_effects(frame, "GEN"), ["ablat"], ci_method="hksj-adhoc")
    for name in ("estimate", "se", "ci_low", "ci_high", "pvalue"):
        np.testing.assert_allclose(res.coef[name], case[name], rtol=1e-6, err_msg=name)
    assert res.qm == pytest.approx(case["qm"], rel=1e-6)


@pytest.mark.parametrize("ci", ["hksj-se", "hksj-ci", "hksj-iqwig6"])
def test_meta_variants_refused_where_not_defined(ci):
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    with pytest.raises(mc.OptionError, match="pooled mean only"):
        mc.metareg(eff, ["ablat"], ci_method=ci)
    # Subgroups with separate tau^2 pool each group: the variant applies there.
    sg = mc.subgroups(eff, by="subgroup", ci_method=ci)
    one = sg.groups["random"]
    alone = mc.pool(eff.subset(np.array([g == "random" for g in eff.data["subgroup"]])),
                    ci_method=ci)
    assert one.fit.ci_method == ci and one.ci_low == pytest.approx(alone.ci_low, rel=1e-12)
    with pytest.raises(mc.OptionError, match="pooled mean only"):
        mc.subgroups(eff, by="subgroup", ci_method=ci, tau2_common=True)


def test_influence_adhoc_matches_metafor():
    # metafor: _ref()["influence"]["call"]
    d = _ref()["data"]["bcg"]
    eff = mc.compute_effects(pd.DataFrame({"yi": d["yi"][:6], "vi": d["vi"][:6]}), "GEN")
    inf = mc.influence(eff, ci_method="hksj-adhoc")
    np.testing.assert_allclose(inf["rstudent"], _ref()["influence"]["rstudent"], rtol=1e-6)


@pytest.mark.parametrize("ci", ["hksj-adhoc", "hksj-se", "hksj-ci", "hksj-iqwig6"])
@pytest.mark.parametrize("method", ["DL", "REML"])
def test_pool_batch_variants_equal_pool(ci, method):
    from metacore.batch.pool import pool_batch
    rng = np.random.default_rng(11)
    m, k = 60, 8
    y = rng.normal(0.2, 0.15, (m, k)) + rng.normal(0, 0.2, (m, 1))
    v = rng.uniform(0.01, 0.3, (m, k))
    y[rng.random((m, k)) < 0.3] = np.nan
    y[0, 1:] = np.nan                                    # one study: Wald z
    ax = _ref()["data"]["axfors"]                        # HKSJ narrower than Wald
    y[1], v[1] = ax["yi"][:k], ax["vi"][:k]
    out = pool_batch(y, v, tau2_method=method, ci_method=ci)
    cols = ["estimate", "se", "ci_low", "ci_high", "pvalue", "pi_low", "pi_high", "tau2"]
    for i in range(m):
        keep = np.isfinite(y[i])
        r = mc.pool(mc.EffectSizes(yi=y[i][keep], vi=v[i][keep], measure="GEN",
                                   study=tuple(map(str, range(keep.sum())))),
                    tau2_method=method, ci_method=ci)
        np.testing.assert_allclose(out.loc[i, cols].to_numpy(float),
                                   [getattr(r, c) for c in cols], rtol=1e-6, atol=1e-12,
                                   err_msg=f"row {i}")


def test_r_script_reproduces_each_variant():
    t = mc.datasets.load("bcg").iloc[:6]
    kw = {"measure": "RR", "model": "random", "tau2_method": "REML", "level": 0.95}
    assert 'test = "adhoc"' in mc.export.metafor_script(t, ci_method="hksj-adhoc", **kw)
    for ci, name in (("hksj-se", "se"), ("hksj-ci", "ci"), ("hksj-iqwig6", "IQWiG6")):
        script = mc.export.metafor_script(t, ci_method=ci, **kw)
        assert 'test = "knha"' in script and f'adhoc.hakn.ci = "{name}"' in script
        assert "wald <- update(res, test = \"z\")" in script and "pi <- exp(" in script
    assert 'method = "DL"' in mc.export.metafor_script(t, ci_method="hksj-iqwig6", **kw)


def test_methods_text_and_forest_header_name_the_variant():
    from metacore.report.charts.revman import revman_header
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.pool(eff, ci_method="hksj-adhoc")
    assert "floored at 1" in mc.export.methods_text(eff, res)[0]
    assert "mHKSJ" in revman_header(res)[1]
