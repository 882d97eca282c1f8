"""The Subgroups & meta-regression page under AppTest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from tests.apptest import run_page


def _run(table=None) -> AppTest:
    return run_page("subgroups", table)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_bcg_subgroups_and_latitude():
    at = _run()
    assert not at.error
    # metafor: rma(yi, vi, mods = ~ ablat) on dat.bcg RR: QM = 16.36, R^2 = 75.63%
    metrics = _metrics(at)
    assert metrics["Test of moderators"] == "QM(1) = 16.36"
    assert metrics["R² (variance explained)"] == "75.6%"
    sentence = at.info[0].value
    assert sentence.startswith("ablat explains 76% of the between-study variance")
    assert "an RR 0.75 times as large" in sentence
    caption = " ".join(c.value for c in at.caption)
    assert "Test for subgroup differences" in caption
    assert len(at.get("vega_lite_chart")) == 2


@pytest.mark.parametrize("name", mc.datasets.names())
def test_runs_on_every_bundled_dataset(name):
    at = _run()
    at.selectbox(key="dataset").set_value(name).run()
    assert not at.exception and not at.error


def test_controls_change_what_is_shown():
    at = _run()
    before = _metrics(at)
    at.session_state["tau2_method"] = "DL"
    at.run()
    dl = _metrics(at)
    assert dl != before
    # metafor: rma(yi, vi, mods = ~ ablat, method = "DL"): tau^2 = 0.0633
    assert dl["Residual τ²"] == "0.0633"
    at.session_state["ci_method"] = "hksj"
    at.run()
    assert _metrics(at)["Test of moderators"].startswith("F(1, 11) = ")
    sg_before = " ".join(c.value for c in at.caption)
    at.radio(key="sg_tau2").set_value("common").run()
    assert " ".join(c.value for c in at.caption) != sg_before
    at.multiselect(key="mr_mods").set_value(["ablat", "subgroup"]).run()
    assert not at.exception and not at.error
    assert _metrics(at)["Test of moderators"].startswith("F(3, 9) = ")
    assert len(at.get("vega_lite_chart")) == 3          # subgroups, bubble, levels


def test_one_level_and_forty_levels_give_messages():
    table = mc.datasets.load("bcg").assign(
        one="same", many=[f"L{i}" for i in range(13)])
    table = pd.concat([table] * 4, ignore_index=True)
    table["many"] = [f"L{i}" for i in range(len(table))]
    at = _run(table)
    at.selectbox(key="sg_by").set_value("one").run()
    assert not at.exception
    assert any("1 subgroup" in w.value for w in at.warning)
    at.selectbox(key="sg_by").set_value("many").run()
    assert any("52 different values" in w.value for w in at.warning)
    at.multiselect(key="mr_mods").set_value(["one"]).run()
    assert any("has one value only" in w.value for w in at.warning)
    at.multiselect(key="mr_mods").set_value(["many"]).run()
    assert any("more than 20 different values" in w.value for w in at.warning)
    assert not at.exception


def test_left_out_studies_stay_out():
    at = _run()
    at.session_state["leave_out"] = [4]
    at.run()
    eff = mc.compute_effects(mc.datasets.load("bcg").drop(index=3), "RR")
    res = mc.metareg(eff, ["ablat"])
    assert _metrics(at)["R² (variance explained)"] == f"{res.r2:.1f}%"
    assert np.isfinite(res.r2)


def test_prediction_at_a_chosen_moderator_value():
    at = _run()
    at.number_input(key="mr_predict_at").set_value(50.0).run()
    text = next(c.value for c in at.caption if c.value.startswith("Predicted RR at"))
    # metafor: predict(rma(yi, vi, mods = ~ ablat), newmods = 50, transf = exp)
    res = mc.metareg(mc.compute_effects(mc.datasets.load("bcg"), "RR"), ["ablat"])
    p = res.predict({"ablat": 50.0}).iloc[0]
    assert f"{np.exp(p['pred']):.3f}" in text and f"{np.exp(p['pi_high']):.3f}" in text
