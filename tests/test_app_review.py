"""Issue 25 in the app: a whole review built by hand and imported from RevMan 5, outcomes
opened in the analysis pages (which follow the sidebar's `outcome` picker and give their
edits back to the review), undo, risk of bias, GRADE, the summary of findings, and save
and reopen by link in a new session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

import metacore as mc

ROOT = Path(__file__).resolve().parents[1]
RM5 = ROOT / "tests" / "reference" / "revman" / "review_full.rm5"
TIMEOUT = 90

BIN_A = pd.DataFrame({"study": ["Adams 1998", "Baker 2003", "Chen 2010"],
                      "events_t": [4, 10, 7], "n_t": [50, 80, 60],
                      "events_c": [9, 15, 12], "n_c": [50, 82, 61]})
BIN_B = pd.DataFrame({"study": ["Adams 1998", "Chen 2010"], "events_t": [2, 5],
                      "n_t": [50, 60], "events_c": [6, 6], "n_c": [50, 61]})
CONT = pd.DataFrame({"study": ["Adams 1998", "Baker 2003"], "mean_t": [10.0, 12.0],
                     "sd_t": [3.0, 4.0], "n_t": [50, 80], "mean_c": [12.0, 13.5],
                     "sd_c": [3.5, 4.2], "n_c": [50, 82]})


def _page(name: str = "review") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _summary(at: AppTest) -> str:
    return next(i.value for i in at.info if "estimate is" in i.value)


def _add_outcome(at: AppTest, ck: str, name: str, kind: str) -> None:
    at.text_input(key=f"new_outcome_{ck}").input(name)
    at.selectbox(key=f"new_kind_{ck}").set_value(kind)
    _ok(at.button(key=f"add_outcome_{ck}").click().run())


def _enter(at: AppTest, oid: str, table: pd.DataFrame) -> None:
    """Open the outcome, then edit its table as the Data page's editor does."""
    _ok(at.button(key=f"open_{oid.replace('-', '_').replace('.', '_')}").click().run())
    at.session_state["table"] = table.assign(include=True)
    _ok(at.run())


def test_build_a_two_comparison_four_outcome_review_by_hand():
    at = _page()
    at.text_input(key="new_review_title").input("Steroids for sepsis")
    _ok(at.button(key="create_review").click().run())
    at.text_input(key="new_comparison").input("Steroid vs usual care")
    _ok(at.button(key="add_comparison").click().run())
    _add_outcome(at, "CMP_001", "Death at 28 days", "binary")
    _add_outcome(at, "CMP_001", "Length of stay", "continuous")
    _add_outcome(at, "CMP_002", "Infections", "binary")
    _add_outcome(at, "CMP_002", "Readmission", "binary")
    rev = at.session_state["_review"]
    assert [len(c.outcomes) for c in rev.comparisons] == [2, 2]
    ids = [o.id for o in rev.outcomes]
    for oid, table in zip(ids, (BIN_A, CONT, BIN_B, BIN_A), strict=True):
        _enter(at, oid, table)
    rev = at.session_state["_review"]
    # each study exists once, shared by the outcomes that use it
    assert [s.name for s in rev.studies] == ["Adams 1998", "Baker 2003", "Chen 2010"]
    assert [sum(r.include for r in o.rows) for o in rev.outcomes] == [3, 2, 2, 3]
    # the pages' numbers are the outcome's own (metafor: rma.mh(measure="RR") on BIN_A)
    o = rev.outcome(ids[0])
    assert o.analyse().natural()["estimate"] == mc.analysis_of(
        mc.standardize(BIN_A), measure="RR", model="MH")[1].natural()["estimate"]
    # the summary of findings of each comparison holds its outcomes
    frames = [tb.value for tb in at.table if "Relative effect" in tb.value.columns]
    assert [f.index.tolist() for f in frames] == [["Death at 28 days", "Length of stay"],
                                                      ["Infections", "Readmission"]]
    # a rename reaches every outcome
    at.selectbox(key="rename_study_pick").set_value("STD-001")
    at.text_input(key="rename_study_name").input("Adams 1999")
    _ok(at.button(key="rename_study").click().run())
    rev = at.session_state["_review"]
    assert all(o.table["study"].iloc[0] == "Adams 1999" for o in rev.outcomes)
    assert at.session_state["table"]["study"].iloc[0] == "Adams 1999"   # the open outcome


