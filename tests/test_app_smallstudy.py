"""The Small-study effects & influence page under AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from tests.apptest import run_page


def _run(table=None) -> AppTest:
    return run_page("smallstudy", table)


def _table(at: AppTest):
    return next(d.value for d in at.dataframe if "method" in d.value.columns)


@pytest.mark.parametrize("name", mc.datasets.names())
def test_runs_on_every_bundled_dataset(name):
    at = _run()
    at.selectbox(key="dataset").set_value(name).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 4          # funnel, Baujat, cumulative, GOSH


def test_bcg_numbers_match_the_engine():
    at = _run()
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    eg = mc.egger(eff)
    rows = _table(at).set_index("method")["result"]
    # metafor: regtest(rma(yi, vi, data = dat.bcg RR)) -> z = -0.8033
    assert rows["Egger's regression test"].startswith(f"z = {eg.statistic:.2f}")
    assert rows["Trim-and-fill (L0)"] == "1 study filled on the right"
    assert rows["Fail-safe N (Rosenthal)"] == f"{mc.failsafe(eff).n:,.0f}"


@pytest.mark.parametrize("k", [2, 3])
def test_two_and_three_studies(k):
    at = _run(mc.datasets.load("bcg").iloc[:k])
    assert not at.exception and not at.error
    text = " ".join(w.value for w in at.warning)
    if k == 2:
        assert "need at least 3 studies" in text
    else:
        assert "fewer than 10 studies" in text and len(at.get("vega_lite_chart")) == 4


def test_what_if_leave_out_follows_and_the_button_leaves_out():
    at = _run()
    before = _table(at)
    at.session_state["leave_out"] = [4]
    at.run()
    assert not _table(at).equals(before)
    at.selectbox(key="ss_leave").set_value(11).run()                # Comstock et al 1974
    at.button(key="ss_leave_button").click().run()
    assert sorted(at.session_state["leave_out"]) == [4, 11]
    assert not at.exception
