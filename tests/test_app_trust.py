"""What a clinical reviewer hit (issue 23): labels leaking between tables, one I² per
setting, identities not names, presets that set every setting they concern, p-values that
never read 0. Pages under AppTest."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from tests.apptest import ROOT

TIMEOUT = 60
LABELS = {"arm_t": "HCQ/CQ", "arm_c": "Standard care", "fav_left": "Favours HCQ/CQ",
          "fav_right": "Favours standard care", "sof_outcome": "All-cause mortality",
          "sof_units": "days", "sof_comments": "Open-label trials", "report_title": "HCQ review",
          "sof_certainty": "low", "gen_label": "HR"}


def _app(page: str = "report") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _describe(at: AppTest) -> None:
    for key, value in LABELS.items():
        at.session_state[key] = value
    at.session_state["analysis_name"] = "HCQ review v1"
    at.run()
    assert not at.exception, at.exception


def _left_over(at: AppTest) -> dict:
    s = at.session_state
    return {k: s[k] for k in (*LABELS, "analysis_name")
            if k in s and s[k] not in ("", None, "auto", "not rated")}


def test_choosing_another_dataset_resets_what_described_the_old_table():
    at = _app()
    _describe(at)
    assert "All-cause mortality" in at.table[0].value.index
    at.selectbox(key="dataset").set_value("seed000").run()
    assert not at.exception, at.exception
    assert _left_over(at) == {}
    assert "All-cause mortality" not in at.table[0].value.index
    assert at.text_input(key="report_title").value == ""


def test_an_uploaded_table_does_not_inherit_the_old_labels():
    # the Data page's upload and paste both go through persist.offer -> state.set_table
    at = AppTest.from_string(
        "import pandas as pd\n"
        "import streamlit as st\n"
        "from metacore.store.project import Project\n"
        "from ui import persist, state\n"
        "state.init()\n"
        "if st.button('load', key='load'):\n"
        "    persist.offer(Project(pd.DataFrame({'study': ['a', 'b'], 'events_t': [1, 2],\n"
        "        'n_t': [10, 20], 'events_c': [3, 4], 'n_c': [10, 20]}), name='up.csv',\n"
        "        source='up.csv'), 'the uploaded file up.csv')\n",
        default_timeout=TIMEOUT).run()
    _describe(at)
    at.button(key="load").click().run()
    assert not at.exception, at.exception
    assert _left_over(at) == {}


def test_a_saved_analysis_brings_its_own_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("METACORE_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    from metacore.store import open_store
    from metacore.store.project import Project

    db = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    aid, _ = db.save(Project(table=mc.datasets.load("bcg"),
                             settings={"arm_t": "BCG", "report_title": "BCG trials"},
                             name="BCG analysis"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["analysis"] = aid
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["arm_t"] == "BCG"
    assert at.session_state["report_title"] == "BCG trials"


def test_cumulative_rows_keep_two_studies_of_the_same_name_apart():
    """Rows are identities, names are labels: two 'ARCHAIC' rows are two rows (item 6)."""
    table = mc.datasets.load("bcg").assign(study=lambda d: ["ARCHAIC"] * 2 + list(d.study[2:]))
    at = AppTest.from_file(str(ROOT / "pages" / "smallstudy.py"), default_timeout=TIMEOUT).run()
    at.session_state["table"] = table
    at.run()
    assert not at.exception, at.exception
    cu = mc.cumulative(mc.compute_effects(table, "RR"))
    assert len(cu) == 13
    spec = mc.charts.interval_rows_chart(
        pd.DataFrame({"label": [f"+ {x}" for x in cu["study"]], "est": cu["estimate"],
                      "lo": cu["ci_low"], "hi": cu["ci_high"], "group": "pooled so far"}),
        "Cumulative meta-analysis", "Risk Ratio", ratio=True).to_dict()
    data = spec["datasets"][spec["data"]["name"]]
    y = spec["layer"][0]["encoding"]["y"]
    assert len({row[y["field"]] for row in data}) == 13            # one row per study
    assert sum(row["label"] == "+ ARCHAIC" for row in data) == 2    # the names as given
    assert '"+ ARCHAIC", "+ ARCHAIC"' in y["axis"]["labelExpr"]      # and both are labelled


@pytest.mark.parametrize("page, setup", [
    ("forest", {}),
    ("sensitivity", {}),
    ("subgroups", {"mr_mods": ["ablat"]}),
])
def test_p_values_in_tables_never_read_zero(page, setup):
    """BCG's pooled p is 7e-5 (metafor: rma(measure="RR", dat.bcg) pval 7.1e-05): a table
    rounded to four decimals printed it as 0 (item 9)."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT).run()
    for key, value in setup.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    p_cols = [(d.value, c) for d in at.dataframe for c in d.value.columns
              if str(c).lower() in ("p", "pvalue", "p-value")]
    assert p_cols
    shown = [v for frame, c in p_cols for v in frame[c]]
    assert not any(isinstance(v, (int, float)) and v == 0 for v in shown), shown
    assert "< 0.0001" in shown


