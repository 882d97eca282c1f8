"""The clustered-heterogeneity (MANTRA) page under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "mantra.py")


def _run() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("name", mc.datasets.names())
def test_runs_on_every_bundled_dataset(name):
    at = _run()
    at.selectbox(key="dataset").set_value(name).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 4


def test_transethnic_example_and_prior_controls():
    at = _run()
    at.selectbox(key="dataset").set_value("transethnic").run()
    assert at.multiselect(key="mt_coords").value == ["pc1", "pc2"]
    table = mc.datasets.load("transethnic")
    eff = mc.compute_effects(table, "GEN")
    res = mc.cluster_meta(eff, mc.distances_from(table[["pc1", "pc2"]].to_numpy()))
    text = at.info[0].value
    assert f"10^{res.log10_bf:.1f}" in text and "times more likely" in text
    at.number_input(key="mt_rate").set_value(10.0).run()
    assert at.info[0].value != text
    at.radio(key="mt_mu_kind").set_value("flat").run()
    assert "times more likely" not in at.info[0].value
    assert any("undefined" in c.value for c in at.caption)
    at.radio(key="mt_mode").set_value("group").run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 4
