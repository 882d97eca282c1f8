"""Risk of bias: RoB 2's algorithm on every combination of domain judgements, the other
tools' suggestions, overrides with reasons, robvis tables, and the robvis-style charts."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

import metacore as mc
from metacore.report.charts.rob import ROB_COLOURS, rob_summary_chart, traffic_light_chart
from metacore.review.rob import TOOLS, RobAssessment, RobTable, read_robvis, suggested_overall

ROB2 = TOOLS["rob2"].levels


@pytest.mark.parametrize("combo", list(itertools.product(ROB2, repeat=5)))
def test_rob2_algorithm_on_every_combination(combo):
    # Sterne et al. 2019: any High -> High; otherwise any Some concerns -> Some concerns;
    # otherwise Low.
    expected = "High" if "High" in combo else "Some concerns" if "Some concerns" in combo \
        else "Low"
    a = RobAssessment.build("s", "rob2", list(combo))
    assert a.overall.level == expected == a.suggestion and not a.overridden


def test_rob2_override_needs_a_reason():
    levels = ["Some concerns"] * 3 + ["Low"] * 2
    with pytest.raises(mc.OptionError, match="give the reason"):
        RobAssessment.build("Trial A", "rob2", levels, overall="High")
    a = RobAssessment.build("Trial A", "rob2", levels, overall="High",
                            reason="Concerns in three domains together lower confidence")
    assert a.overall.level == "High" and a.overridden and a.suggestion == "Some concerns"
    assert a.with_overall("Some concerns").override_reason == ""


def test_robins_i_every_combination_of_three_domains():
    levels = TOOLS["robins-i"].levels
    rank = {"Low": 0, "Moderate": 1, "Serious": 3, "Critical": 4}
    for combo in itertools.product(levels, repeat=3):
        full = list(combo) + ["Low"] * 4
        known = [x for x in full if x != "No information"]
        worst = max(known, key=rank.get)
        if "No information" in full and rank[worst] < 3:
            worst = "No information"
        assert suggested_overall("robins-i", full) == worst


@pytest.mark.parametrize("tool", ["rob1", "quadas2"])
def test_rob1_and_quadas2_worst_of(tool):
    t = TOOLS[tool]
    for combo in itertools.product(t.levels, repeat=len(t.domains)):
        expected = "High" if "High" in combo else "Unclear" if "Unclear" in combo else "Low"
        assert suggested_overall(tool, combo) == expected


def test_wrong_words_and_counts_are_named():
    with pytest.raises(mc.DataError, match="'Serious' is not a RoB 2 judgement"):
        RobAssessment.build("Trial B", "rob2", ["Low", "Serious", "Low", "Low", "Low"])
    with pytest.raises(mc.OptionError, match="5 domains; 4"):
        RobAssessment.build("Trial B", "rob2", ["Low"] * 4)
    with pytest.raises(mc.OptionError, match="not a result"):
        RobAssessment.build("Trial B", "rob1", ["Low"] * 7, outcome_id="o1")
    with pytest.raises(mc.OptionError, match="Unknown risk-of-bias tool"):
        RobAssessment.build("Trial B", "rob3", ["Low"] * 5)


ROBVIS = pd.DataFrame({
    "Study": ["Study 1", "Study 2", "Study 3", "Study 4"],
    "D1": ["Low", "Some concerns", "Low", "High"],
    "D2": ["Low", "Low", "low", "Low"],
    "D3": ["Low", "Low", "Some concerns", "Low"],
    "D4": ["Low", "Low", "Low", "Low"],
    "D5": ["Low", "Low", "Low", "Low"],
    "Overall": ["Low", "Some concerns", "High", "High"],
    "Weight": [33.3, 33.3, 20.0, 13.4]})


def test_read_robvis_table():
    t = read_robvis(ROBVIS, "rob2")
    assert [a.overall.level for a in t.assessments] == ["Low", "Some concerns", "High", "High"]
    assert t.assessments[2].overridden and "uploaded" in t.assessments[2].override_reason
    assert t.weights == (33.3, 33.3, 20.0, 13.4)
    back = t.to_frame()
    assert back["D2"].tolist() == ["Low"] * 4 and back["Overall"].tolist()[2] == "High"
    shares = t.shares()
    overall = shares[shares["domain"] == "Overall risk of bias"].set_index("level")["share"]
    assert overall["High"] == pytest.approx(33.4 / 100.0)
    assert overall.sum() == pytest.approx(1.0)
    unweighted = t.shares(weighted=False)
    assert unweighted[unweighted["domain"] == "Overall risk of bias"] \
        .set_index("level")["share"]["High"] == 0.5


def test_read_robvis_errors_name_row_and_column():
    bad = ROBVIS.copy()
    bad.loc[1, "D3"] = "Maybe"
    with pytest.raises(mc.DataError, match=r"Row 2 \(Study 2\), D3: 'Maybe'"):
        read_robvis(bad, "rob2")
    with pytest.raises(mc.DataError, match="missing: D5"):
        read_robvis(ROBVIS.drop(columns="D5"), "rob2")
    bad = ROBVIS.copy()
    bad.loc[0, "Weight"] = -1
    with pytest.raises(mc.DataError, match="Row 1 .*weight"):
        read_robvis(bad, "rob2")


def test_traffic_light_chart_has_colours_and_letters():
    t = read_robvis(ROBVIS, "rob2")
    spec = traffic_light_chart(t).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 4 * 6
    assert {r["letter"] for r in rows} == {"L", "S", "H"}
    dots, text = spec["layer"]
    assert dots["mark"]["type"] == "circle" and text["encoding"]["text"]["field"] == "letter"
    colours = dots["encoding"]["color"]["scale"]
    assert colours["domain"] == ["Low", "Some concerns", "High"]
    assert colours["range"] == [ROB_COLOURS[x] for x in colours["domain"]]


def test_summary_chart_shares():
    t = read_robvis(ROBVIS, "rob2")
    spec = rob_summary_chart(t).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 6 * 3
    d1 = {r["level"]: r["percent"] for r in rows if r["domain"].startswith("Bias arising")}
    assert d1 == pytest.approx({"Low": 53.3, "Some concerns": 33.3, "High": 13.4})
    assert "weight" in spec["layer"][0]["encoding"]["x"]["title"]


def test_review_rob_table_uses_the_outcome_weights():
    from pathlib import Path
    rev = mc.read_revman(Path(__file__).parent / "reference" / "revman" / "review_full.rm5")
    table = rev.rob_table("rob1", "CMP-001.01")
    weights = dict(zip([a.study_id for a in table.assessments], table.weights, strict=True))
    res = rev.outcome("CMP-001.01").analyse()
    assert sum(weights.values()) == pytest.approx(100.0)
    assert weights["STD-Adams-1998"] == pytest.approx(res.weights[0])
    assert isinstance(table, RobTable) and dict(table.names)["STD-Adams-1998"] == "Adams 1998"


def test_review_takes_a_robvis_table_by_study_name():
    from pathlib import Path
    rev = mc.read_revman(Path(__file__).parent / "reference" / "revman" / "review_full.rm5")
    frame = ROBVIS.assign(Study=["Adams 1998", "Brown 2003", "Chen 2010", "Diaz 2015"])
    rev = rev.with_robvis(frame, "rob2", outcome_id="CMP-001.01")
    table = rev.rob_table("rob2", "CMP-001.01")
    assert [a.study_id for a in table.assessments] == ["STD-Adams-1998", "STD-Brown-2003",
                                                       "STD-Chen-2010", "STD-Diaz-2015"]
    assert table.assessments[3].overall.level == "High"
    assert mc.review_from_json(mc.review_to_json(rev)) == rev
    with pytest.raises(mc.DataError, match="does not have: Study 1"):
        rev.with_robvis(ROBVIS, "rob2")