# What each tool does by default, for every setting a preset concerns (item 12):
# metafor 3.8: escalc(add = 1/2, to = "only0", drop00 = FALSE), rma(method = "REML",
# test = "z", level = 95), predict() gives the prediction interval; RevMan 5: DerSimonian-
# Laird, Wald z, 0.5 added to zero cells, double-zero studies "Not estimable", no prediction
# interval; Cochrane 2025 (RevMan): REML, HKSJ, prediction interval, 0.5 added to zero cells,
# double-zero studies not estimable.
TOOLS = {
    "metafor defaults": {"model": "random", "tau2_method": "REML", "ci_method": "z",
                         "level": 0.95, "cc": 0.5, "cc_to": "only0", "drop00": False,
                         "show_pi": True},
    "RevMan 5": {"model": "random", "tau2_method": "DL", "ci_method": "z", "level": 0.95,
                 "cc": 0.5, "cc_to": "only0", "drop00": True, "show_pi": False},
    "Cochrane 2025": {"model": "random", "tau2_method": "REML", "ci_method": "hksj",
                      "level": 0.95, "cc": 0.5, "cc_to": "only0", "drop00": True,
                      "show_pi": True},
}


@pytest.mark.parametrize("name", list(TOOLS))
def test_each_preset_sets_every_setting_as_the_tool_it_names(name):
    at = AppTest.from_file(str(ROOT / "pages" / "forest.py"), default_timeout=TIMEOUT).run()
    # start from the opposite of the tool on every setting, then one click
    opposite = {"model": "common", "tau2_method": "PM", "ci_method": "z", "level": 0.9,
                "cc": 0.1, "cc_to": "all", "drop00": not TOOLS[name]["drop00"],
                "show_pi": not TOOLS[name]["show_pi"]}
    for key, value in opposite.items():
        at.session_state[key] = value
    at.run()
    at.button(key=f"preset_{name}").click().run()
    assert not at.exception, at.exception
    assert {k: at.session_state[k] for k in TOOLS[name]} == TOOLS[name]


def test_mantra_never_takes_a_trial_id_as_the_population_coordinate():
    """A numeric trial id (integers, one per row) read as a coordinate gave 'P(more than
    one cluster) 98%' (item 5): it is never chosen without the user saying so."""
    table = (mc.datasets.load("bcg").drop(columns=["ablat", "year", "subgroup"])
             .assign(trial=[101, 7, 33, 2, 58, 61, 12, 9, 80, 4, 45, 3, 27]))
    at = AppTest.from_file(str(ROOT / "pages" / "mantra.py"), default_timeout=TIMEOUT).run()
    at.session_state["table"] = table
    at.run()
    assert not at.exception, at.exception
    assert "trial" not in (at.session_state["mt_coords"] or [])
    assert not at.get("vega_lite_chart")          # nothing computed from the id
    assert any("coordinate" in i.value for i in at.info)
    # the user may still choose it, and is told it looks like an identifier
    at.multiselect(key="mt_coords").set_value(["trial"]).run()
    assert not at.exception, at.exception
    assert any("identifier" in w.value for w in at.warning)


