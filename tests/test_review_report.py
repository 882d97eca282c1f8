"""The whole-review report and the publication forest's risk-of-bias columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import metacore as mc
from metacore.report.charts.revman import publication_forest
from metacore.report.review_report import review_html, review_script

RM5 = Path(__file__).parent / "reference" / "revman" / "review_full.rm5"
REV = mc.read_revman(RM5)
ROBVIS = pd.DataFrame({"Study": ["Adams 1998", "Chen 2010"], "D1": ["Low", "Low"],
                       "D2": ["Low", "High"], "D3": ["Low", "Low"],
                       "D4": ["Low", "Some concerns"], "D5": ["Low", "Low"],
                       "Overall": ["Low", "High"]})


def test_forest_draws_a_lettered_circle_per_judgement_at_the_right_edge():
    rev = REV.with_robvis(ROBVIS, "rob2", "CMP-001.01")
    o = rev.outcome("CMP-001.01")
    table = rev.rob_table("rob2", o.id, weights=False)
    spec = publication_forest(o.effects(), o.analyse(), rob=table, width=900).to_dict()
    rows = {r["label"]: r for r in spec["datasets"]["rows"] if r["kind"] == "study"}
    assert [rows["Chen 2010"][f"rob{j}"] for j in range(6)] == ["L", "H", "L", "S", "L", "H"]
    assert rows["Chen 2010"]["rc1"] == "#BF0000" and rows["Adams 1998"]["rc5"] == "#02C100"
    assert rows["Brown 2003"]["rob0"] == ""            # not assessed: no circle
    plain = publication_forest(o.effects(), o.analyse(), width=900).to_dict()
    assert "rob0" not in plain["datasets"]["rows"][0]


def test_review_report_holds_every_outcome_sof_and_one_r_script():
    rev = REV.with_robvis(ROBVIS, "rob2", "CMP-001.01")
    drawn = []
    page = review_html(rev, render=lambda spec: drawn.append(spec) or "<svg></svg>")
    assert page.count('<div class="forest">') == len(rev.outcomes) == 9
    assert page.count("<h2>Summary of findings:") == len(rev.comparisons)
    assert "RoB 2: risk of bias by study" in str(drawn) and "https://" not in page
    script = review_script(rev)
    assert script.count("res <- ") == len(rev.outcomes)
    assert script.count("rma.mh(") == sum(o.method == "MH" and o.model == "common"
                                          for o in rev.outcomes)
    assert "<script" not in page.lower()
