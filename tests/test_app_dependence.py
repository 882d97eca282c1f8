"""The Dependence page under AppTest: naive, multilevel and robust numbers are the engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from tests.apptest import run_page


@pytest.fixture(scope="module")
def nested() -> AppTest:
    at = run_page("dependence")
    at.button(key="dep_example").click().run()
    assert not at.exception and not at.error
    return at


def _table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "width_ratio" in d.value.columns)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _eff() -> mc.EffectSizes:
    return mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")


def test_the_default_table_asks_for_a_cluster_column():
    at = run_page("dependence")
    assert not at.exception and not at.error
    # BCG's columns (alloc, year, ablat) are not named as clusters: nothing is assumed
    assert at.selectbox(key="dep_cluster").value is None
    assert any("Choose the column" in i.value for i in at.info)


def test_nested_example_numbers_match_the_engine(nested):
    at = nested
    assert at.session_state["dataset"] == "konstantopoulos2011"
    assert at.selectbox(key="dep_cluster").value == "district"
    assert at.multiselect(key="dep_nesting").value == ["school"]
    want = mc.dependence_table(_eff(), ["district", "school"])
    shown = _table(at)
    for c in ("estimate", "se", "ci_low", "ci_high", "width", "width_ratio"):
        np.testing.assert_allclose(shown[c].to_numpy(float), want[c].to_numpy(float),
                                   atol=5e-5)
    # metafor rma.mv(yi, vi, random = ~ 1 | district/school): 0.1847; interval 1.93x naive
    assert "1\\.93 times as wide with the multilevel model" in at.info[0].value
    ml = mc.multilevel(_eff(), ["district", "school"])
    rb = mc.robust(ml, cluster="district")
    m = _metrics(at)
    assert m["Pooled estimate"] == "0.185"
    assert m["Robust df (Satterthwaite)"] == f"{rb.df:.1f}" == "9.9"
    assert m["ICC"] == f"{ml.icc:.2f}"
    comps = next(d.value for d in at.dataframe if "sigma2" in d.value.columns)
    np.testing.assert_allclose(comps["sigma2"], [0.0651, 0.0327], atol=5e-5)
    np.testing.assert_allclose(comps["ci_low"], [c.low for c in ml.sigma2_ci], atol=5e-5)
    # comparison, variance split, rho sensitivity
    assert len(at.get("vega_lite_chart")) == 3


def test_assumed_correlation_and_each_row_as_inner_level(nested):
    at = nested
    at.toggle(key="dep_use_rho").set_value(True).run()
    at.slider(key="dep_rho").set_value(0.5).run()
    assert not at.exception and not at.error
    want = mc.dependence_table(_eff(), ["district", "school"], rho=0.5)
    np.testing.assert_allclose(_table(at)["estimate"], want["estimate"], atol=5e-5)
    at.toggle(key="dep_use_rho").set_value(False).run()
    at.multiselect(key="dep_nesting").set_value([]).run()
    want = mc.dependence_table(_eff(), ["district", "row"])
    np.testing.assert_allclose(_table(at)["se"], want["se"], atol=5e-5)


def test_sidebar_estimator_and_interval_are_mapped(nested):
    at = nested
    at.selectbox(key="tau2_method").set_value("ML").run()
    want = mc.multilevel(_eff(), ["district", "school"], tau2_method="ML")
    assert _metrics(at)["Pooled estimate"] == f"{want.estimate:.3f}"
    at.selectbox(key="tau2_method").set_value("DL").run()
    at.radio(key="ci_method").set_value("hksj").run()
    assert not at.exception and not at.error
    text = " ".join(c.value for c in at.caption)
    assert "DL has no multilevel form, so REML is used" in text
    assert "Hartung-Knapp (and its modified forms) has no multilevel form" in text
    want = mc.multilevel(_eff(), ["district", "school"], ci_method="t")
    lo, hi = (f"{x:.3f}" for x in (want.ci_low, want.ci_high))
    assert _metrics(at)["95% CI"] == f"{lo} to {hi}"


def test_uploaded_table_with_several_rows_per_study():
    rng = np.random.default_rng(28)
    studies = np.repeat([f"Trial {i}" for i in range(8)], 3)
    yi = np.repeat(rng.normal(0.3, 0.2, 8), 3) + rng.normal(0, 0.1, 24)
    table = pd.DataFrame({"study_id": studies, "outcome": np.tile(["a", "b", "c"], 8),
                          "yi": yi.round(3), "vi": rng.uniform(0.01, 0.05, 24).round(4)})
    at = run_page("dependence", table)
    assert not at.exception and not at.error
    # the study column (here 'study_id') repeats, so it is taken as the cluster unasked
    assert at.selectbox(key="dep_cluster").value == "study"
    eff = mc.compute_effects(table, "GEN")
    want = mc.dependence_table(eff, ["study", "row"])
    np.testing.assert_allclose(_table(at)["estimate"], want["estimate"], atol=5e-5)
    np.testing.assert_allclose(_table(at)["width_ratio"], want["width_ratio"], atol=5e-5)


def test_ratio_measure_is_shown_on_the_natural_scale():
    at = run_page("dependence")
    at.selectbox(key="dep_cluster").set_value("subgroup").run()   # BCG: allocation method
    assert not at.exception and not at.error
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    want = mc.dependence_table(eff, ["subgroup", "row"])
    shown = _table(at)
    np.testing.assert_allclose(shown["estimate"], np.exp(want["estimate"]), atol=5e-5)
    np.testing.assert_allclose(shown["se"], want["se"], atol=5e-5)
    assert len(at.get("vega_lite_chart")) == 3


def test_dependence_chart_specs():
    from metacore.report.charts import dependence as D

    eff = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    ml = mc.multilevel(eff, ["district", "school"])
    split = D.variance_split_chart(ml.variance_split()).to_dict()
    parts = pd.DataFrame(next(iter(split["datasets"].values())))
    assert parts["percent"].sum() == pytest.approx(100)
    assert parts["end"].iloc[-1] == pytest.approx(100)
    tab = mc.rho_sensitivity(eff, ["district", "school"], rhos=[0.0, 0.3, 0.6])
    rho = D.rho_chart(tab, ratio=False, x_title="SMD").to_dict()
    assert len(next(iter(rho["datasets"].values()))) == 3
    table = mc.dependence_table(eff, ["district", "school"])
    chart = D.dependence_chart(table, ratio=True, x_title="Odds ratio").to_dict()
    rows = pd.DataFrame(next(v for v in chart["datasets"].values() if len(v) == 3))
    np.testing.assert_allclose(rows["estimate"], np.exp(table["estimate"]))
