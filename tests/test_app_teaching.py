"""Issue 29 (teaching): the defects a lecturer hit, each checked on the page it was seen on."""

from __future__ import annotations

import json

import numpy as np

import metacore as mc
from metacore.numbers import format_effect
from metacore.report.charts.common import ROW_PX
from metacore.report.export import _r_number
from tests.apptest import run_page
from ui import state
from ui.teaching import TERMS


def _on(page: str, dataset: str):
    at = run_page(page)
    at.selectbox(key=state.DATASET).set_value(dataset).run()
    assert not at.exception, at.exception
    return at


def _spec(at, title: str) -> dict:
    """The spec of the chart whose title starts with ``title``."""
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    return next(s for s in specs if s.get("title", {}).get("text", "").startswith(title))


def test_shrinkage_chart_gives_each_of_six_studies_a_row_and_the_legend_room():
    at = _on("shrinkage", "seed002")
    spec = _spec(at, "No, partial and complete pooling")
    # the plot's own height (autosize pad): the title and legend do not eat into it
    assert spec["autosize"]["type"] == "pad"
    assert spec["height"] >= 6 * ROW_PX
    legend = next(layer["encoding"]["color"]["legend"] for layer in spec["layer"]
                  if "color" in layer.get("encoding", {}))
    assert legend["labelLimit"] == 0            # "Complete pooling (common effect)" whole


def test_prior_sensitivity_panels_share_one_x_axis():
    at = _on("bayes", "seed002")
    mu, beta = (_spec(at, f"Estimating {g}") for g in ("μ", "β_F"))
    domain = [layer["encoding"]["x"]["scale"]["domain"] for layer in (mu["layer"][0],
                                                                       beta["layer"][0])]
    assert domain[0] == domain[1]
    # and the β_F intervals are far narrower on it than μ's (the notes' point)
    assert domain[0][1] - domain[0][0] > 5


def test_lambert_l1_is_gamma_0001_not_a_taken_from_the_data():
    at = _on("bayes", "seed002")
    at.selectbox(key="bayes_tau_prior").set_value("invgamma").run()
    assert not at.exception
    labels = at.selectbox(key="bayes_tau_prior").options
    assert "L1: τ⁻² ~ Γ(0.001, 0.001)" in labels and "L3: log(τ²) ~ U(−10, 10)" in labels
    assert at.number_input(key="bayes_scale").disabled
    assert any("Priors: τ⁻² ~ Γ(0.001, 0.001)" in c.value for c in at.caption)
    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    res = mc.bayes_pool(eff, tau_prior=mc.priors.InvGamma(0.001, 0.001))
    assert f"Posterior median {format_effect(res.mu_median, 3)}," in at.info[0].value


def test_causal_opening_says_what_the_paper_says_and_the_formula_is_bracketed():
    at = run_page("causal")
    opening = at.markdown[0].value
    assert "coincide in spirit" not in opening
    assert "different population" in opening and "1/(σₖ² + τ²)" in opening
    text = " ".join(m.value for m in at.markdown)
    assert "√(ψ₁(1)ψ₁(2) / (ψ₀(1)ψ₀(2)))" in text


def test_the_course_example_sets_its_direction_and_the_bayes_sentences_read_sensibly():
    at = _on("bayes", "seed000")
    assert at.session_state[state.OUTCOME] == "desirable"     # the catalogue says so
    text = at.info[0].value
    assert "beneficial — the mean effect above 0, as the outcome is desirable — is **more " \
           "than 99.9%**" in text
    assert "harmful side (below 0) is **2%**" in text
    # the threshold of a ratio (0.9) is not carried over to a difference
    assert "mean effect is above 0 — a benefit beyond" in " ".join(c.value for c in at.caption)
    captions = " ".join(c.value for c in at.caption)
    assert "= <" not in text + captions and "= >" not in text + captions
    # back to a table whose outcome is undesirable: the direction follows
    at.selectbox(key=state.DATASET).set_value("bcg").run()
    assert at.session_state[state.OUTCOME] == "undesirable"
    assert "the mean RR below 1, as the outcome is undesirable" in at.info[0].value


def test_about_says_how_each_result_is_checked_and_gives_the_other_formulas():
    at = run_page("about")
    text = " ".join(m.value for m in at.markdown)
    assert "Every statistic on these pages is checked against metafor" not in text
    headers = [h.value for h in at.header]
    for h in ("Bayesian meta-analysis", "Clustered heterogeneity (MANTRA)",
              "Causal meta-analysis", "How each result is checked"):
        assert h in headers
    latex = " ".join(x.value for x in at.latex)
    assert r"\hat\psi_a" in latex and "printed formula" in latex
    assert r"\beta_{c(i)}" in latex and r"p(\tau\mid y)" in latex
    assert "Γ(0.001, 0.001)" in text


def test_doc_000s_pooled_se_is_on_screen():
    at = _on("shrinkage", "seed000")
    assert any("SE 0.0465" in c.value for c in at.caption)


def test_r_export_writes_the_decimal_not_the_floating_point_noise():
    assert _r_number(0.1 ** 2) == "0.01" and _r_number(0.1 + 0.2) == "0.3"
    assert _r_number(1 / 3) == repr(1 / 3)      # a real 16-digit number stays exact
    code = mc.export.metafor_script(mc.datasets.load("seed000"), measure="GEN",
                                    model="common")
    assert "0.010000000000000002" not in code and "0.01," in code


def test_one_wording_of_the_three_models_on_every_page():
    tables = [t.value for page in ("shrinkage", "about") for t in run_page(page).table]
    assert len(tables) == 2
    for table in tables:
        assert list(table.columns) == ["Common effect", "Fixed effects", "Random effects"]
        assert table.equals(TERMS)
    notes = " ".join(m.value for m in run_page("about").markdown)
    assert "Doc 000 calls the same calculation \"fixed-effects\"" in notes


def test_z_squared_is_split_into_z_f_squared_and_q_on_screen():
    at = _on("shrinkage", "seed000")
    fit = mc.pool(mc.compute_effects(mc.datasets.load("seed000"), "GEN"), model="common")
    assert np.isclose(fit.z2_total, fit.z2_fixed + fit.q)
    assert any(f"Z_F² = {fit.z2_fixed:.4g}" in c.value and f"Q = {fit.q:.4g}" in c.value
               for c in at.caption)