def test_id_like_columns():
    from metacore.data.table import is_id_like

    assert is_id_like(pd.Series([101, 7, 33, 2]))
    assert is_id_like(pd.Series([1.0, 2.0, 3.0, 4.0]))
    assert not is_id_like(pd.Series([44, 55, 42, 52, 13, 44]))       # latitudes repeat
    assert not is_id_like(pd.Series([0.1, 0.5, 0.7]))                 # not whole numbers
    assert not is_id_like(pd.Series(["a", "b", "c"]))
    assert not is_id_like(pd.Series([1, 2]))                          # too few to tell


@pytest.mark.parametrize("k", [8, 33, 80])
def test_coclustering_labels_fit_their_rows(k):
    """33 trials in a 380 px heat map overprinted their names (item 5)."""
    import numpy as np

    rng = np.random.default_rng(k)
    eff = mc.EffectSizes(yi=rng.normal(0, 0.3, k), vi=np.full(k, 0.04),
                         study=tuple(f"Trial {i}" for i in range(k)), measure="GEN")
    res = mc.cluster_meta(eff, mc.distances_from(np.arange(k, dtype=float)), samples=500) \
        if k > 16 else mc.cluster_meta(eff, mc.distances_from(np.arange(k, dtype=float)))
    spec = mc.charts.coclustering_chart(res, list(range(k)), size=380).to_dict()
    for axis in ("x", "y"):
        ax = spec["encoding"][axis]["axis"]
        band = 380 / k
        assert ax["labelFontSize"] <= max(band, 7)
        assert (ax.get("labelOverlap") == "parity") == (band < 8)


def test_whole_number_codes_read_as_whole_numbers_and_authors_label_numbered_studies():
    """'1.0 1996' and subgroups '1.0 / 2.0 / 3.0' (item 14): a numbered study takes the
    author column as its label; whole-number codes are written without '.0'."""
    table = pd.DataFrame({
        "study": [1, 2, 3, None], "author": ["Smith", "Jones", "Lee", "Khan"],
        "year": [1996, 1998, 2001, 2003], "events_t": [4, 6, 3, 9], "n_t": [50, 60, 40, 70],
        "events_c": [8, 9, 5, 12], "n_c": [50, 61, 42, 70], "subgroup": [1, 2, 3, None],
        "dose": [1.0, 2.0, 2.0, None]})
    st_ = mc.standardize(table)
    assert list(st_.data["study"]) == ["Smith", "Jones", "Lee", "Khan"]
    assert list(st_.data["subgroup"][:3]) == ["1", "2", "3"]
    assert pd.isna(st_.data["subgroup"][3])
    eff = mc.compute_effects(table, "OR")
    sg = mc.subgroups(eff, "dose", tau2_method="DL")
    assert list(sg.groups) == ["1", "2"]
    assert st_.mapping.get("author") == "study" and "study" not in st_.mapping


def test_a_hand_mapping_of_the_study_column_is_respected():
    table = pd.DataFrame({"study": [1, 2, 3], "author": ["Smith", "Jones", "Lee"],
                          "yi": [0.1, 0.2, 0.3], "sei": [0.1, 0.1, 0.1]})
    st_ = mc.standardize(table, {"study": "study"})
    assert list(st_.data["study"]) == ["1", "2", "3"]


def test_a_table_of_the_wrong_kind_is_told_what_is_missing_in_words():
    """Single-arm counts mapped to arm 1 got '2x2 (2x2) ... has data for: none' (item 15)."""
    table = pd.DataFrame({"study": ["a", "b"], "xi": [3, 5], "ni": [20, 30]})
    with pytest.raises(mc.MeasureError) as err:
        mc.compute_effects(table.rename(columns={"xi": "events_t", "ni": "n_t"}), "OR")
    text = str(err.value)
    assert "Events (arm 2)" in text and "Total (arm 2)" in text
    assert "Events (arm 1)" in text                       # what it has, in words too
    assert "none" not in text and "events_c" not in text


