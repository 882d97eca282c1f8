"""The review model: every outcome of the RevMan test file equals metafor (reference JSON
from tests/reference/make_review.R, metafor 3.8-1), edits return new reviews, the JSON
round trip is exact, and the whole-review SoF table follows the GRADE formulas."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import metacore as mc
from metacore.review.grade import Grade
from metacore.review.model import (
    Outcome,
    Review,
    StudyRow,
    review_data_rows,
    review_to_data_package,
)

REF = Path(__file__).parent / "reference"
DATA = json.loads((REF / "review_reference.json").read_text())
REV = mc.read_revman(REF / "revman" / "review_full.rm5")
TOL = 1e-10


@pytest.mark.parametrize("key", sorted(DATA["outcomes"]))
def test_each_outcome_equals_metafor(key):
    # metafor: the call recorded beside each outcome in review_reference.json
    ref = DATA["outcomes"][key]
    res = REV.outcome(key).analyse()
    assert res.estimate == pytest.approx(ref["estimate"], abs=TOL)
    assert res.se == pytest.approx(ref["se"], abs=TOL)
    assert res.ci_low == pytest.approx(ref["ci_low"], abs=TOL)
    assert res.ci_high == pytest.approx(ref["ci_high"], abs=TOL)
    assert res.tau2 == pytest.approx(ref["tau2"], abs=TOL)
    assert res.q == pytest.approx(ref["q"], abs=1e-9)
    assert res.k == ref["k"]
    assert res.pvalue == pytest.approx(ref["pvalue"], rel=1e-8)


def test_settings_follow_the_file():
    o = {x.id: x for x in REV.outcomes}
    assert (o["CMP-001.01"].method, o["CMP-001.01"].model) == ("MH", "common")
    assert o["CMP-001.04"].settings == "M-H, Random, 95% CI"
    assert o["CMP-001.04"].tau2_method == "DL" and o["CMP-001.04"].analyse().model == "random"
    # the file stores generic ratios as displayed (natural scale): logged for the analysis
    assert (o["CMP-002.01"].label, o["CMP-002.01"].scale) == ("HR", "ratio")
    assert o["CMP-002.01"].table["yi"].iloc[0] == pytest.approx(math.exp(-0.22), abs=1e-15)
    assert o["CMP-002.03"].scale == "linear"
    assert o["CMP-002.02"].kind == "oe" and o["CMP-002.02"].settings == "Peto, Fixed, 95% CI"
    assert o["CMP-001.05"].arm_labels == ("Steroid", "Placebo")
    assert o["CMP-001.05"].favours == ("Favours steroid", "Favours placebo")


def test_subgroups_equal_metafor():
    fits = REV.outcome("CMP-001.02").analyse_subgroups()
    for name, ref in DATA["outcomes"]["CMP-001.02"]["subgroups"].items():
        assert fits[name].estimate == pytest.approx(ref["estimate"], abs=TOL)
        assert fits[name].tau2 == pytest.approx(ref["tau2"], abs=TOL)
        assert fits[name].k == ref["k"]


def test_subgroup_difference_equals_metafor():
    ref = DATA["outcomes"]["CMP-001.02"]["subgroup_test"]
    test = REV.outcome("CMP-001.02").subgroup_difference()
    assert test.q == pytest.approx(ref["q"], abs=1e-10) and test.q_df == ref["q_df"]
    assert test.pvalue == pytest.approx(ref["q_pvalue"], rel=1e-9)
    with pytest.raises(mc.DataError, match="two subgroups"):
        REV.outcome("CMP-001.01").subgroup_difference()


@pytest.mark.parametrize("key", ["CMP-001.01", "CMP-001.02", "CMP-001.03", "CMP-001.05",
                                 "CMP-002.01", "CMP-002.02", "CMP-002.03"])
def test_equal_to_the_stored_totals(key):
    cmp = REV.outcome(key).compare_stored()
    assert set(cmp["statistic"]) >= {"estimate", "ci_low", "ci_high", "z", "i2", "tau2", "q"}
    assert cmp["difference"].abs().max() < 1e-9


def test_stored_note_names_known_differences():
    assert REV.outcome("CMP-001.01").stored_note == ""
    assert "3.94" in REV.outcome("CMP-001.06").stored_note
    assert "Q around the Mantel-Haenszel" in REV.outcome("CMP-001.04").stored_note
    assert REV.outcome("CMP-001.06").compare_stored().empty   # the file stored none


def test_table_is_canonical_and_names_follow_a_rename():
    o = REV.outcome("CMP-001.01")
    assert list(o.table.columns) == ["study", "events_t", "n_t", "events_c", "n_c", "include"]
    assert o.table["study"].tolist()[0] == "Adams 1998"
    rev = REV.rename_study("STD-Adams-1998", "Adams et al. 1998")
    for oid in ("CMP-001.01", "CMP-001.02", "CMP-001.03", "CMP-001.05", "CMP-002.01"):
        assert rev.outcome(oid).table["study"].iloc[0] == "Adams et al. 1998"
    assert REV.outcome("CMP-001.01").table["study"].iloc[0] == "Adams 1998"   # old unchanged
    assert rev.outcome("CMP-001.01").analyse().study[0] == "Adams et al. 1998"


def test_edits_return_new_reviews():
    rev = REV.add_comparison("Steroid versus antibiotic alone")
    assert len(rev.comparisons) == 3 and len(REV.comparisons) == 2
    cid = rev.comparisons[-1].id
    rev = rev.rename_comparison(cid, "Dexamethasone vs none")
    assert rev.comparison(cid).name == "Dexamethasone vs none"
    rev = rev.move_comparison(cid, 0)
    assert rev.comparisons[0].id == cid
    new = Outcome("", "ICU admission", "binary", "OR")
    rev = rev.add_outcome(cid, new).add_study("Gupta 2023", "2023")
    oid = rev.comparison(cid).outcomes[0].id
    import pandas as pd
    t = pd.DataFrame({"study": ["Gupta 2023", "Adams 1998", "Hale 2024"],
                      "events_t": [3, 5, 2], "n_t": [40, 100, 30], "events_c": [6, 9, 5],
                      "n_c": [41, 98, 31]})
    rev = rev.with_table(oid, t)
    assert rev.study("STD-001").name == "Gupta 2023" and len(rev.studies) == 8
    assert rev.outcome(oid).table["study"].tolist() == ["Gupta 2023", "Adams 1998", "Hale 2024"]
    rev = rev.rename_outcome(oid, "Admission to intensive care")
    rev = rev.update_outcome(oid, model="random")
    assert rev.outcome(oid).analyse().model == "random"
    moved = rev.move_outcome("CMP-001.03", 0)
    assert moved.comparison("CMP-001").outcomes[0].id == "CMP-001.03"
    gone = moved.delete_outcome("CMP-001.03")
    assert "CMP-001.03" not in [o.id for o in gone.outcomes]
    assert len(gone.delete_comparison("CMP-002").comparisons) == 2
    with pytest.raises(mc.OptionError, match="no outcome"):
        rev.outcome("nope")
    with pytest.raises(mc.OptionError, match="measures"):
        rev.update_outcome(oid, measure="MD")


def test_json_round_trip_is_exact():
    rev = REV.with_grade(Grade("CMP-001.01").with_rating("imprecision", "serious",
                                                         "Few events"))
    rev = rev.with_rob(mc.RobAssessment.build("STD-Adams-1998", "rob2",
                                              ["Low", "Some concerns", "Low", "Low", "Low"],
                                              outcome_id="CMP-001.01",
                                              overall="High", reason="two concerns, serious"))
    text = mc.review_to_json(rev)
    back = mc.review_from_json(text)
    assert back == rev
    assert mc.review_to_json(back) == text
    assert back.outcome("CMP-002.01").analyse().estimate == rev.outcome("CMP-002.01") \
        .analyse().estimate


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(kind="analysis"), "not a metacore review"),
    (lambda d: d.update(version=9), "version 9"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d["comparisons"][0]["outcomes"][0].update(measure="XYZ"), "measures"),
    (lambda d: d["comparisons"][0]["outcomes"][0]["rows"][0]["values"][0].__setitem__(1, "x"),
     "number or null"),
    (lambda d: d["comparisons"][0]["outcomes"][0]["rows"][0].update(study="STD-nobody"),
     "STD-nobody"),
    (lambda d: d["rob"].append({"study": "STD-Adams-1998", "tool": "rob2", "outcome": "",
                                "domains": [["Low", ""]] * 5, "overall": "High",
                                "reason": ""}), "reason"),
])
def test_review_file_checks_are_strict(change, words):
    doc = json.loads(mc.review_to_json(REV))
    change(doc)
    with pytest.raises(mc.DataError, match=words):
        mc.review_from_json(json.dumps(doc))


def test_review_sof_table_follows_grade_formulas():
    rev = REV.with_grade(Grade("CMP-001.01").with_rating("risk_of_bias", "serious",
                                                         "Evans 2019 at high risk")
                         .with_rating("imprecision", "serious", "Few events"))
    table = mc.review_summary(rev, "CMP-001", ["CMP-001.01", "CMP-001.05", "CMP-001.02"],
                              assumed_risks={"CMP-001.01": 0.2},
                              follow_up={"CMP-001.01": "28 days"})
    frame = table.to_frame()
    rr = math.exp(DATA["outcomes"]["CMP-001.01"]["estimate"])
    lo = math.exp(DATA["outcomes"]["CMP-001.01"]["ci_low"])
    hi = math.exp(DATA["outcomes"]["CMP-001.01"]["ci_high"])
    # risk with intervention = ACR x RR, per 1,000
    assert frame.loc[0, "Assumed risk with control"] == "200 per 1,000"
    assert frame.loc[0, "Risk with intervention"] == \
        f"{round(200 * rr)} per 1,000 ({round(200 * lo)} to {round(200 * hi)})"
    assert frame.loc[0, "Outcome"] == "Death (follow-up: 28 days)"
    assert frame.loc[0, "Participants (studies)"] == "710 (4 studies)"
    assert frame.loc[0, "Certainty of the evidence (GRADE)"] == "⊕⊕◯◯ Low^1^2"
    assert table.footnotes[0].startswith("Risk of bias (serious)")
    # OR: ACR x OR / (1 - ACR + ACR x OR) at the pooled control risk
    o = DATA["outcomes"]["CMP-001.02"]
    acr = sum(r["ci"] for r in o["data"]) / sum(r["n2i"] for r in o["data"])
    orr = math.exp(o["estimate"])
    assert frame.loc[2, "Risk with intervention"].startswith(
        f"{round(1000 * acr * orr / (1 - acr + acr * orr))} per 1,000")
    assert frame.loc[2, "Certainty of the evidence (GRADE)"] == "not rated"
    # continuous: a difference in the outcome's units
    assert frame.loc[1, "Assumed risk with control"] == "—"
    assert "lower" in frame.loc[1, "Risk with intervention"]
    with pytest.raises(mc.OptionError, match="at most 7"):
        mc.review_summary(REV, "CMP-001", ["CMP-001.01"] * 8)


def test_outcome_with_no_rows_names_itself():
    rev = Review("x").add_comparison("c").add_outcome("CMP-001",
                                                      Outcome("", "Empty", "binary", "RR"))
    with pytest.raises(mc.DataError, match="Empty"):
        rev.outcomes[0].analyse()
    ghost = Outcome("o", "O", "binary", "RR", rows=(StudyRow("ghost", ()),))
    with pytest.raises(mc.DataError, match="not list"):
        Review("y", comparisons=(mc.Comparison("c", "c", (ghost,)),))


def test_data_package_round_trip_keeps_every_analysis():
    back = mc.read_revman(review_to_data_package(REV))
    assert [o.name for o in back.outcomes] == [o.name for o in REV.outcomes]
    assert [s.name for s in back.studies] == [s.name for s in REV.studies if any(
        r.study_id == s.id for o in REV.outcomes for r in o.rows)]
    for a, b in zip(REV.outcomes, back.outcomes, strict=True):
        assert (b.kind, b.measure, b.method, b.model) == (a.kind, a.measure, a.method, a.model)
        ra, rb = a.analyse(), b.analyse()
        assert rb.estimate == pytest.approx(ra.estimate, abs=1e-12)
        assert rb.se == pytest.approx(ra.se, abs=1e-12)
        assert b.subgroups == a.subgroups
        assert b.stored.estimate == pytest.approx(ra.natural()["estimate"], abs=1e-12)
    rows = review_data_rows(REV)
    assert len(rows) == sum(len(o.rows) for o in REV.outcomes)
    assert rows.loc[rows["Analysis name"] == "Time to relapse", "GIV Mean"].iloc[0] == \
        pytest.approx(-0.22, abs=1e-14)


def test_sensitivity_by_risk_of_bias():
    # RoB 1 from the file: Adams, Fong low; Brown, Chen, Diaz, Evans high
    low = REV.sensitivity("CMP-001.01", "rob1", keep="low")
    assert low.study == ("Adams 1998",) and low.k == 1
    not_high = REV.sensitivity("CMP-002.01", "rob1", keep="not_high")
    assert not_high.study == ("Adams 1998", "Fong 2021")
    with pytest.raises(mc.DataError, match="no study at low risk of bias"):
        REV.sensitivity("CMP-002.02", "rob1", keep="low")
    # RoB 2 per result: a judgement for this outcome takes precedence
    rev = REV
    for sid in ("STD-Brown-2003", "STD-Chen-2010"):
        rev = rev.with_rob(mc.RobAssessment.build(sid, "rob2", ["Low"] * 5,
                                                  outcome_id="CMP-001.01"))
    rev = rev.with_rob(mc.RobAssessment.build("STD-Chen-2010", "rob2", ["High"] * 5))
    assert rev.sensitivity("CMP-001.01", "rob2").study == ("Brown 2003", "Chen 2010")
    assert rev.rob_table("rob2", "CMP-001.05", weights=False).assessments[0].overall.level \
        == "High"


def test_analysis_reader_refuses_a_review_document():
    from metacore.store.project import from_json

    with pytest.raises(mc.DataError, match="open it as a review"):
        from_json(mc.review_to_json(REV))
