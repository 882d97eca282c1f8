"""Mantel-Haenszel and Peto pooling against metafor's rma.mh and rma.peto."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from tests.conftest import reference, table

CASES = reference()["mh"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_matches_metafor(case):
    # metafor: case["call"]
    tab = table(case["dataset"])
    if case["measure"] == "PETO":
        res = mc.pool_peto(tab)
    else:
        res = mc.pool_mh(tab, case["measure"])
    for name in ("estimate", "se", "ci_low", "ci_high"):
        assert getattr(res, name) == pytest.approx(case[name], rel=1e-9), name
    assert res.pvalue == pytest.approx(case["pvalue"], rel=1e-6, abs=1e-300)
    assert res.q == pytest.approx(case["q"], rel=1e-9)
    assert res.q_df == case["q_df"]
    assert res.q_pvalue == pytest.approx(case["q_pvalue"], rel=1e-6, abs=1e-300)
    assert res.i2 == pytest.approx(case["i2"], rel=1e-9, abs=1e-12)
    assert res.h2 == pytest.approx(case["h2"], rel=1e-9)
    assert res.k == case["k"]
    np.testing.assert_allclose(res.weights, case["weights"], rtol=1e-9)


def test_mh_rejects_other_measures():
    with pytest.raises(mc.MeasureError):
        mc.pool_mh(mc.datasets.load("bcg"), "SMD")


def test_mh_without_events_says_so():
    t = pd.DataFrame({"events_t": [0, 0], "n_t": [10, 12], "events_c": [0, 0], "n_c": [10, 12]})
    with pytest.raises(mc.DataError, match="not defined"):
        mc.pool_mh(t, "OR")
    with pytest.raises(mc.DataError, match="not defined"):
        mc.pool_peto(t)
