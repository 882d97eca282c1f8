"""GRADE: certainty from the ratings, and each suggestion on tables built to fall just
either side of its threshold (see metacore/review/grade.py for the thresholds)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.review.grade import (
    DOWN,
    Grade,
    Rating,
    optimal_information_size,
    suggest_imprecision,
    suggest_inconsistency,
    suggest_publication_bias,
    suggest_risk_of_bias,
)
from metacore.review.rob import RobAssessment, RobTable

LEVELS = ("very low", "low", "moderate", "high")


def test_certainty_on_every_combination_of_ratings():
    down = ("no", "serious", "very serious")
    for design, start in (("randomised", 4), ("observational", 2)):
        for combo in itertools.product(down, repeat=5):
            for large, dose in itertools.product(("no", "large", "very large"), ("no", "yes")):
                g = Grade("o", design)
                for domain, level in zip(DOWN, combo, strict=True):
                    g = g.with_rating(domain, level, "why" if level != "no" else "")
                g = g.with_rating("large_effect", large, "why" if large != "no" else "")
                g = g.with_rating("dose_response", dose, "why" if dose != "no" else "")
                score = start - sum(down.index(x) for x in combo) \
                    + ("no", "large", "very large").index(large) + (dose == "yes")
                assert g.certainty == LEVELS[min(4, max(1, score)) - 1]


def test_symbols_footnotes_and_checks():
    g = Grade("o").with_rating("inconsistency", "very serious", "I² = 80%")
    assert g.symbol == "⊕⊕◯◯ Low" and g.footnotes == ("Inconsistency (very serious): I² = 80%",)
    assert Grade("o", "observational").symbol == "⊕⊕◯◯ Low"
    assert Grade("o").with_rating("risk_of_bias", "very serious", "a") \
        .with_rating("imprecision", "very serious", "b").symbol == "⊕◯◯◯ Very low"
    with pytest.raises(mc.OptionError, match="needs a footnote"):
        Rating("imprecision", "serious")
    with pytest.raises(mc.OptionError, match="not a GRADE domain"):
        Rating("luck", "no")
    with pytest.raises(mc.OptionError, match="rated one of"):
        Rating("dose_response", "serious", "x")


def _rob(high: float, some: float) -> RobTable:
    rows = [("A", "High", high), ("B", "Some concerns", some), ("C", "Low", 100 - high - some)]
    return RobTable("rob2", tuple(RobAssessment.build(s, "rob2", [lv] * 5) for s, lv, _ in rows),
                    tuple(w for *_, w in rows))


@pytest.mark.parametrize("high, some, level", [
    (19.9, 0.0, "no"), (20.0, 0.0, "serious"), (49.9, 0.0, "serious"),
    (50.0, 0.0, "very serious"), (10.0, 39.9, "no"), (10.0, 40.0, "serious"),
    (0.0, 49.9, "no"), (0.0, 50.0, "serious")])
def test_risk_of_bias_thresholds(high, some, level):
    s = suggest_risk_of_bias(_rob(high, some))
    assert s.level == level and dict(s.values)["high"] == pytest.approx(high / 100)


def _two(d: float, centre: float = 0.0):
    t = pd.DataFrame({"study": ["A", "B"], "yi": [centre - d, centre + d], "vi": [1.0, 1.0]})
    return mc.compute_effects(t, "GEN")


@pytest.mark.parametrize("d, level", [
    # two studies, vi = 1: Q = 2d², I² = (Q - 1)/Q: 50% at d = 1, 75% at d = √2
    (0.99, "no"), (1.01, "serious"), (math.sqrt(2) - 0.01, "serious"),
    (math.sqrt(2) + 0.01, "very serious")])
def test_inconsistency_thresholds(d, level):
    s = suggest_inconsistency(_two(d))
    assert s.level == level
    q = 2 * d * d
    assert dict(s.values)["i2"] == pytest.approx(100 * (q - 1) / q)
    assert dict(s.values)["tau2"] == pytest.approx(q - 1)   # DL with k = 2, equal weights


def test_inconsistency_one_sided_prediction_interval_lowers_a_level():
    s = suggest_inconsistency(_two(1.01, centre=5.0))
    v = dict(s.values)
    assert v["pi_low"] > 0 and s.level == "no" and "direction" in s.reason
    s = suggest_inconsistency(_two(math.sqrt(2) + 0.01, centre=6.0))
    assert s.level == "serious"
    assert not suggest_inconsistency(mc.compute_effects(
        pd.DataFrame({"yi": [0.1], "vi": [0.1]}), "GEN")).assessable


def test_optimal_information_size_formula():
    # two-proportion sample size, p_t = 0.75 p_c, alpha 0.05 two-sided, beta 0.2
    z = 1.959963984540054 + 0.8416212335729143
    for pc in (0.05, 0.2, 0.4):
        pt = 0.75 * pc
        n = z * z * (pc * (1 - pc) + pt * (1 - pt)) / (pc - pt) ** 2
        assert optimal_information_size(pc) == 2 * math.ceil(n)
    assert optimal_information_size(0.2) == 1806
    assert optimal_information_size() == 2 * math.ceil(2 * z * z / 0.04) == 786


def _fit(ratio: float, se: float):
    t = pd.DataFrame({"yi": [math.log(ratio)], "sei": [se]})
    return mc.pool(mc.compute_effects(t, "GEN", scale="log", label="RR"), model="common")


@pytest.mark.parametrize("ratio, se, n, level", [
    (0.5, 0.1, 1806, "no"),            # CI excludes 1, OIS met
    (0.5, 0.1, 1805, "serious"),       # one participant short of the OIS (p_c = 0.2)
    (0.9, 0.1, 5000, "serious"),       # CI 0.74-1.09 crosses 1, not 1.25
    (1.0, 0.2, 5000, "very serious"),  # CI 0.68-1.48: appreciable benefit and harm
])
def test_imprecision_thresholds(ratio, se, n, level):
    s = suggest_imprecision(_fit(ratio, se), n, control_risk=0.2)
    assert s.level == level and dict(s.values)["ois"] == 1806


def test_imprecision_continuous_uses_0_2_sd():
    t = pd.DataFrame({"yi": [-2.0], "sei": [0.5]})
    res = mc.pool(mc.compute_effects(t, "GEN"), model="common")
    assert suggest_imprecision(res, 786).level == "no"
    assert suggest_imprecision(res, 785).level == "serious"


def _funnel(k: int, slope: float):
    sei = np.linspace(0.1, 0.6, k)
    noise = np.where(np.arange(k) % 2 == 0, 0.03, -0.03)
    t = pd.DataFrame({"yi": 0.2 + slope * sei + noise, "sei": sei})
    return mc.compute_effects(t, "GEN")


def test_publication_bias_needs_ten_studies_and_egger():
    s = suggest_publication_bias(_funnel(9, 2.0))
    assert not s.assessable and s.level == "no" and "Not assessable: 9 studies" in s.reason
    asym = suggest_publication_bias(_funnel(10, 2.0))
    p = mc.egger(_funnel(10, 2.0), model="lm").pvalue
    assert asym.level == "serious" and dict(asym.values)["pvalue"] == p < 0.10
    sym = suggest_publication_bias(_funnel(10, 0.0))
    assert sym.level == "no" and dict(sym.values)["pvalue"] >= 0.10


def test_review_suggestions_are_not_applied():
    from pathlib import Path
    rev = mc.read_revman(Path(__file__).parent / "reference" / "revman" / "review_full.rm5")
    sug = {s.domain: s for s in rev.suggestions("CMP-001.01", tool="rob1")}
    assert set(sug) == {"risk_of_bias", "inconsistency", "imprecision", "publication_bias"}
    assert rev.grade("CMP-001.01") is None    # nothing applied by itself
    # Death: 710 participants, pooled control risk 69/355, so the OIS is for p_c = 0.194
    assert dict(sug["imprecision"].values)["ois"] == optimal_information_size(69 / 355)
    assert sug["imprecision"].level == "serious"
    g = Grade("CMP-001.01").apply(sug["imprecision"])
    assert g.certainty == "moderate" and g.ratings[0].footnote == sug["imprecision"].reason
    assert rev.with_grade(g).grade("CMP-001.01").certainty == "moderate"