HCQ = pd.DataFrame({"id": [1, 2, 3], "author": ["RECOVERY", "SOLIDARITY", "ORCHID"],
                    "year": [2020, 2020, 2020], "hcq_arm_event": [421, 104, 25],
                    "hcq_arm_total": [1561, 947, 241], "control_arm_event": [790, 84, 25],
                    "control_arm_total": [3155, 906, 236], "hcq_cq": ["HCQ", "HCQ", "HCQ"]})


def test_unrecognised_count_columns_are_suggested_from_their_names():
    from metacore.data.table import suggest_mapping

    cols = list(HCQ.columns)
    assert suggest_mapping(cols) == {"hcq_arm_event": "events_t", "hcq_arm_total": "n_t",
                                     "control_arm_event": "events_c",
                                     "control_arm_total": "n_c"}
    assert suggest_mapping(["deaths_placebo", "n_placebo", "deaths_drug", "n_drug"]) == {
        "deaths_placebo": "events_c", "n_placebo": "n_c", "deaths_drug": "events_t",
        "n_drug": "n_t"}
    assert suggest_mapping(["log_hr_est", "se_of_log_hr"]) == {"log_hr_est": "yi",
                                                               "se_of_log_hr": "sei"}
    assert suggest_mapping(["colour", "weather"]) == {}


def test_the_message_lists_every_column():
    cols = {f"c{i}": [1, 2] for i in range(12)}
    with pytest.raises(mc.DataError) as err:
        mc.standardize(pd.DataFrame(cols))
    assert "c11" in str(err.value)          # not cut at 8 columns


def test_data_page_opens_the_mapping_with_suggestions_in_words():
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    at.session_state["table"] = HCQ                              # as a fresh upload: the
    at.session_state["editor_version"] += 1                     # editor is mounted anew
    at.run()
    assert not at.exception, at.exception
    assert at.expander[0].proto.expanded                       # the mapping is open
    text = " ".join(i.value for i in at.info)
    assert "Events (arm 1)" in text and "Total (arm 2)" in text
    box = next(b for b in at.selectbox if b.label.replace("\\", "").startswith("hcq_arm_event"))
    assert "Events (arm 1)" in box.options and "events_t" not in box.options
    at.button(key="map_suggested").click().run()
    assert not at.exception, at.exception
    assert at.session_state["mapping"]["control_arm_total"] == "n_c"
    assert at.success and "RR" in at.success[0].value          # analysed now


@pytest.mark.parametrize("n_subsets", [300, 9000])
def test_gosh_ticks_do_not_overprint(n_subsets):
    """GOSH's log axis drew '0.50.6' (item 16): explicit ticks, thinned for the width."""
    from metacore.report.charts.common import label_px

    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    g = mc.gosh(eff, subsets=n_subsets)
    spec = mc.charts.gosh_chart(g, highlight=0, label="Aronson", ratio=True,
                                measure="RR", width=460).to_dict()
    axis = (spec.get("encoding") or spec["layer"][0]["encoding"])["x"]["axis"]
    ticks = axis["values"]
    lo, hi = spec.get("encoding", {}).get("x", {}).get("scale", {}).get("domain") or \
        (ticks[0], ticks[-1])
    import math

    px = [460 * (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) for v in ticks]
    gaps = [b - a for a, b in zip(px, px[1:], strict=False)]
    need = [(label_px(a) + label_px(b)) / 2 for a, b in zip(ticks, ticks[1:], strict=False)]
    assert all(g >= n for g, n in zip(gaps, need, strict=True)), (ticks, gaps)


