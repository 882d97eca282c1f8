"""The pooling & shrinkage and Bayesian pages under AppTest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from metacore.models.shrinkage import shrinkage_path
from metacore.numbers import format_prob
from ui import state

ROOT = Path(__file__).resolve().parents[1]


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _blups(at: AppTest):
    return next(d.value for d in at.dataframe if "shrunken" in d.value.columns)


def test_shrinkage_page_tau_slider_and_estimate_button():
    at = _run("pages/shrinkage.py")
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    fit = mc.pool(eff)
    assert at.slider(key="shrink_tau").value == pytest.approx(fit.tau, abs=1e-4)
    at.slider(key="shrink_tau").set_value(0.0).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("With τ = 0,"))
    common = np.exp(mc.pool(eff, model="common").estimate)
    assert f"pooled mean is {common:.3f}" in caption        # complete pooling
    at.button(key="shrink_use_estimate").click().run()
    assert at.slider(key="shrink_tau").value == pytest.approx(fit.tau, abs=1e-4)
    # BLUP table: metafor's blup() values (checked in test_shrinkage) on the natural scale
    blups = _blups(at)
    assert blups["shrunken"].iloc[0] == pytest.approx(np.exp(-0.8002), abs=1e-4)


def test_three_views_use_the_seed_002_numbers():
    at = _run("pages/shrinkage.py")
    at.selectbox(key="dataset").set_value("seed002").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Common effect β₀"] == "−2.042"
    assert metrics["Fixed effects β_F"] == "−2.042"
    path = shrinkage_path(mc.compute_effects(mc.datasets.load("seed002"), "MD"), 0.0)
    assert path["pred"].round(3).unique().tolist() == [-2.042]


@pytest.mark.parametrize("family", ["halfnormal", "halfcauchy", "halft", "uniform", "invgamma",
                                    "unifprec", "pareto", "l9", "l11",
                                    "logunif", "jeffreys", "fixed"])
def test_bayesian_page_every_tau_prior(family):
    at = _run("pages/bayes.py")
    at.selectbox(key="bayes_tau_prior").set_value(family).run()
    assert not at.exception and not at.error
    assert "probability that the treatment is beneficial — the mean RR below 1" in \
        at.info[0].value


def test_direction_words_and_probabilities_follow_the_outcome():
    at = _run("pages/bayes.py")
    text = at.info[0].value
    # BCG, RR 0.49: benefit is all but certain, and never printed as 100%
    assert "**more than 99.9%**" in text and "100%" not in text and "equal-tailed" in text
    assert any("shortest credible interval" in m.label for m in at.metric)
    threshold = next(c.value for c in at.caption if "threshold of clinical interest" in c.value)
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.bayes_pool(eff, tau_prior=mc.priors.HalfNormal(at.session_state["bayes_scale"]),
                        threshold=float(np.log(0.9)))
    assert threshold.startswith("The probability that the mean RR is below 0.9")
    words = format_prob(1 - res.prob_mu_beyond).replace("< ", "less than ").replace(
        "> ", "more than ")
    assert threshold.endswith(f"is {words}.")      # the interesting side
    assert "= <" not in threshold and "= >" not in threshold
    at.session_state[state.DIRECTION] = "desirable"
    at.run()
    text = at.info[0].value
    assert "the mean RR above 1, as the outcome is desirable" in text
    assert "**less than 0.1%**" in text and " 0%" not in text


def test_a_zero_prior_scale_is_refused_not_replaced():
    at = _run("pages/bayes.py")
    at.number_input(key="bayes_scale").set_value(0.0).run()
    assert not at.exception
    assert any("needs a positive scale" in w.value for w in at.warning)


def test_prior_change_changes_the_posterior_and_reading():
    at = _run("pages/bayes.py")
    before = at.info[0].value
    at.radio(key="bayes_mu_prior").set_value("normal").run()
    at.number_input(key="bayes_mu_sd").set_value(0.05).run()   # a sceptical prior near 0
    after = at.info[0].value
    assert before != after
    assert any("Bayes factor for μ = 0" in c.value for c in at.caption)
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.bayes_pool(eff, tau_prior=mc.priors.HalfNormal(at.session_state["bayes_scale"]),
                        mu_prior=mc.priors.Normal(0, 0.05))
    assert f"Posterior median {np.exp(res.mu_median):.3f}" in after
    sens = [d for d in at.get("vega_lite_chart")]
    assert len(sens) >= 4
