"""Effect sizes against metafor's escalc (tests/reference/metafor_reference.json)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from tests.conftest import reference, table

CASES = reference()["effects"]


def _args(case: dict) -> dict:
    args = case["args"] or {}
    out = {}
    if "add" in args:
        out["cc"] = args["add"]
    if "to" in args:
        out["cc_to"] = args["to"]
    if "drop00" in args:
        out["drop00"] = args["drop00"]
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['dataset']}-{c['call']}")
def test_effects_match_escalc(case):
    # metafor: escalc(...) as named in case["call"]
    tab = table(case["dataset"])
    eff = mc.compute_effects(tab, case["measure"], **_args(case))
    expected_yi = np.array([np.nan if v is None else v for v in case["yi"]], float)
    expected_vi = np.array([np.nan if v is None else v for v in case["vi"]], float)
    # A zero variance (e.g. RD of a double-zero study without correction) gives no weight;
    # metacore lists such a study as excluded instead of passing it on.
    usable = np.isfinite(expected_yi) & np.isfinite(expected_vi) & (expected_vi > 0)
    got_yi = np.full(len(tab), np.nan)
    got_vi = np.full(len(tab), np.nan)
    got_yi[np.array(eff.rows) - 1] = eff.yi
    got_vi[np.array(eff.rows) - 1] = eff.vi
    # Same set of usable studies, and every unusable one carries a reason.
    assert np.array_equal(np.isfinite(got_yi), usable)
    assert len(eff.excluded) == int((~usable).sum())
    np.testing.assert_allclose(got_yi[usable], expected_yi[usable], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got_vi[usable], expected_vi[usable], rtol=1e-10, atol=1e-14)


def test_seed002_mean_differences_as_printed():
    # seed 002 forest plot: study MDs with 95% CIs, rounded to 2 decimals.
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    lo, hi = eff.ci()
    printed = [(0.35, -1.00, 1.70), (-0.66, -1.88, 0.56), (-3.12, -3.76, -2.48),
               (-3.60, -4.57, -2.63), (-0.70, -1.57, 0.17), (4.40, -0.45, 9.25)]
    np.testing.assert_allclose(np.c_[eff.yi, lo, hi], printed, atol=0.0051)


def test_generic_from_ci_on_ratio_scale():
    # A hazard ratio 0.80 (0.64 to 1.00) gives log HR and SE = log(1.00/0.64) / (2 * 1.96).
    t = pd.DataFrame({"yi": [0.8], "ci_low": [0.64], "ci_high": [1.0]})
    eff = mc.compute_effects(t, "GEN", ratio_scale=True)
    assert eff.ratio
    assert eff.yi[0] == pytest.approx(np.log(0.8))
    assert eff.sei[0] == pytest.approx(np.log(1 / 0.64) / (2 * 1.959963984540054))


def test_generic_from_sei_and_vi():
    t = pd.DataFrame({"yi": [0.1, 0.2, 0.3], "sei": [0.1, None, 0.3], "vi": [None, 0.04, None]})
    eff = mc.compute_effects(t, "GEN")
    np.testing.assert_allclose(eff.vi, [0.01, 0.04, 0.09])


def test_rows_that_give_no_estimate_are_named():
    t = pd.DataFrame({
        "study": ["ok", "neg", "over", "empty", "text", "off"],
        "events_t": [4, -1, 30, 1, "abc", 3], "n_t": [50, 40, 20, 0, 30, 30],
        "events_c": [6, 3, 2, 2, 4, 5], "n_c": [50, 40, 20, 20, 30, 30],
        "include": [True, True, True, True, True, False]})
    eff = mc.compute_effects(t, "OR")
    assert eff.study == ("ok",)
    reasons = dict(eff.excluded)
    assert "events_t is negative" in reasons["neg"] and "row 2" in reasons["neg"]
    assert "larger than n_t" in reasons["over"]
    assert "no participants" in reasons["empty"]
    assert "'abc', which is not a number" in reasons["text"]
    assert "left out by the user" in reasons["off"]


def test_continuous_bad_rows():
    t = pd.DataFrame({"mean_t": [5, 5, 5, -1], "sd_t": [1, -2, 1, 1], "n_t": [10, 10, 10, 10],
                      "mean_c": [4, 4, None, 3], "sd_c": [1, 1, 1, 1], "n_c": [10, 10, 10, 10]})
    eff = mc.compute_effects(t, "ROM")
    assert eff.rows == (1,)
    text = " ".join(r for _, r in eff.excluded)
    assert "sd_t is negative" in text and "mean_c is missing" in text
    assert "positive means" in text


def test_zero_cell_without_correction_is_explained():
    t = pd.DataFrame({"ai": [0, 5], "n1i": [10, 10], "ci": [3, 4], "n2i": [10, 10]})
    eff = mc.compute_effects(t, "OR", cc_to="none")
    assert eff.k == 1
    assert "zero cell" in eff.excluded[0].reason


def test_measure_must_fit_the_data():
    with pytest.raises(mc.MeasureError,
                       match=r"needs means, SDs and totals in both arms\. Missing: Mean \(arm 1\)"):
        mc.compute_effects(mc.datasets.load("bcg"), "SMD")
    with pytest.raises(mc.MeasureError, match="Unknown effect measure"):
        mc.compute_effects(mc.datasets.load("bcg"), "XYZ")
    with pytest.raises(mc.OptionError):
        mc.compute_effects(mc.datasets.load("bcg"), "OR", cc_to="sometimes")


def test_to_frame_keeps_excluded_rows_in_order():
    t = pd.DataFrame({"yi": [0.1, None, 0.3], "sei": [0.1, 0.2, 0.3]})
    frame = mc.compute_effects(t, "GEN").to_frame()
    assert frame["row"].tolist() == [1, 2, 3]
    assert frame.loc[1, "excluded"].startswith("row 2: yi")


def test_smd_with_three_participants_is_excluded_like_metafor():
    # metafor: escalc("SMD", ...) gives NA when n1i + n2i - 2 <= 1 (Hedges' c(m) undefined)
    table = pd.DataFrame({"mean_t": [1.0, 2.0, 3.0], "sd_t": [1.0, 1.0, 1.0],
                          "n_t": [2, 10, 12], "mean_c": [0.0, 0.0, 1.0],
                          "sd_c": [1.0, 1.0, 1.0], "n_c": [1, 10, 12]})
    eff = mc.compute_effects(table, "SMD")
    assert eff.k == 2 and eff.excluded[0].study == "Study 1"
    assert "at least 4 participants" in eff.excluded[0].reason
    assert mc.compute_effects(table, "MD").k == 3          # a mean difference is defined


def test_one_reason_per_problem():
    # text in a count column: "not a number", not also "missing"
    table = pd.DataFrame({"Events": ["x", 3], "Total": [10, 10], "Events.1": [1, 2],
                          "Total.1": [10, 10]})
    eff = mc.compute_effects(table, "RR")
    reason = eff.excluded[0].reason
    assert reason == "row 1: Events (events_t) is 'x', which is not a number"
