"""Issue 29 (teaching): the defects a lecturer hit, each checked on the page it was seen on."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

import metacore as mc
from metacore.numbers import format_effect
from metacore.report.charts.common import ROW_PX
from metacore.report.export import _r_number
from tests.apptest import ROOT, run_page
from ui import present, state, teaching
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
    assert at.session_state[state.DIRECTION] == "desirable"     # the catalogue says so
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
    assert at.session_state[state.DIRECTION] == "undesirable"
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


# --- presentation mode, reveal, course set-up, exercises, lecture links --------------------

def _forest(**query):
    at = AppTest.from_file(str(ROOT / "pages" / "forest.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _rows_drawn(at) -> int:
    """Rows of the reveal chart's interval layer (studies plus the pooled rows shown)."""
    import pyarrow as pa

    chart = at.get("vega_lite_chart")[0].proto
    name = json.loads(chart.spec)["layer"][1]["data"]["name"]
    data = next(d.data.data for d in chart.datasets if d.name == name)
    return pa.ipc.open_stream(data).read_all().num_rows


def _fonts(node) -> list[float]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k.endswith("ontSize") and
               isinstance(v, (int, float))]
        return out + [f for v in node.values() for f in _fonts(v)]
    if isinstance(node, list):
        return [f for v in node for f in _fonts(v)]
    return []


def test_present_link_parameter_turns_on_presentation_with_projector_charts():
    at = _forest(present="1")
    assert at.session_state[present.PRESENT] is True
    assert at.sidebar.toggle(key=present.PRESENT).value is True
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    fonts = _fonts(spec)
    assert fonts and min(fonts) >= present.MIN_FONT
    assert spec["config"]["axis"]["labelFontSize"] >= 20
    # the publication forest plot gives way to the reveal: one idea per screen
    assert "Step 1 of 5: The studies alone" in at.markdown[-2].value or any(
        "Step 1 of 5" in m.value for m in at.markdown)
    assert not any("Heterogeneity" == h.value for h in at.subheader)


def test_projector_spec_scales_every_chart_in_one_place():
    at = run_page("bayes")
    plain = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    at.session_state[present.PRESENT] = True
    at.run()
    scaled = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(plain) == len(scaled) >= 4
    for a, b in zip(plain, scaled, strict=True):
        assert min(_fonts(b)) >= 20
        if isinstance(a.get("width"), (int, float)):
            assert b["width"] == a["width"] * present.SCALE


def test_reveal_steps_studies_common_random_prediction_causal():
    at = _forest(present="1")
    k = 13                                                   # BCG
    seen = []
    for step in range(5):
        seen.append(next(m.value for m in at.markdown if m.value.startswith("**Step")))
        assert _rows_drawn(at) == k + step                   # one pooled row per step
        at.button(key="present_next").click().run()
    assert [s.split(": ", 1)[1].split("**")[0] for s in seen] == list(teaching.STEPS)
    assert at.session_state[present.STEP] == 4               # the last step stays
    at.button(key="present_prev").click().run()
    assert at.session_state[present.STEP] == 3
    # ready-made effects have no 2x2 tables: the reveal ends at the prediction interval
    at.selectbox(key=state.DATASET).set_value("seed000").run()
    assert any("Step" in m.value and "of 4" in m.value for m in at.markdown)


def test_course_set_up_one_click_per_document():
    at = run_page("course")
    for doc, dataset, direction in (("000", "seed000", "desirable"),
                                    ("003", "magnesium", "undesirable")):
        at.session_state[state.TAU2] = "REML"
        at.button(key=f"course_{doc}").click().run()
        assert not at.exception
        s = at.session_state
        assert (s[state.DATASET], s[state.TAU2], s[state.CI], s[state.MODEL]) == (
            dataset, "DL", "z", "random")
        assert s[state.DIRECTION] == direction
        assert any("DerSimonian–Laird, Wald z" in x.value for x in at.success)


def test_doc_003_real_example_classical_and_causal_conclusions_differ():
    at = run_page("course")
    table = next(d.value for d in at.dataframe if "CI excludes no effect" in d.value.columns)
    rr = table[table.measure == "RR"].set_index("method")
    assert rr.loc["Random effects (DL)", "CI excludes no effect"]
    assert not rr.loc["Causal (all participants)", "CI excludes no effect"]
    from metacore.models.causal import causal_pool
    res = causal_pool(mc.datasets.load("magnesium"), "RR")
    assert rr.loc["Causal (all participants)", "estimate"] == round(float(np.exp(res.estimate)), 3)


def test_exercise_answers_are_hidden_then_checked():
    at = run_page("course")
    assert not [i for i in at.info if "Without it the estimate" in i.value]
    eff = mc.compute_effects(mc.datasets.load("seed000"), "GEN")
    keep = np.arange(eff.k) != int(np.argmax(1 / eff.vi))
    right = mc.pool(mc.EffectSizes(yi=eff.yi[keep], vi=eff.vi[keep], measure="GEN",
                                   study=tuple(np.asarray(eff.study)[keep])),
                    model="common").estimate
    at.number_input(key="ex_000_leave_out").set_value(0.2).run()
    assert any("Not quite" in w.value for w in at.warning)
    at.number_input(key="ex_000_leave_out").set_value(round(right, 3)).run()
    assert any(f"Right: {round(right, 3):.4g}" in x.value for x in at.success)
    at.toggle(key="ex_000_leave_out_show").set_value(True).run()
    assert any("Without it the estimate" in i.value for i in at.info)


def test_a_lecture_link_opens_in_presentation_and_students_cannot_change_it():
    from metacore.store import open_store
    from metacore.store.project import Project

    db = open_store()
    aid, _ = db.save(Project(mc.datasets.load("seed000"), name="Lecture 1",
                             settings={"measure": "GEN", "tau2_method": "DL", "ci_method": "z",
                                       state.DIRECTION: "desirable"}, example="seed000"))
    _, token = db.create_link(aid)
    at = _forest(link=token, present="1")
    assert at.session_state[present.PRESENT] is True
    assert at.session_state[state.TAU2] == "DL"
    assert any("Step 1 of 4" in m.value for m in at.markdown)
    # a student changes the estimator and steps on: the saved analysis is untouched
    at.session_state[state.TAU2] = "REML"
    at.button(key="present_next").click().run()
    assert not at.exception
    project, version = db.load(aid)
    assert project.settings["tau2_method"] == "DL" and version == 1


def test_prior_sensitivity_has_the_notes_dl_and_pwa_reference_rows():
    at = _on("bayes", "seed002")
    mu, beta = (_spec(at, f"Estimating {g}") for g in ("μ", "β_F"))
    labels = [json.dumps(layer["encoding"]["y"]["axis"]["labelExpr"], ensure_ascii=False)
              for layer in (mu["layer"][0], beta["layer"][0])]
    assert "D-L (classical random effects)" in labels[0]
    assert "PWA (precision-weighted average)" in labels[1]
