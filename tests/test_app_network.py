"""The Network meta-analysis page under AppTest: the numbers shown are the engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from tests.apptest import run_page


@pytest.fixture(scope="module")
def senn() -> AppTest:
    return run_page("network")


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _estimates(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if list(d.value.columns[:2]) == ["treatment",
                                                                                "estimate"])


def _check_estimates(at: AppTest, nm: mc.NetworkResult) -> None:
    shown = _estimates(at).set_index("treatment")
    want = (nm.natural()["estimates"] if nm.ratio else nm.estimates).set_index("treatment")
    assert list(shown.index) == list(want.index)
    for c in ("estimate", "ci_low", "ci_high"):
        np.testing.assert_allclose(shown[c].to_numpy(float), want[c].to_numpy(float),
                                   atol=5e-5)


def test_bundled_network_shows_the_engine_numbers(senn):
    at = senn
    assert not at.exception and not at.error
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    m = _metrics(at)
    assert (m["Treatments"], m["Studies"], m["Multi-arm studies"]) == ("10", "26", "1")
    assert m["τ²"] == f"{nm.tau2:.4f}" == "0.0999"          # metafor rma.mv REML: 0.0999
    assert m[f"Q ({nm.q_df} df)"] == f"{nm.q:.2f}" == "96.98"
    _check_estimates(at, nm)
    # graph, forest, league, ranking, rankogram, funnel
    assert len(at.get("vega_lite_chart")) == 6
    ranks = _frame(at, "pscore").set_index("treatment")
    np.testing.assert_allclose(ranks["pscore"], nm.pscores("good")[ranks.index], atol=5e-5)
    assert ranks.index[0] == "rosiglitazone"
    decomp = _frame(at, "source").set_index("source")
    np.testing.assert_allclose(decomp["q"].iloc[:3], [96.98, 74.45, 22.53], atol=0.005)
    split = _frame(at, "prop_direct")
    assert len(split) == len(mc.netsplit(nm))
    assert any("over-read" in w.value for w in at.warning)
    assert "rma.mv" in mc.network_script(nm)


def test_sidebar_settings_apply_and_are_mapped(senn):
    at = senn
    at.radio(key="ci_method").set_value("hksj").run()
    at.selectbox(key="tau2_method").set_value("PM").run()
    assert not at.exception and not at.error
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo",
                    tau2_method="REML", ci_method="hksj")
    _check_estimates(at, nm)
    assert any("PM has no network form here, so REML is used" in c.value for c in at.caption)
    at.selectbox(key="tau2_method").set_value("DL").run()
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo",
                    tau2_method="DL", ci_method="hksj")
    _check_estimates(at, nm)
    at.radio(key="model").set_value("common").run()
    at.radio(key="ci_method").set_value("z").run()
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo", model="common")
    _check_estimates(at, nm)
    assert _metrics(at)["τ²"] == "0 (common)"


def test_what_if_leaves_treatments_and_studies_out():
    at = run_page("network")
    data = mc.datasets.load("senn2013")
    at.multiselect(key="nm_drop_treatments").set_value(["metformin"]).run()
    at.multiselect(key="nm_drop_studies").set_value(["Willms (1999)"]).run()
    assert not at.exception and not at.error
    kept = data[(data.treatment != "metformin") & (data.study != "Willms (1999)")]
    nm = mc.network(kept, "MD", reference="placebo")
    _check_estimates(at, nm)
    assert _metrics(at)["Studies"] == str(nm.n_studies)
    assert "metformin" not in set(_frame(at, "pscore")["treatment"])
    # the reference left out: the most studied remaining treatment takes its place
    at.selectbox(key="nm_reference").set_value("acarbose").run()
    at.multiselect(key="nm_drop_treatments").set_value(["acarbose"]).run()
    assert not at.exception and not at.error
    kept = data[(data.treatment != "acarbose") & (data.study != "Willms (1999)")]
    _check_estimates(at, mc.network(kept, "MD"))


def test_binary_network_with_the_sidebar_measure_and_direction():
    at = run_page("network")
    at.selectbox(key="nm_dataset").set_value("hasselblad1998").run()
    assert not at.exception and not at.error
    # the sidebar's measure (RR for the default BCG table) fits a binary network
    assert at.selectbox(key="nm_measure").value == "RR"
    at.selectbox(key="nm_measure").set_value("OR").run()
    at.selectbox(key="nm_reference").set_value("no_contact").run()
    nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    _check_estimates(at, nm)
    # events are people who stopped smoking: larger odds ratios are better
    assert at.radio(key="nm_small").value == "bad"
    ranks = _frame(at, "pscore").set_index("treatment")
    assert ranks.index[0] == "grp_counseling"
    np.testing.assert_allclose(ranks["pscore"], nm.pscores("bad")[ranks.index], atol=5e-5)
    assert any("was added to events and non\\-events" in c.value for c in at.caption)


def test_pasted_contrast_table_is_analysed():
    at = run_page("network")
    arms = mc.datasets.load("senn2013")
    nm0 = mc.network(arms, "MD", reference="placebo")
    # the contrast form of a small part: study, treatment1, treatment2, yi, sei
    rows = [("A", "drug", "placebo", -0.8, 0.20), ("B", "drug", "placebo", -0.6, 0.25),
            ("C", "other", "placebo", -0.3, 0.30), ("D", "other", "drug", 0.4, 0.22),
            ("E", "third", "drug", 0.1, 0.35), ("E", "third", "placebo", -0.6, 0.36),
            ("E", "drug", "placebo", -0.7, 0.30)]
    text = "studlab\ttreat1\ttreat2\tTE\tseTE\n" + "\n".join(
        "\t".join(str(v) for v in r) for r in rows)
    at.text_area(key="nm_paste").set_value(text).run()
    at.button(key="nm_use_paste").click().run()
    assert not at.exception and not at.error
    frame = pd.DataFrame(rows, columns=["studlab", "treat1", "treat2", "TE", "seTE"])
    nm = mc.network(frame, "GEN")          # reference: the most studied (automatic)
    _check_estimates(at, nm)
    assert nm0.tau2 != nm.tau2
    assert any("one row per comparison" in c.value for c in at.caption)


def test_a_table_that_is_no_network_or_falls_apart_gets_a_message():
    at = run_page("network")
    at.text_area(key="nm_paste").set_value("study\tyi\tvi\nA\t0.1\t0.01").run()
    at.button(key="nm_use_paste").click().run()
    assert not at.exception
    assert "not recognised as a network" in at.error[0].value
    split = ("study\ttreatment\tevents\tn\nS1\ta\t10\t100\nS1\tb\t15\t100\n"
             "S2\tc\t12\t90\nS2\td\t20\t95")
    at.text_area(key="nm_paste").set_value(split).run()
    at.button(key="nm_use_paste").click().run()
    assert not at.exception
    assert "not connected" in at.error[0].value and "sub" in at.error[0].value


# --- the chart builders, through their specs -------------------------------------------

def _layers(spec: dict) -> list[dict]:
    return spec["layer"]


def test_chart_specs_hold_the_network():
    from metacore.report.charts import network as C

    nm = mc.network(mc.datasets.load("hasselblad1998"), "OR", reference="no_contact")
    graph = C.network_graph_chart(nm).to_dict()
    nodes = pd.DataFrame(graph["datasets"]["nodes"]).set_index("treatment")
    assert nodes.loc["no_contact", "size"] == nm.geometry.treatments.set_index(
        "treatment").loc["no_contact", "participants"]
    assert len(graph["datasets"]["edges"]) == 2 * len(nm.geometry.edges)
    # two three-arm trials, three corners each
    assert len(graph["datasets"]["multi"]) == 6
    league = C.league_chart(mc.league_grid(nm), nm).to_dict()
    cells = pd.DataFrame(league["datasets"]["cells"])
    assert len(cells) == 12 and len(league["datasets"]["diag"]) == 4
    hit = cells[(cells["row"] == "grp_counseling") & (cells["col"] == "no_contact")].iloc[0]
    want = nm.natural()["league"].set_index(["t1", "t2"]).loc[("grp_counseling", "no_contact")]
    assert hit["estimate"] == pytest.approx(want["estimate"], abs=1e-12)
    forest = C.network_forest_chart(nm).to_dict()
    x = next(layer["encoding"]["x"] for layer in _layers(forest)
             if layer["mark"]["type"] == "rule" and "x2" in layer["encoding"])
    assert x["scale"]["type"] == "log"
    gram = C.rankogram_chart(nm.rank_probabilities("bad", n_sim=1000)).to_dict()
    assert len(next(iter(gram["datasets"].values()))) == 16
    funnel = C.comparison_funnel_chart(mc.comparison_adjusted(nm), nm).to_dict()
    assert sum(len(v) for v in funnel["datasets"].values()) >= 28



def test_leave_one_out_of_a_chosen_comparison():
    at = run_page("network")
    at.selectbox(key="nm_loo_t1").set_value("metformin").run()
    at.selectbox(key="nm_loo_t2").set_value("placebo").run()
    at.radio(key="nm_loo_by").set_value("design").run()
    assert not at.exception and not at.error
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    want = mc.network_leave_one_out(nm, "metformin", "placebo", by="design")
    shown = _frame(at, "omitted")
    assert list(shown["omitted"]) == list(want["omitted"])
    np.testing.assert_allclose(shown["estimate"], want["estimate"], atol=5e-5)
    # the same treatment on both sides is never offered
    at.selectbox(key="nm_loo_t1").set_value("placebo").run()
    assert at.selectbox(key="nm_loo_t2").value != "placebo"
    assert not at.exception


def test_modified_hksj_choices_map_to_the_networks_hksj_with_a_note():
    from ui import dependence, network

    model, tau2, ci, notes = network.mapped_settings("random", "REML", "hksj-adhoc")
    assert (model, tau2, ci) == ("random", "REML", "hksj") and "modified HKSJ" in notes[0]
    assert network.mapped_settings("random", "DL", "z")[2:] == ("z", [])
    tau2, ml_ci, notes = dependence.mapped_settings("REML", "hksj-se")
    assert ml_ci == "t" and "Hartung-Knapp" in notes[0]