def test_import_rm5_then_every_page_follows_the_outcome_picker():
    at = AppTest.from_string(
        "from pathlib import Path\n"
        "import streamlit as st\n"
        "from ui import review, state\n"
        "state.init()\n"
        f"if st.button('import', key='go'):\n"
        f"    review.import_bytes(Path({str(RM5)!r}).read_bytes(), 'review_full.rm5')\n"
        "if st.button('bad', key='bad'):\n"
        "    review.import_bytes(b'<html><body>not a review</body></html>', 'page.html')\n",
        default_timeout=TIMEOUT).run()
    at.button(key="go").click().run()
    rev = at.session_state["_review"]
    assert rev.title and len(rev.outcomes) == 9
    at.button(key="bad").click().run()
    assert not at.exception
    kind, text = at.session_state["_review_message"]
    assert kind == "error" and "page.html was not imported" in text and "unchanged" in text
    assert at.session_state["_review"] is rev               # the current work is untouched

    forest = _page("forest")
    forest.session_state["_review"] = rev
    forest.run()
    quick = _summary(forest)
    for oid in ("CMP-001.01", "CMP-001.05", "CMP-002.01"):
        _ok(forest.selectbox(key="outcome").set_value(oid).run())
        o = rev.outcome(oid)
        nat = o.analyse().natural()
        shown = _summary(forest)
        assert f"{nat['estimate']:.2f}".replace("-", "\u2212") in shown, (oid, shown)
        s = forest.session_state
        assert s["arm_t"] == o.arm_labels[0] and s["fav_left"] == o.favours[0]
        assert s["level"] == 0.95 and s["tau2_method"] == o.tau2_method
    assert forest.session_state["measure"] == "GEN"
    # a change on the pages goes back into the review, and survives switching outcomes
    _ok(forest.selectbox(key="outcome").set_value("CMP-001.01").run())
    _ok(forest.selectbox(key="measure").set_value("OR").run())
    _ok(forest.selectbox(key="outcome").set_value("CMP-001.05").run())
    assert forest.session_state["_review"].outcome("CMP-001.01").measure == "OR"
    _ok(forest.selectbox(key="outcome").set_value("CMP-001.01").run())
    assert forest.session_state["measure"] == "OR"
    # the quick analysis is one click away, as it was
    _ok(forest.selectbox(key="outcome").set_value("").run())
    assert _summary(forest) == quick
    # the report page works on an opened outcome like on a single table
    report = _page("report")
    report.session_state["_review"] = rev
    report.run()
    _ok(report.selectbox(key="outcome").set_value("CMP-001.02").run())
    assert report.session_state["table"]["study"].tolist() == \
        rev.outcome("CMP-001.02").table["study"].tolist()


def test_undo_delete_and_reorder_with_confirmation():
    at = _page()
    at.session_state["_review"] = mc.read_revman(RM5)
    at.run()
    first = [o.id for o in at.session_state["_review"].comparisons[0].outcomes]
    _ok(at.button(key="down_CMP_001_01").click().run())
    moved = [o.id for o in at.session_state["_review"].comparisons[0].outcomes]
    assert moved[:2] == [first[1], first[0]]
    _ok(at.button(key="del_CMP_001_02").click().run())
    assert len(at.session_state["_review"].outcomes) == 9      # not before the confirmation
    assert any("Delete the outcome" in w.value for w in at.warning)
    _ok(at.button(key="confirm_delete").click().run())
    assert len(at.session_state["_review"].outcomes) == 8
    _ok(at.button(key="review_undo").click().run())
    assert [o.id for o in at.session_state["_review"].comparisons[0].outcomes] == moved
    _ok(at.button(key="review_undo").click().run())
    assert [o.id for o in at.session_state["_review"].comparisons[0].outcomes] == first
    _ok(at.button(key="review_redo").click().run())
    assert [o.id for o in at.session_state["_review"].comparisons[0].outcomes] == moved


