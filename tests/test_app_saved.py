"""Issue 11 in the app: save and open by link (in a new process), bad links, versions,
undo/redo, the replace-with-unsaved-edits guard, drafts and the saved-analyses page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from metacore.store.project import from_json

ROOT = Path(__file__).resolve().parents[1]


def _run(path: str = "pages/forest.py", **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _summary(at: AppTest) -> str:
    return next(i.value for i in at.info if "estimate is" in i.value)


_OPEN_ELSEWHERE = """
import json, sys
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({page!r}, default_timeout=60)
at.query_params["analysis"] = {aid!r}
at.run()
s = at.session_state
print(json.dumps({{"exception": [str(e.value) for e in at.exception],
                  "measure": s["measure"], "tau2": s["tau2_method"], "ci": s["ci_method"],
                  "summary": next(i.value for i in at.info if "estimate is" in i.value),
                  "warnings": [w.value for w in at.warning]}}))
"""


def test_save_then_open_the_link_in_a_new_process():
    at = _run()
    at.selectbox(key="measure").set_value("OR").run()
    at.selectbox(key="tau2_method").set_value("DL").run()
    at.radio(key="ci_method").set_value("hksj").run()
    before = _summary(at)
    at.text_input(key="analysis_name").input("BCG, OR, DL + HKSJ").run()
    at.button(key="save_analysis").click().run()
    assert not at.exception
    aid = at.session_state["analysis_id"]
    assert at.query_params["analysis"] == [aid] or at.query_params["analysis"] == aid
    assert any(f"?analysis={aid}" in c.value for c in at.code)       # the share link
    code = _OPEN_ELSEWHERE.format(root=str(ROOT), page=str(ROOT / "pages/forest.py"), aid=aid)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["exception"] == [], got
    assert got["warnings"] == [], got
    assert (got["measure"], got["tau2"], got["ci"]) == ("OR", "DL", "hksj")
    assert got["summary"] == before and "OR" in before
    # metafor: rma(measure="OR", dat.bcg, method="DL", test="knha")
    eff = mc.compute_effects(mc.datasets.load("bcg"), "OR")
    est = mc.pool(eff, tau2_method="DL", ci_method="hksj").natural()["estimate"]
    assert f"OR {est:.2f}" in got["summary"]


@pytest.mark.parametrize("bad", ["no-such-id", "../../etc/passwd", "' OR '1'='1", "x" * 400,
                                 "A" * 22])
def test_bad_links_give_a_message_and_the_default_analysis(bad):
    at = _run(analysis=bad)
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning)
    assert ("not hold a valid analysis id" in warnings) or ("No saved analysis" in warnings)
    assert "RR 0.49 (95% CI 0.34 to 0.70" in _summary(at)
    assert "analysis" not in at.query_params


def test_versions_can_be_listed_and_opened():
    at = _run()
    at.button(key="save_analysis").click().run()
    aid = at.session_state["analysis_id"]
    at.selectbox(key="tau2_method").set_value("PM").run()
    at.button(key="save_analysis").click().run()
    assert at.session_state["analysis_id"] == aid and at.session_state["analysis_version"] == 2
    page = _run("pages/saved.py")
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.selectbox(key="saved_version").set_value(1).run()
    page.button(key="saved_open_version").click().run()
    assert not page.exception
    assert page.session_state["tau2_method"] == "REML"
    assert page.session_state["analysis_version"] == 1


def test_undo_and_redo_walk_back_and_forth_at_least_twenty_steps():
    at = _run()
    steps = ["DL", "PM", "SJ", "HE", "HS", "EB", "ML", "REML"] * 3 + ["DL"]
    for est in steps:
        at.selectbox(key="tau2_method").set_value(est).run()
    assert at.session_state["tau2_method"] == "DL"
    for _ in range(20):
        at.button(key="undo").click().run()
    assert not at.exception
    # 25 changes, 20 back: the fifth value set
    assert at.session_state["tau2_method"] == steps[4]
    at.button(key="redo").click().run()
    assert at.session_state["tau2_method"] == steps[5]
    # a table edit is a step too
    table = at.session_state["table"].copy()
    table.loc[0, "events_t"] = 40
    at.session_state["table"] = table
    at.run()
    assert at.session_state["table"].loc[0, "events_t"] == 40
    at.button(key="undo").click().run()
    assert at.session_state["table"].loc[0, "events_t"] == 4


def test_replacing_an_edited_table_asks_first():
    at = _run("pages/data.py")
    table = at.session_state["table"].copy()
    table.loc[0, "events_t"] = 40
    # an edit in the table editor: the editor is mounted afresh on the edited table
    at.session_state["table"] = table
    at.session_state["editor_version"] = at.session_state["editor_version"] + 1
    at.run()
    at.text_area(key="paste").input("study\tyi\tsei\nA\t0.1\t0.05\nB\t0.3\t0.1").run()
    at.button(key="use_paste").click().run()
    assert not at.exception
    assert any("Replace your edited table with the pasted table" in w.value for w in at.warning)
    assert at.session_state["table"].loc[0, "events_t"] == 40          # nothing replaced yet
    at.button(key="load_keep").click().run()
    assert at.session_state["table"].loc[0, "events_t"] == 40
    at.button(key="use_paste").click().run()
    at.button(key="load_replace").click().run()
    assert list(at.session_state["table"]["study"]) == ["A", "B"]


def test_a_draft_comes_back_after_a_reload_and_can_be_discarded():
    first = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    first.session_state["_browser_key"] = "k" * 32     # the browser's cookie
    first.run()
    first.selectbox(key="measure").set_value("OR").run()
    table = first.session_state["table"].copy()
    table.loc[1, "events_t"] = 60
    first.session_state["table"] = table
    first.run()
    # a reload is a new session of the same browser
    again = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    again.session_state["_browser_key"] = "k" * 32
    again.run()
    assert not again.exception
    assert again.session_state["measure"] == "OR"
    assert again.session_state["table"].loc[1, "events_t"] == 60
    assert any("before the reload is back" in i.value for i in again.info)
    again.button(key="discard_draft").click().run()
    assert again.session_state["table"].loc[1, "events_t"] == 6
    other = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    other.session_state["_browser_key"] = "z" * 32      # another browser: no draft
    other.run()
    assert other.session_state["table"].loc[1, "events_t"] == 6


def test_saved_page_lists_deletes_and_exports_a_project_file():
    at = _run()
    at.text_input(key="analysis_name").input("to be deleted").run()
    at.button(key="save_analysis").click().run()
    aid = at.session_state["analysis_id"]
    page = _run("pages/saved.py")
    assert not page.error
    page.selectbox(key="saved_pick").set_value(aid).run()
    page.button(key="saved_delete").click().run()
    page.button(key="saved_delete_yes").click().run()
    assert not page.exception
    assert aid not in page.selectbox(key="saved_pick").options if page.selectbox else True
    from metacore.store.database import NotFound, open_store

    with pytest.raises(NotFound):
        open_store().load(aid)


def test_project_file_round_trip_through_the_session():
    from ui import persist

    at = _run()
    at.selectbox(key="measure").set_value("RD").run()
    # the download's payload is persist.snapshot(); rebuild it from this session's state
    s = at.session_state
    settings = {k: s[k] for k in ("measure", "model", "tau2_method", "ci_method", "level")}
    project = mc.project.Project(s["table"], settings, name="x", source="BCG")
    again = from_json(mc.project.to_json(project))
    assert again.settings["measure"] == "RD"
    pd.testing.assert_frame_equal(again.table, s["table"], check_dtype=False)
    assert persist.PENDING_LOAD == "pending_load"


def test_a_reload_without_changes_brings_no_draft_message():
    first = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    first.session_state["_browser_key"] = "q" * 32
    first.run()
    again = AppTest.from_file(str(ROOT / "pages/forest.py"), default_timeout=60)
    again.session_state["_browser_key"] = "q" * 32
    again.run()
    assert not any("before the reload" in i.value for i in again.info)
    assert "_draft_restored" not in again.session_state
