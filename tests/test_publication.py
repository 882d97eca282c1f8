"""Issue 10: the RevMan-style forest plot, ratios that are recognised, the summary of
findings, the results record, the HTML report and the report page."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from metacore.report.charts.revman import heterogeneity_line, overall_line, publication_forest
from metacore.review.sof import corresponding_risk, nnt_text

ROOT = Path(__file__).resolve().parents[1]


def _dumps(spec: dict) -> str:
    return json.dumps(spec, ensure_ascii=False)


def _bcg():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    return eff, mc.pool(eff)


def chart_text(element) -> str:
    """Every text in an AppTest chart: the spec and its Arrow datasets."""
    proto = element.proto
    parts = [proto.spec]
    for d in proto.datasets:
        table = pa.ipc.open_stream(io.BytesIO(d.data.data)).read_all().to_pandas()
        parts.append(table.to_csv(index=False))
    return "\n".join(parts)


# --- lines under the plot, in RevMan's words -----------------------------------------------

def test_heterogeneity_and_overall_lines_bcg():
    # metafor: rma(measure="RR", dat.bcg) -> tau2 0.3132, Q 152.2330 (df 12), I2 92.22%,
    # z -3.9700, p 7.2e-05
    _, res = _bcg()
    assert heterogeneity_line(res) == ("Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12 "
                                       "(P < 0.0001); I² = 92%")
    assert overall_line(res) == "Test for overall effect: Z = 3.97 (P < 0.0001)"


def test_overall_line_uses_t_under_hksj_and_common_has_no_tau():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.pool(eff, ci_method="hksj")
    assert overall_line(res).startswith("Test for overall effect: t = ")
    assert ", df = 12 (P = " in overall_line(res)
    common = mc.pool(eff, model="common")
    assert "Tau²" not in heterogeneity_line(common)


def test_publication_forest_binary_columns_and_rows():
    eff, res = _bcg()
    spec = _dumps(publication_forest(eff, res, arms=("Vaccine", "Control")).to_dict())
    for text in ("Events", "Total", "Weight", "Vaccine", "Study or Subgroup", "Risk Ratio",
                 "IV, Random (REML),", "95% CI", "Total events", "Heterogeneity: Tau² = 0.31",
                 "Test for overall effect: Z = 3.97", "Prediction interval",
                 "Favours experimental"):
        assert text in spec, text
    rows = publication_forest(eff, res).to_dict()["datasets"]["rows"]
    total = next(r for r in rows if r["kind"] == "total")
    assert total["n_t"] == "191\u2009064" and total["weight_text"] == "100.0%"
    assert total["ci_text"] == "0.49 [0.34, 0.70]"
    first = rows[0]
    assert (first["events_t"], first["n_t"], first["events_c"], first["n_c"]) == \
        ("4", "123", "11", "139")
    # weights add up to 100
    assert sum(r["weight"] for r in rows if r["kind"] == "study") == pytest.approx(100)


def test_publication_forest_continuous_generic_and_styles():
    eff = mc.compute_effects(mc.datasets.load("stroke"), "SMD")
    spec = _dumps(publication_forest(eff, mc.pool(eff), style="colour").to_dict())
    assert '"Mean"' in spec and '"SD"' in spec and "Std. Mean Difference" in spec
    hr = pd.DataFrame({"study": ["A", "B"], "log_hr": [-0.2, 0.1], "se": [0.1, 0.2]})
    e = mc.compute_effects(hr, "GEN", scale="log", label="HR")
    spec = publication_forest(e, mc.pool(e), style="journal", font="serif").to_dict()
    text = _dumps(spec)
    assert "Hazard Ratio" in text and "log[HR]" in text and "Times New Roman" in text
    scales = [layer["encoding"]["x"]["scale"] for layer in spec["layer"]
              if "x" in layer.get("encoding", {}) and "scale" in layer["encoding"]["x"]]
    assert scales and all(s["type"] == "log" for s in scales)
    # journal style: nothing but black, white and grey
    colours = set(re.findall(r'"(#[0-9a-fA-F]{6})"', text))
    assert colours <= {"#000000", "#555555", "#9ca3af"}, colours


def test_publication_forest_is_responsive_and_exports_fixed():
    eff, res = _bcg()
    spec = publication_forest(eff, res).to_dict()
    assert spec["width"] == "container"
    bp = next(p for p in spec["params"] if p["name"] == "bp")["expr"]
    assert "width >= 960" in bp and "width >= 520" in bp
    assert publication_forest(eff, res, width=1000).to_dict()["width"] == 1000


@pytest.mark.parametrize("k", [3, 80])
def test_publication_forest_renders_at_k(k):
    import vl_convert as vlc

    table = mc.datasets.load("simulated80").head(k)
    eff = mc.compute_effects(table, "RR")
    spec = publication_forest(eff, mc.pool(eff), width=1000).to_dict()
    svg = vlc.vegalite_to_svg(spec)
    assert svg.count("Trial ") >= k
    # the view is exactly as wide as asked: nothing hidden widens it
    assert re.search(r'width="(\d+)"', svg).group(1) in {"1000", "1010"}
    png = vlc.vegalite_to_png(publication_forest(eff, mc.pool(eff), width=380).to_dict())
    assert int.from_bytes(png[16:20], "big") <= 400


def test_clipped_intervals_get_arrows():
    # a log odds ratio of -12: its interval runs beyond the four decades drawn
    t = pd.DataFrame({"study": ["A", "B"], "yi": [-12.0, 0.1], "sei": [1.0, 0.2]})
    eff = mc.compute_effects(t, "GEN", scale="log", label="OR")
    rows = publication_forest(eff, mc.pool(eff)).to_dict()["datasets"]["rows"]
    a = rows[0]
    assert a["lo"] < a["lo_c"] and a["clip_lo"]


def test_png_at_300_dpi_records_its_resolution():
    from metacore.report.render import to_image

    eff, res = _bcg()
    png = to_image(publication_forest(eff, res, width=1000).to_dict(), "png", dpi=300)
    width = int.from_bytes(png[16:20], "big")
    assert width == pytest.approx(1010 * 300 / 96, abs=4)
    i = png.find(b"pHYs")
    assert int.from_bytes(png[i + 4:i + 8], "big") == 11811     # 300 dpi in px per metre


# --- ratios are recognised ---------------------------------------------------------------

@pytest.mark.parametrize("frame, scale, label", [
    ({"HR": [0.8, 1.3], "lower": [0.6, 0.9], "upper": [1.07, 1.88]}, "ratio", "HR"),
    ({"Odds ratio": [0.8, 1.3], "se": [0.1, 0.2]}, "ratio", "OR"),
    ({"estimate": [0.8, 1.3], "lower": [0.6, 0.9], "upper": [1.07, 1.88]}, "ratio", "RATIO"),
    ({"log HR": [-0.2, 0.3], "SE": [0.1, 0.2]}, "log", "HR"),
    ({"lnOR": [-0.2, 0.3], "SE": [0.1, 0.2]}, "log", "OR"),
    ({"O-E": [-3.2, 1.5], "Variance": [10.0, 8.0]}, "log", "HR"),
    ({"yi": [0.8, 1.3], "lower": [0.6, 1.1], "upper": [1.0, 1.5]}, "linear", ""),
    ({"RR": [-0.1, 0.3], "se": [0.1, 0.2]}, "linear", ""),
    ({"yi": [0.22, 0.35], "sei": [0.12, 0.15]}, "linear", ""),
])
def test_generic_scale_is_read_from_the_table(frame, scale, label):
    got = mc.generic_scale(mc.standardize(pd.DataFrame(frame)))
    assert got[:2] == (scale, label)


def test_o_minus_e_and_variance_give_log_hazard_ratios():
    t = pd.DataFrame({"study": ["a", "b"], "O-E": [-3.2, 1.5], "Variance": [10.0, 8.0]})
    eff = mc.compute_effects(t, "GEN", scale="log", label="HR")
    np.testing.assert_allclose(eff.yi, [-0.32, 0.1875])
    np.testing.assert_allclose(eff.vi, [0.1, 0.125])
    assert eff.ratio and eff.name == "Hazard ratio"
    res = mc.pool(eff, model="common")
    w = 1 / eff.vi
    assert res.natural()["estimate"] == pytest.approx(np.exp((w @ eff.yi) / w.sum()))
    assert res.name == "Hazard ratio"


def test_natural_ratio_and_log_input_give_the_same_analysis():
    hr = np.array([0.8, 1.3, 0.7])
    lo, hi = hr * np.exp(-1.96 * 0.15), hr * np.exp(1.96 * 0.15)
    nat = mc.compute_effects(pd.DataFrame({"HR": hr, "lower": lo, "upper": hi}), "GEN",
                             scale="ratio", label="HR")
    log = mc.compute_effects(pd.DataFrame({"log_hr": np.log(hr), "se": [0.15] * 3}), "GEN",
                             scale="log", label="HR")
    np.testing.assert_allclose(nat.yi, log.yi)
    np.testing.assert_allclose(nat.vi, log.vi, rtol=1e-3)   # 1.96 vs the exact quantile


def test_ratio_scale_refuses_non_positive_values_by_row():
    t = pd.DataFrame({"study": ["a", "b"], "HR": [0.8, -1.0], "se": [0.1, 0.1]})
    eff = mc.compute_effects(t, "GEN", scale="ratio")
    assert eff.k == 1 and "positive ratio" in eff.excluded[0].reason


# --- summary of findings ---------------------------------------------------------------------

def test_corresponding_risks():
    assert corresponding_risk(0.2, 0.5, "RR") == pytest.approx(0.1)
    assert corresponding_risk(0.2, 0.5, "OR") == pytest.approx(0.1 / 0.9)
    assert corresponding_risk(0.2, -0.05, "RD") == pytest.approx(0.15)
    assert corresponding_risk(0.6, 2.0, "RR") == 1.0          # capped, not 1.2


@pytest.mark.parametrize("ard, lo, hi, outcome, text", [
    (-0.05, -0.08, -0.02, "undesirable", "NNTB 20 (13 to 50)"),
    (0.05, 0.02, 0.08, "undesirable", "NNTH 20 (13 to 50)"),
    (-0.05, -0.1, 0.025, "undesirable", "NNTB 20 (NNTB 10 to ∞ to NNTH 40)"),
    (0.05, -0.025, 0.1, "desirable", "NNTB 20 (NNTB 10 to ∞ to NNTH 40)"),
    (-1 / 3, -0.5, -0.2, "undesirable", "NNTB 3 (2 to 5)"),
])
def test_nnt_altman(ard, lo, hi, outcome, text):
    assert nnt_text(ard, lo, hi, outcome=outcome) == text


def test_summary_of_findings_bcg_by_hand():
    eff, res = _bcg()
    d = mc.datasets.load("bcg")
    acr = d.events_c.sum() / d.n_c.sum()
    sof = mc.summary_of_findings(eff, res, outcome="Tuberculosis")
    nat = res.natural()
    assert sof.assumed == pytest.approx(acr)
    assert sof.corresponding == pytest.approx(acr * nat["estimate"])
    assert sof.corresponding_ci == pytest.approx((acr * nat["ci_low"], acr * nat["ci_high"]))
    assert sof.nnt == "NNTB 216 (168 to 363)"
    row = sof.to_frame().iloc[0]
    assert row["Risk with control"] == "9 per 1,000"
    assert row["Risk with intervention"] == "4 per 1,000 (3 to 6)"
    assert row["Risk difference"] == "\u22125 per 1,000 (\u22126 to \u22123)"
    assert row["Participants (studies)"] == "357\u2009347 (13 studies)"
    typed = mc.summary_of_findings(eff, res, assumed_risk=0.1, certainty="moderate")
    assert typed.corresponding == pytest.approx(0.1 * nat["estimate"])
    assert typed.to_frame().iloc[0]["Certainty (GRADE)"] == "⊕⊕⊕◯ Moderate"
    with pytest.raises(mc.OptionError):
        mc.summary_of_findings(eff, res, assumed_risk=1.5)


def test_summary_of_findings_or_and_continuous():
    eff = mc.compute_effects(mc.datasets.load("magnesium"), "OR")
    res = mc.pool_mh(mc.datasets.load("magnesium"), "OR")
    sof = mc.summary_of_findings(eff, res, assumed_risk=0.1)
    o = res.natural()["estimate"]
    assert sof.corresponding == pytest.approx(0.1 * o / (0.9 + 0.1 * o))
    md = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    r = mc.pool(md, model="common")
    sof = mc.summary_of_findings(md, r, units="points")
    # seed 002: FE -2.04 [-2.45, -1.64]
    assert sof.kind == "continuous" and sof.relative.startswith("2.04 points lower (95% CI 2.45 "
                                                                 "points lower to 1.64 points")
    hr = mc.compute_effects(pd.DataFrame({"log_hr": [-0.2, 0.1], "se": [0.1, 0.2]}), "GEN",
                            scale="log", label="HR")
    assert mc.summary_of_findings(hr, mc.pool(hr)).kind == "relative"


# --- record, methods, report -------------------------------------------------------------

def test_results_record_has_natural_values_and_settings():
    eff, res = _bcg()
    rec = mc.export.results_record(eff, res, cc=0.5, cc_to="only0")
    est = rec[rec["statistic"] == "estimate"].iloc[0]
    assert est["value"] == pytest.approx(res.estimate)
    assert est["natural"] == pytest.approx(np.exp(res.estimate))
    assert est["natural_ci_high"] == pytest.approx(np.exp(res.ci_high))
    studies = rec[rec["section"] == "study"]
    assert len(studies) == 13 and studies["weight_percent"].sum() == pytest.approx(100)
    for col, value in (("measure", "RR"), ("model", "random"), ("tau2_method", "REML"),
                       ("ci_method", "z"), ("level", 0.95), ("cc", 0.5), ("cc_to", "only0")):
        assert (rec[col] == value).all(), col
    tau2 = rec[rec["statistic"] == "tau2"].iloc[0]
    assert tau2["value"] == pytest.approx(res.tau2) and tau2["ci_low"] == res.tau2_ci.low


@pytest.mark.parametrize("kw, phrase", [
    ({"tau2_method": "REML"}, "restricted maximum-likelihood estimator of τ² (Viechtbauer 2005)"),
    ({"tau2_method": "DL"}, "DerSimonian–Laird estimator of τ² (DerSimonian & Laird 1986)"),
    ({"tau2_method": "PM", "ci_method": "hksj"}, "Hartung–Knapp–Sidik–Jonkman"),
    ({"model": "common"}, "common-effect (fixed-effect) inverse-variance model"),
])
def test_methods_paragraph(kw, phrase):
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    text, refs = mc.export.methods_text(eff, mc.pool(eff, **kw))
    assert phrase in text and "metafor" in refs


def test_html_report_is_self_contained_and_escaped():
    table = mc.datasets.load("bcg")
    table.loc[0, "study"] = "<script>alert('x')</script> Aronson"
    page = mc.export.html_report(table, measure="RR", title="Review <img src=x onerror=1>",
                                 outcome="TB <b>cases</b>", arms=("BCG", "Control"))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert" in page
    assert "<img" not in page and "&lt;img src=x" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page.lower() and "@import" not in page
    assert "<svg" in page and "Test for overall effect: Z = 3.97" in page
    for section in ("Forest plot", "Results", "Summary of findings", "Studies", "Settings",
                    "Methods", "References", "Reproduce in R (metafor)"):
        assert f"<h2>{section}</h2>" in page or f"<h3>{section}</h3>" in page, section
    assert "Viechtbauer W (2005)" in page and "library(metafor)" in page


def test_html_report_for_left_out_studies_and_mh():
    table = mc.datasets.load("magnesium")
    page = mc.export.html_report(table, measure="OR", model="MH", leave_out=[1, 2],
                                 forest_svg="<svg></svg>")
    assert "Mantel–Haenszel common-effect estimate (Mantel &amp; Haenszel 1959)" in page
    assert "Studies left out by hand</td><td>1, 2" in page


# --- the app -------------------------------------------------------------------------------

def _app(path: str = "pages/forest.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_forest_page_binary_carries_revman_parts():
    at = _app()
    text = chart_text(at.get("vega_lite_chart")[0])
    for part in ("Events", "Total", "Weight", "Heterogeneity", "Test for overall effect"):
        assert part in text, part
    at.text_input(key="arm_t").input("Vaccine").run()
    at.radio(key="forest_style").set_value("colour").run()
    text = chart_text(at.get("vega_lite_chart")[0])
    assert "Vaccine" in text and "Favours Vaccine" in text and "#1d4ed8" in text


def test_hr_with_ci_upload_is_a_ratio_on_a_log_axis_without_a_click():
    at = _app()
    hr = pd.DataFrame({"study": ["A", "B", "C"], "HR": [0.8, 0.7, 0.9],
                       "lower": [0.6, 0.5, 0.7], "upper": [1.07, 0.98, 1.16]})
    at.session_state["table"] = hr
    at.run()
    assert not at.exception
    eff = mc.compute_effects(hr, "GEN", scale="ratio", label="HR")
    expected = mc.pool(eff).natural()["estimate"]
    assert f"estimate is HR {expected:.2f}" in at.info[0].value
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    types = {layer["encoding"]["x"]["scale"]["type"] for layer in spec["layer"]
             if "scale" in layer.get("encoding", {}).get("x", {})}
    assert types == {"log"}
    assert "Hazard Ratio" in at.get("vega_lite_chart")[0].proto.spec


def test_log_hr_upload_can_be_shown_as_hr():
    at = _app()
    t = pd.DataFrame({"study": ["A", "B", "C"], "effect": [-0.22, -0.36, -0.1],
                      "se": [0.15, 0.2, 0.12]})
    at.session_state["table"] = t
    at.run()
    assert "HR" not in at.info[0].value          # a plain effect: nothing says ratio
    at.selectbox(key="gen_scale").set_value("log").run()
    at.selectbox(key="gen_label").set_value("HR").run()
    eff = mc.compute_effects(t, "GEN", scale="log", label="HR")
    assert f"estimate is HR {mc.pool(eff).natural()['estimate']:.2f}" in at.info[0].value


def test_report_page_shows_sof_r_code_and_downloads():
    at = _app("pages/report.py")
    assert not at.error
    sof = at.table[0].value
    assert sof.iloc[0]["NNT"] == "NNTB 216 (168 to 363)"
    at.number_input(key="sof_acr").set_value(100.0).run()
    assert at.table[0].value.iloc[0]["Risk with control"] == "100 per 1,000"
    code = at.code[0].value
    assert code.startswith("# metacore") and 'method = "REML"' in code
    labels = [b.label for b in at.get("download_button")]
    assert "Report (HTML)" in labels and "R script (.R)" in labels


def test_report_page_continuous_and_generic():
    at = _app("pages/report.py")
    at.selectbox(key="dataset").set_value("seed002").run()
    assert not at.exception and not at.error
    assert "lower" in at.table[0].value.iloc[0]["Difference"]
    at.selectbox(key="dataset").set_value("seed000").run()
    assert not at.exception and not at.error


def test_word_report_has_the_same_sections_and_survives_odd_names():
    import docx

    table = mc.datasets.load("bcg")
    table.loc[0, "study"] = "<script>x</script> \x01Aronson"
    data = mc.export.docx_report(table, measure="RR", title="BCG \x07review", forest_png=None)
    doc = docx.Document(io.BytesIO(data))
    heads = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    for section in ("Forest plot", "Results", "Summary of findings", "Studies", "Settings",
                    "Methods", "References", "Reproduce in R (metafor)"):
        assert section in heads, section
    assert doc.paragraphs[0].text == "BCG review"
    assert len(doc.inline_shapes) == 1                      # the forest plot picture
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "<script>x</script> Aronson" in cells and "NNTB 216 (168 to 363)" in cells
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Viechtbauer 2005" in text and "library(metafor)" in text