def test_risk_of_bias_grade_and_sensitivity():
    at = _page()
    rev = mc.read_revman(RM5)
    at.session_state["_review"] = rev
    at.run()
    o = rev.outcome("CMP-001.01")
    names = o.table["study"].tolist()
    rows = ["Study,D1,D2,D3,D4,D5,Overall"]
    rows += [f"{n},Low,Low,Low,Low,Low,Low" for n in names[:2]]
    rows += [f"{n},Low,High,Low,Low,Low,High" for n in names[2:]]
    at.selectbox(key="rob_outcome").set_value("CMP-001.01")
    at.text_area(key="rob_paste").input("\n".join(rows))
    _ok(at.button(key="rob_paste_apply").click().run())
    got = at.session_state["_review"].rob_table("rob2", "CMP-001.01", weights=False)
    assert [a.overall.level for a in got.assessments] == ["Low"] * 2 + ["High"] * (
        len(names) - 2)
    assert len(at.get("vega_lite_chart")) >= 2          # traffic light and summary
    sens = next(df.value for df in at.dataframe if "Analysis" in df.value.columns)
    low = at.session_state["_review"].sensitivity("CMP-001.01", "rob2", "low")
    assert sens["Studies"].tolist() == [o.analyse().k, low.k, low.k]
    # GRADE: a suggestion is shown, not applied, until taken and confirmed
    at.selectbox(key="grade_outcome").set_value("CMP-001.01").run()
    assert at.session_state["_review"].grade("CMP-001.01") is None
    _ok(at.button(key="g_take_risk_of_bias_CMP_001_01").click().run())
    at.radio(key="g_imprecision_CMP_001_01").set_value("serious")
    at.button(key="grade_confirm").click().run()
    # a rating without a footnote is refused, with the reason, and nothing is saved
    assert not at.exception and any("needs a footnote" in e.value for e in at.error)
    assert at.session_state["_review"].grade("CMP-001.01") is None
    at.text_input(key="g_note_imprecision_CMP_001_01").input("Few events (OIS not met).")
    _ok(at.button(key="grade_confirm").click().run())
    g = at.session_state["_review"].grade("CMP-001.01")
    assert g is not None and g.level("imprecision") == "serious"
    sugg = {x.domain: x for x in at.session_state["_review"].suggestions("CMP-001.01",
                                                                         tool="rob2")}
    assert g.level("risk_of_bias") == sugg["risk_of_bias"].level
    sof = next(tb.value for tb in at.table if "Relative effect" in tb.value.columns)
    cert = sof["Certainty of the evidence (GRADE)"].iloc[0]
    assert cert.startswith(g.symbol) and cert.endswith("¹˒²")      # its two footnotes


def test_save_and_reopen_by_link_in_a_new_session():
    at = _page()
    rev = mc.read_revman(RM5).rename_study("STD-Adams-1998", "Adams (renamed)")
    at.session_state["_review"] = rev
    at.run()
    _ok(at.button(key="save_review").click().run())
    rid = at.session_state["review_id"]
    assert rid and any(f"?review={rid}" in c.value for c in at.code)
    again = AppTest.from_file(str(ROOT / "pages" / "review.py"), default_timeout=TIMEOUT)
    again.query_params["review"] = rid
    _ok(again.run())
    back = again.session_state["_review"]
    assert mc.review_to_json(back) == mc.review_to_json(rev)
    assert again.session_state["review_version"] == 1
    # saving again is a new version of the same review
    _ok(again.button(key="save_review").click().run())
    assert (again.session_state["review_id"], again.session_state["review_version"]) == (rid, 2)