def test_subgroup_plot_follows_style_labels_and_measure_name():
    """The subgroup plot ignored the journal style, the favours labels and a generic
    effect's name ('Effect size' for hazard ratios), and cut its subtitle (item 16)."""
    import json

    table = mc.datasets.load("bcg")
    eff = mc.compute_effects(table, "RR")
    gen = mc.compute_effects(pd.DataFrame({"yi": eff.yi, "vi": eff.vi, "study": eff.study,
                                           "subgroup": eff.data["subgroup"]}), "GEN",
                             scale="log", label="HR")
    sg = mc.subgroups(gen, "subgroup", tau2_method="REML", ci_method="hksj")
    spec = mc.charts.subgroup_forest_chart(gen, sg, favours=("Favours BCG", "Favours none"),
                                           style="journal", font="serif").to_dict()
    text = json.dumps(spec)
    assert "Hazard ratio" in text and "Effect size" not in text
    assert "#b45309" not in text and "#1d4ed8" not in text            # black and white
    assert "Times New Roman" in text and "Favours BCG" in text
    subtitle = spec["title"]["subtitle"]
    assert isinstance(subtitle, list) and any("k = 13" in line for line in subtitle)
    colour = json.dumps(mc.charts.subgroup_forest_chart(gen, sg, style="colour").to_dict())
    assert "#b45309" in colour


def test_replace_question_appears_beside_the_upload_not_in_the_sidebar():
    """'Replace your table?' showed in the sidebar, far from the upload (item 16)."""
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    edited = at.session_state["table"].copy()
    edited.loc[0, "events_t"] = 5                              # an unsaved edit
    at.session_state["editor_base"] = edited
    at.run()
    at.text_area(key="paste").input("study\tyi\tsei\nA\t0.1\t0.2\nB\t0.3\t0.1\n").run()
    at.button(key="use_paste").click().run()
    assert not at.exception, at.exception
    main = [w.value for w in at.main.warning]
    assert any("Replace your edited table" in w for w in main)
    assert not any("Replace your edited table" in w.value for w in at.sidebar.warning)
    at.button(key="load_replace").click().run()
    assert list(at.session_state["table"]["study"]) == ["A", "B"]


def test_a_long_method_header_wraps_instead_of_overprinting():
    """The two 'IV, Random (REML, HKSJ), 95% CI' headers overprinted at 1024-1280 px
    (item 16): a method longer than the effect column wraps before its level."""
    import json

    from metacore.report.charts.revman import publication_forest

    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    texts = []
    for ci in ("hksj", "z"):
        spec = json.dumps(publication_forest(eff, mc.pool(eff, ci_method=ci)).to_dict())
        texts.append(spec)
    assert '"IV, Random (REML, HKSJ), 95% CI"' not in texts[0]
    assert texts[0].count('"IV, Random (REML, HKSJ),"') == 2 and '"95% CI"' in texts[0]
    assert texts[1].count('"IV, Random (REML),"') == 2


def test_a_project_file_brings_its_name_and_labels():
    at = AppTest.from_string(
        "import streamlit as st\n"
        "import metacore as mc\n"
        "from metacore.store.project import Project\n"
        "from ui import persist\n"
        "from ui.page import setup\n"
        "setup()\n"
        "if st.button('open', key='open'):\n"
        "    persist.offer(Project(mc.datasets.load('seed000'), name='Course example',\n"
        "                  settings={'arm_t': 'Treated', 'report_title': 'Lecture 1'}),\n"
        "                  'the project file x.json', keep_settings=False)\n",
        default_timeout=TIMEOUT).run()
    _describe(at)
    at.button(key="open").click().run()
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["analysis_name"] == "Course example"
    assert at.session_state["arm_t"] == "Treated"
    assert at.session_state["report_title"] == "Lecture 1"
    assert at.session_state["fav_left"] == ""


def test_a_single_group_measure_on_a_2x2_table_says_what_is_missing_in_words():
    with pytest.raises(mc.MeasureError) as err:
        mc.compute_effects(mc.datasets.load("bcg"), "PLO")
    text = str(err.value)
    assert "single-group proportions" in text and "Events (one group)" in text
    from metacore.data.table import ALIASES, COLUMN_WORDS

    assert set(ALIASES) <= set(COLUMN_WORDS)        # every mapping option has words
