"""Pages under Streamlit's AppTest: every page, every control option, edits and bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/forest.py", "pages/data.py", "pages/sensitivity.py", "pages/about.py"]
TIMEOUT = 60


def _run(path: str = "pages/forest.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _summary(at: AppTest) -> str:
    return at.info[0].value


def _no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_entry_point_runs_default_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    _no_errors(at)
    assert at.title[0].value == "Forest plot & heterogeneity"
    # metafor: rma(measure="RR", dat.bcg, method="REML") -> 0.49 [0.34, 0.70]
    assert "RR 0.49 (95% CI 0.34 to 0.70" in _summary(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs(page):
    _no_errors(_run(page))


def test_every_dataset_loads():
    at = _run()
    for name in mc.datasets.names():
        at.selectbox(key="dataset").set_value(name).run()
        _no_errors(at)
        assert at.session_state["measure"] == mc.datasets.CATALOG[name].measure


@pytest.mark.parametrize("key", ["measure", "model", "tau2_method", "ci_method", "level"])
def test_each_control_takes_every_option(key):
    at = _run()
    widget = at.select_slider(key=key) if key == "level" else \
        (at.radio(key=key) if key in ("model", "ci_method") else at.selectbox(key=key))
    seen = set()
    for option in list(widget.options):
        value = {"level": float(option.rstrip("%")) / 100}.get(key, option) \
            if key == "level" else option
        if key in ("measure", "tau2_method"):
            value = next(o for o in _raw_options(at, key) if _label(key, o) == option)
        if key in ("model", "ci_method"):
            value = next(o for o in _raw_options(at, key) if _label(key, o) == option)
        at = _set(at, key, value)
        _no_errors(at)
        seen.add(at.session_state[key])
    assert len(seen) == len(widget.options)


def _raw_options(at: AppTest, key: str) -> list:
    from ui.controls import valid_models
    if key == "measure":
        return list(mc.BINARY_MEASURES)
    if key == "tau2_method":
        return list(mc.ESTIMATORS)
    if key == "model":
        return valid_models(at.session_state["measure"])
    from ui.controls import CI_LABELS
    return list(CI_LABELS)


def _label(key: str, option: str) -> str:
    from ui.controls import CI_LABELS, MODEL_LABELS
    if key == "measure":
        return f"{mc.MEASURE_LABELS[option]} ({option})"
    if key == "tau2_method":
        return f"{mc.TAU2_LABELS[option]} ({option})"
    if key == "model":
        return MODEL_LABELS[option]
    return CI_LABELS[option]


def _set(at: AppTest, key: str, value) -> AppTest:
    if key == "level":
        return at.select_slider(key=key).set_value(value).run()
    if key in ("model", "ci_method"):
        return at.radio(key=key).set_value(value).run()
    return at.selectbox(key=key).set_value(value).run()


def test_mantel_haenszel_and_peto_are_offered_for_odds_ratios():
    at = _run()
    at.selectbox(key="measure").set_value("OR").run()
    for model in ("MH", "PETO", "common", "random"):
        at.radio(key="model").set_value(model).run()
        _no_errors(at)
    at.radio(key="model").set_value("MH").run()
    # metafor: rma.mh(ai, n1i, ci, n2i, measure="OR", data=dat.bcg) -> OR 0.62
    assert "Mantel-Haenszel estimate is OR 0.62" in _summary(at)


def test_changing_the_tau2_estimator_changes_the_numbers():
    at = _run()
    reml = _summary(at)
    at.selectbox(key="tau2_method").set_value("DL").run()
    dl = _summary(at)
    assert reml != dl
    # metafor: rma(measure="RR", dat.bcg, method="DL") -> tau^2 = 0.3088
    assert "τ² 0.31" in dl and "RR 0.49" in dl


def test_hksj_and_level_are_written_next_to_results():
    at = _run()
    at.radio(key="ci_method").set_value("hksj").run()
    at.select_slider(key="level").set_value(0.9).run()
    text = " ".join(c.value for c in at.caption)
    assert "Hartung-Knapp" in text and "level 90%" in text
    assert "90% CI" in _summary(at)


def test_leaving_a_study_out_changes_the_pooled_estimate():
    at = _run()
    before = _summary(at)
    at.multiselect(key="leave_out").set_value([4]).run()   # Hart & Sutherland 1977
    _no_errors(at)
    after = _summary(at)
    assert before != after
    eff = mc.compute_effects(mc.datasets.load("bcg").drop(index=3), "RR")
    expected = mc.pool(eff).natural()["estimate"]
    assert f"RR {expected:.2f}" in after


def test_unticking_include_in_the_table_changes_the_pooled_estimate():
    at = _run()
    before = _summary(at)
    table = at.session_state["table"].copy()
    table.loc[0, "include"] = False
    at.session_state["table"] = table
    at.run()
    _no_errors(at)
    assert _summary(at) != before
    assert any("Left out by you: Aronson 1948" in c.value for c in at.caption)


def test_presets_set_the_controls():
    at = _run()
    at.button(key="preset_Cochrane 2025").click().run()
    assert at.session_state["ci_method"] == "hksj" and at.session_state["tau2_method"] == "REML"
    at.button(key="preset_RevMan 5").click().run()
    assert at.session_state["tau2_method"] == "DL" and at.session_state["ci_method"] == "z"
    _no_errors(at)


def test_bad_rows_are_named_and_the_rest_analysed():
    at = _run()
    bad = pd.DataFrame({"study": ["A", "B", "C", "D"], "events_t": [4, "x", 12, 30],
                        "n_t": [100, 90, 80, 20], "events_c": [8, 9, 10, 5],
                        "n_c": [100, 95, 85, 20], "include": True})
    at.session_state["table"] = bad
    at.run()
    _no_errors(at)
    text = " ".join(str(d.value.to_dict()) for d in at.dataframe)
    assert "not a number" in text and "larger than n_t" in text
    assert "k = 2" in " ".join(c.value for c in at.caption) or "RR" in _summary(at)


def test_table_that_cannot_be_analysed_gets_one_message():
    at = _run()
    at.session_state["table"] = pd.DataFrame({"foo": [1, 2], "bar": ["a", "b"]})
    at.run()
    assert not at.exception
    assert at.error and "No study columns were recognised" in at.error[0].value


def test_malformed_paste_shows_a_message():
    at = _run("pages/data.py")
    at.text_area(key="paste").input("\n\n").run()
    at.button(key="use_paste").click().run()
    assert not at.exception
    assert any("Nothing was pasted" in e.value for e in at.error)


def test_paste_with_decimal_commas_becomes_the_table():
    at = _run("pages/data.py")
    at.text_area(key="paste").input("study;yi;sei\nA;0,10;0,05\nB;0,30;0,10\nC;0,25;0,08").run()
    at.button(key="use_paste").click().run()
    _no_errors(at)
    assert at.session_state["source_name"] == "pasted table"
    assert at.session_state["measure"] == "GEN"


def test_sensitivity_page_shows_every_estimator():
    at = _run("pages/sensitivity.py")
    frames = [d.value for d in at.dataframe]
    est = next(f for f in frames if "estimator" in f.columns)
    assert len(est) == 9
    # metafor: rma(measure="RR", dat.bcg, method="DL")$tau2 = 0.3088
    assert est.loc[est["estimator"].str.contains("(DL)", regex=False), "τ²"].iloc[0] == \
        pytest.approx(0.3088, abs=1e-4)
    l1o = next(f for f in frames if "study left out" in f.columns)
    assert len(l1o) == 13


def test_generic_ratios_on_the_natural_scale():
    at = _run()
    hr = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.8, 0.7, 0.9],
                       "ci_low": [0.6, 0.5, 0.7], "ci_high": [1.07, 0.98, 1.16],
                       "include": True})
    at.session_state["table"] = hr
    at.run()
    assert at.session_state["measure"] == "GEN"
    _no_errors(at)
    # the intervals are symmetric on the log scale: read as ratios without a click
    eff = mc.compute_effects(hr, "GEN", ratio_scale=True)
    expected = mc.pool(eff).natural()["estimate"]
    assert f"estimate is {expected:.2f}" in _summary(at)
    # the user can still say they are differences
    at.selectbox(key="gen_scale").set_value("linear").run()
    linear = mc.pool(mc.compute_effects(hr, "GEN")).estimate
    assert f"estimate is {linear:.2f}" in _summary(at)
    assert f"{expected:.2f}" != f"{linear:.2f}"


def test_dataset_selector_after_an_upload_and_with_unsaved_edits():
    at = _run("pages/data.py")
    at.text_area(key="paste").input("study\tyi\tsei\nA\t0.1\t0.05\nB\t0.3\t0.1").run()
    at.button(key="use_paste").click().run()
    _no_errors(at)
    box = at.selectbox(key="dataset")
    assert box.value == "__yours__" and box.options[0] == "Your table"
    assert any(c.value == "Your table: **pasted table**" for c in at.sidebar.caption)
    # choosing BCG (the example shown before the paste) is a change, and loads it
    at.selectbox(key="dataset").set_value("bcg").run()
    assert at.session_state["source_name"].startswith("BCG")
    assert len(at.session_state["table"]) == 13
    # edit the table, then choose another example: asked first, nothing replaced yet
    at = _run()
    edited = at.session_state["table"].copy()
    edited.loc[0, "events_t"] = 5
    at.session_state["table"] = edited
    at.run()
    at.selectbox(key="dataset").set_value("magnesium").run()
    _no_errors(at)
    assert at.session_state["table"].loc[0, "events_t"] == 5
    assert any("Replace your edited table" in w.value for w in at.warning)
    at.button(key="dataset_keep").click().run()
    assert at.session_state["table"].loc[0, "events_t"] == 5 and not at.warning
    at.selectbox(key="dataset").set_value("magnesium").run()
    at.button(key="dataset_replace").click().run()
    _no_errors(at)
    assert len(at.session_state["table"]) == len(mc.datasets.load("magnesium"))


def test_leaving_every_study_out_says_so_without_blaming_the_data():
    at = _run()
    at.multiselect(key="leave_out").set_value(list(range(1, 14))).run()
    assert not at.exception and not at.error
    assert any("Every study is left out by the what-if picker" in w.value for w in at.warning)
    assert all(len(o) <= 45 for o in at.multiselect(key="leave_out").options)


def test_a_failed_paste_says_the_table_is_unchanged():
    at = _run("pages/data.py")
    at.text_area(key="paste").input("\n\n").run()
    at.button(key="use_paste").click().run()
    message = at.error[0].value
    assert "was not used" in message and "still BCG" in message
