"""Leave-one-out against metafor's leave1out; the estimator comparison table."""

from __future__ import annotations

import numpy as np
import pytest

import metacore as mc
from metacore.diagnostics.sensitivity import compare_estimators, leave_one_out
from tests.conftest import reference, table


@pytest.mark.parametrize("case", reference()["leave1out"], ids=lambda c: c["call"])
def test_leave_one_out_matches_metafor(case):
    # metafor: case["call"]
    eff = mc.compute_effects(table(case["dataset"]), case["measure"])
    got = leave_one_out(eff, tau2_method=case["method"],
                        ci_method="hksj" if case["test"] == "knha" else "z")
    for name in ("estimate", "se", "ci_low", "ci_high", "q", "i2"):
        np.testing.assert_allclose(got[name], case[name], rtol=1e-5, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(got["tau2"], case["tau2"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(got["pvalue"], case["pvalue"], rtol=1e-4, atol=1e-12)


def test_compare_estimators_lists_every_method_and_matches_pool():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    tab = compare_estimators(eff, ci_method="hksj").set_index("method")
    assert list(tab.index) == ["CE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
    res = mc.pool(eff, tau2_method="SJ", ci_method="hksj")
    assert tab.loc["SJ", "estimate"] == res.estimate and tab.loc["SJ", "tau2"] == res.tau2
    assert tab.loc["CE", "tau2"] == 0


def test_leave_one_out_needs_two_studies():
    eff = mc.compute_effects(mc.datasets.load("bcg").iloc[:1], "RR")
    with pytest.raises(mc.DataError):
        leave_one_out(eff)
