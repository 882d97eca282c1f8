"""One-group measures and two-group rates against metafor
(tests/reference/outcomes_reference.json, written by tests/reference/make_outcomes.R)."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metacore as mc
from metacore.models.effects import back_transform, proportion_ci
from tests.conftest import REF_DIR


@cache
def outcomes() -> dict:
    return json.loads((REF_DIR / "outcomes_reference.json").read_text())


def ref_table(name: str) -> pd.DataFrame:
    """A table exactly as the R script built it (canonical columns)."""
    return pd.DataFrame(outcomes()["tables"][name])


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


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.mark.parametrize("case", outcomes()["effects"],
                         ids=lambda c: f"{c['dataset']}-{c['call']}")
def test_effects_match_escalc(case):
    # metafor: escalc(...) as named in case["call"]
    tab = ref_table(case["dataset"])
    eff = mc.compute_effects(tab, case["measure"], **_args(case))
    want_yi, want_vi = _arr(case["yi"]), _arr(case["vi"])
    usable = np.isfinite(want_yi) & np.isfinite(want_vi) & (want_vi > 0)
    if "yi_integrate" in case:
        # UCOR: metafor's gsl 2F1 loses digits near x = 1 (see make_outcomes.R); agree with
        # it to 1e-3 and with R's integrate() of the same estimator to 1e-10.
        got = mc.compute_effects(tab, "UCOR")
        np.testing.assert_allclose(got.yi, want_yi[np.array(got.rows) - 1], atol=1e-3)
        want_yi, want_vi = _arr(case["yi_integrate"]), _arr(case["vi_integrate"])
    got_yi = np.full(len(tab), np.nan)
    got_vi = np.full(len(tab), np.nan)
    got_yi[np.array(eff.rows, int) - 1] = eff.yi
    got_vi[np.array(eff.rows, int) - 1] = eff.vi
    assert np.array_equal(np.isfinite(got_yi), usable)
    assert len(eff.excluded) == int((~usable).sum())
    assert all(e.reason for e in eff.excluded)
    np.testing.assert_allclose(got_yi[usable], want_yi[usable], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got_vi[usable], want_vi[usable], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", outcomes()["fits"], ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_reml_fit_and_natural_scale_match_predict(case):
    # metafor: rma(yi, vi, method="REML") and predict(res, transf=...) as in case["call"]
    eff = mc.compute_effects(ref_table(case["dataset"]), case["measure"])
    res = mc.pool(eff, model="random", tau2_method="REML")
    assert res.k == case["k"]
    for name in ("estimate", "se", "tau2", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert getattr(res, name) == pytest.approx(case[name], abs=1e-6, rel=1e-6), name
    nat = res.natural()
    for name, want in case["natural"].items():
        assert nat[name] == pytest.approx(want, abs=1e-6, rel=1e-6), name


def test_every_new_measure_has_references_on_two_tables_with_boundary_studies():
    seen: dict[str, set[str]] = {}
    for case in outcomes()["effects"]:
        seen.setdefault(case["measure"], set()).add(case["dataset"])
    for measure in (*mc.PROPORTION_MEASURES, *mc.RATE_MEASURES, *mc.TWO_RATE_MEASURES,
                    *mc.CORRELATION_MEASURES, *mc.MEAN_MEASURES):
        assert len(seen[measure]) >= 2, measure
    edge = ref_table("props_edge")
    assert (edge["events"] == 0).any() and (edge["events"] == edge["n"]).any()


def test_proportion_correction_is_named_in_the_notes():
    eff = mc.compute_effects(ref_table("props_edge"), "PLO")
    assert eff.cc_applied.sum() == 4          # two 0% studies and two 100% studies
    assert "0.5 was added to the events and non-events of 4 studies" in eff.notes[0]
    assert "escalc" in eff.notes[0]
    pft = mc.compute_effects(ref_table("props_edge"), "PFT")
    assert not pft.cc_applied.any() and "none was added" in pft.notes[0]


def test_column_spellings_reach_the_new_kinds():
    cases = {
        ("Cases", "Total"): "proportion", ("xi", "ni"): "proportion",
        ("events", "person-years"): "rate", ("ri", "N"): "correlation",
        ("Mean", "SD", "n"): "mean", ("x1i", "t1i", "x2i", "t2i"): "two_rates",
    }
    for cols, kind in cases.items():
        st = mc.standardize(pd.DataFrame([[3, 50, 7, 40][:len(cols)]], columns=list(cols)))
        assert kind in st.kinds, cols
    # metafor's xi and mi (non-events) give n = xi + mi
    st = mc.standardize(pd.DataFrame({"xi": [3], "mi": [47]}))
    assert st.data["n"].tolist() == [50.0]
    # RevMan's Events/Total pairs still read as two arms
    rev = mc.standardize(pd.DataFrame([[1, 50, 9, 53]],
                                      columns=["Events", "Total", "Events.1", "Total.1"]))
    assert rev.kinds == ("binary",)


def test_measures_offered_per_kind():
    assert mc.measures_for("proportion")[0] == "PLO"
    assert mc.measures_for("rate") == ("IRLN", "IR", "IRS", "IRFT")
    assert mc.measures_for("two_rates") == ("IRR", "IRD")
    assert mc.measures_for("correlation")[0] == "ZCOR"
    assert mc.measures_for("mean") == ("MN", "MNLN")
    assert mc.MEASURE_LABELS["PFT"].startswith("Proportion")


def test_bad_rows_are_named_with_the_problem():
    tab = pd.DataFrame({"study": ["A", "B", "C", "D"], "events": [3, 12, -1, 2],
                        "n": [10, 10, 10, 0]})
    eff = mc.compute_effects(tab, "PLO")
    reasons = {e.study: e.reason for e in eff.excluded}
    assert "events (12) is larger than n (10)" in reasons["B"]
    assert "events is negative" in reasons["C"]
    assert "no participants" in reasons["D"]
    cor = mc.compute_effects(pd.DataFrame({"r": [0.3, 1.4], "n": [20, 20]}), "ZCOR")
    assert "not a correlation" in cor.excluded[0].reason
    mnln = mc.compute_effects(pd.DataFrame({"mean": [2.0, -1.0], "sd": [1, 1], "n": [9, 9]}),
                              "MNLN")
    assert "positive mean" in mnln.excluded[0].reason
    with pytest.raises(mc.MeasureError,
                       match=r"Missing: Events \(one group\)\. Found: Total \(one group\)"):
        mc.compute_effects(pd.DataFrame({"r": [0.3], "n": [20]}), "PLO")


@pytest.mark.parametrize("name", ["pritz1997", "props_edge"])
def test_study_intervals_of_a_proportion(name):
    # R: binom.test(x, n)$conf.int (Clopper-Pearson); prop.test(x, n, correct=FALSE) (Wilson)
    want = outcomes()["proportion_ci"][name]
    tab = ref_table(name)
    lo, hi = proportion_ci(tab["events"], tab["n"], method="exact")
    np.testing.assert_allclose(lo, want["exact_low"], atol=1e-9)
    np.testing.assert_allclose(hi, want["exact_high"], atol=1e-9)
    lo, hi = proportion_ci(tab["events"], tab["n"], method="wilson")
    np.testing.assert_allclose(lo, want["wilson_low"], atol=1e-12)
    np.testing.assert_allclose(hi, want["wilson_high"], atol=1e-12)
    with pytest.raises(mc.OptionError, match="wilson"):
        proportion_ci([1], [2], method="wald")


def test_back_transforms_stay_in_range():
    # metafor's transf.iarcsin / ipft.hm / iirft clamp to the boundary outside the range
    assert back_transform("PAS", -0.1) == 0.0 and back_transform("PAS", 2.0) == 1.0
    assert back_transform("PFT", 2.0, ni=[10, 20]) == 1.0
    assert back_transform("PFT", -0.1, ni=[10, 20]) == 0.0
    assert back_transform("IRFT", 0.0, ti=[100.0]) == 0.0
    assert back_transform("IRS", -0.2) == 0.0
    assert back_transform("MN", 3.5) == 3.5
    # EffectSizes uses the same harmonic mean as the pooled result
    eff = mc.compute_effects(ref_table("pritz1997"), "PFT")
    res = mc.pool(eff)
    assert eff.transform(res.estimate) == pytest.approx(res.natural()["estimate"], abs=1e-14)


def test_bundled_single_group_tables_load_and_pool():
    olf = mc.datasets.load("olfaction")
    assert mc.standardize(olf).kinds[0] == "proportion"
    res = mc.pool(mc.compute_effects(olf, "PLO"))
    assert 0 < res.natural()["estimate"] < 1
    inter = mc.datasets.load("interviews")
    assert "correlation" in mc.standardize(inter).kinds
    assert mc.compute_effects(inter, "ZCOR").k == len(inter)


# --- generated bad tables (hypothesis): only metacore's errors escape, rows are named ----

CELL = st.one_of(st.integers(min_value=-3, max_value=60),
                 st.floats(allow_nan=True, allow_infinity=True, width=64),
                 st.sampled_from(["", "abc", " 12 ", "0,5", "-0", "NaN", "1.5"]), st.none(),
                 st.floats(min_value=-1.5, max_value=1.5))
ONE_GROUP_COLUMNS = ["events", "n", "time", "r", "mean", "sd", "events_t", "time_t",
                     "events_c", "time_c", "include", "study"]


@st.composite
def one_group_tables(draw):
    cols = draw(st.lists(st.sampled_from(ONE_GROUP_COLUMNS), min_size=1, max_size=7,
                         unique=True))
    n = draw(st.integers(min_value=0, max_value=6))
    return pd.DataFrame({c: [draw(CELL) for _ in range(n)] for c in cols})


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(one_group_tables(), st.sampled_from([*mc.PROPORTION_MEASURES, *mc.RATE_MEASURES,
                                             *mc.TWO_RATE_MEASURES, *mc.CORRELATION_MEASURES,
                                             *mc.MEAN_MEASURES]))
def test_generated_tables_never_crash(table, measure):
    try:
        eff = mc.compute_effects(table, measure)
    except (mc.DataError, mc.MeasureError):
        return
    assert np.all(np.isfinite(eff.yi)) and np.all(eff.vi > 0)
    for e in eff.excluded:
        assert e.reason.startswith("row ") and len(e.reason) > 12
    if measure in ("PLO", "IRLN", "IRR"):
        try:
            res = mc.pool_glmm(table, measure)
        except (mc.DataError, mc.MeasureError):
            return
        assert np.isfinite(res.estimate) and res.tau2 >= 0
