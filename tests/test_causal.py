"""Causal meta-analysis (seed 003): formulas, the corrected variance, coverage, Appendix A."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.models.causal import causal_pool, compare_classical_causal, geometric_mean_ratio
from metacore.models.simulate import AppendixA, simulate, true_effect

TWO = pd.DataFrame({"study": ["big", "small"], "events_t": [10, 30], "n_t": [100, 50],
                    "events_c": [20, 10], "n_c": [100, 50]})


def test_hand_computed_two_studies():
    # w = (200, 100)/300; psi_1 = 2/3*0.1 + 1/3*0.6; psi_0 = 2/3*0.2 + 1/3*0.2
    p1, p0 = 2 / 3 * 0.1 + 1 / 3 * 0.6, 0.2
    rr = causal_pool(TWO, "RR")
    assert rr.risk_t == pytest.approx(p1) and rr.risk_c == pytest.approx(p0)
    assert rr.natural()["estimate"] == pytest.approx(p1 / p0)
    np.testing.assert_allclose(rr.weights, [2 / 3, 1 / 3])
    # Variance by hand: within terms, between terms and the cross-arm covariance.
    w, n = np.array([2 / 3, 1 / 3]), 300
    r1, r0 = np.array([0.1, 0.6]), np.array([0.2, 0.2])
    v1 = np.sum(w**2 * r1 * (1 - r1) / np.array([100, 50])) + (w @ r1**2 - p1**2) / n
    v0 = np.sum(w**2 * r0 * (1 - r0) / np.array([100, 50])) + (w @ r0**2 - p0**2) / n
    gamma = (w @ (r1 * r0) - p1 * p0) / n
    assert rr.se**2 == pytest.approx(v1 / p1**2 + v0 / p0**2 - 2 * gamma / (p1 * p0))
    od = causal_pool(TWO, "OR")
    assert od.natural()["estimate"] == pytest.approx(p1 / (1 - p1) / (p0 / (1 - p0)))
    sr = causal_pool(TWO, "SR")
    assert sr.natural()["estimate"] == pytest.approx((1 - p1) / (1 - p0))


def test_risk_difference_is_collapsible():
    rd = causal_pool(TWO, "RD")
    per_study = np.array([0.1 - 0.2, 0.6 - 0.2])
    assert rd.estimate == pytest.approx(np.array([2 / 3, 1 / 3]) @ per_study)


def test_two_balanced_studies_ratio_of_sums_vs_geometric_mean():
    # seed 003, section 4.1: causal RR = (psi1(1)+psi1(2)) / (psi0(1)+psi0(2)); the classical
    # target is the geometric mean sqrt(psi1(1) psi1(2) / (psi0(1) psi0(2))).
    t = pd.DataFrame({"events_t": [45, 400], "n_t": [500, 500], "events_c": [5, 450],
                      "n_c": [500, 500]})
    causal = causal_pool(t, "RR", weights=[1, 1], target="equal").natural()["estimate"]
    assert causal == pytest.approx((0.09 + 0.8) / (0.01 + 0.9))
    geometric = np.sqrt(0.09 * 0.8 / (0.01 * 0.9))
    res = causal_pool(t, "RR")
    assert geometric_mean_ratio(res.risks_t, res.risks_c) == pytest.approx(geometric)
    assert geometric > 1 > causal


def test_fixed_weights_drop_the_between_study_terms():
    res = causal_pool(TWO, "RD", weights=[1, 0], target="big")
    assert res.estimate == pytest.approx(-0.1)
    assert res.se**2 == pytest.approx(0.1 * 0.9 / 100 + 0.2 * 0.8 / 100)
    assert "population of big" in res.estimand


def test_bad_rows_and_undefined_results():
    t = pd.concat([TWO, pd.DataFrame({"study": ["empty arm"], "events_t": [0], "n_t": [0],
                                      "events_c": [1], "n_c": [10]})], ignore_index=True)
    res = causal_pool(t, "RR")
    assert res.k == 2 and "no participants" in res.excluded[0].reason
    none = pd.DataFrame({"events_t": [0, 0], "n_t": [10, 10], "events_c": [0, 0], "n_c": [9, 9]})
    with pytest.raises(mc.DataError, match="not defined"):
        causal_pool(none, "RR")
    with pytest.raises(mc.DataError, match="no sampling variance"):
        causal_pool(none, "RD")
    with pytest.raises(mc.MeasureError):
        causal_pool(TWO, "SMD")
    with pytest.raises(mc.OptionError):
        causal_pool(TWO, "RR", weights=[1, -1])


@pytest.fixture(scope="module")
def appendix_a():
    return simulate(AppendixA(), reps=2000, seed=2026)


def test_appendix_a_variance_of_the_rr(appendix_a):
    # Issue: empirical variance of the RR ~0.0021; corrected formula 0.0021; printed 0.0028.
    theta, var = appendix_a.causal("RR")
    rr = np.exp(theta)
    assert rr.var() == pytest.approx(0.0021, rel=0.12)
    corrected = np.mean(rr**2 * var)               # delta method back to the RR scale
    assert corrected == pytest.approx(rr.var(), rel=0.12)
    e1, n1, e0, n0 = appendix_a.tables()
    p1, p0, nk = e1 / n1, e0 / n0, n1 + n0
    w, n = nk / nk.sum(1, keepdims=True), nk.sum(1)
    P1, P0 = (w * p1).sum(1), (w * p0).sum(1)
    s1 = (nk**2 / (n[:, None] * n1) * p1 * (1 - p1)).sum(1) + (w * p1**2).sum(1) - P1**2
    s0 = (nk**2 / (n[:, None] * n0) * p0 * (1 - p0)).sum(1) + (w * p0**2).sum(1) - P0**2
    printed = np.mean(rr**2 * (s1 / P1**2 + s0 / P0**2) / n)
    assert printed == pytest.approx(0.0028, rel=0.12)


@pytest.mark.parametrize("measure", ["RD", "RR", "OR", "SR"])
def test_coverage_of_the_population_of_all_trials(appendix_a, measure):
    theta, var = appendix_a.causal(measure)
    truth = true_effect(appendix_a.design, measure)
    cover = np.mean(np.abs(theta - truth) <= 1.959964 * np.sqrt(var))
    assert 0.935 <= cover <= 0.965, cover


@pytest.mark.parametrize("measure", ["RD", "RR", "OR"])
def test_coverage_with_fixed_target_weights(appendix_a, measure):
    weights = [0.8, 0.2]
    theta, var = appendix_a.causal(measure, weights)
    truth = true_effect(appendix_a.design, measure, weights)
    cover = np.mean(np.abs(theta - truth) <= 1.959964 * np.sqrt(var))
    assert 0.935 <= cover <= 0.965, cover


def test_appendix_a_classical_and_causal_disagree():
    # seed 003, Figure 2: classical random effects suggest benefit for RR (about three-fold)
    # and OR (> 1), while the causal effect is harm (< 1, the outcome being desirable); for
    # the RD the random-effects and causal estimates agree.
    sim = simulate(AppendixA(), reps=100, seed=7)
    for measure in ("RR", "OR"):
        assert true_effect(sim.design, measure) < 0
        assert np.mean(sim.causal(measure)[0]) < 0
        assert np.mean(sim.classical(measure, "random")[0]) > 0
    assert np.exp(np.mean(sim.classical("RR", "random")[0])) > 2.5
    truth = true_effect(sim.design, "RD")
    assert truth < 0
    assert np.mean(sim.classical("RD", "random")[0]) == pytest.approx(truth, abs=0.01)
    assert np.mean(sim.causal("RD")[0]) == pytest.approx(truth, abs=0.01)


def test_comparison_offers_classical_fits_and_weights():
    table = mc.datasets.load("bcg")
    cmp = compare_classical_causal(table, "RR", tau2_method="DL")
    eff = mc.compute_effects(table, "RR")
    assert cmp.random.estimate == mc.pool(eff, tau2_method="DL").estimate
    assert cmp.common.estimate == mc.pool(eff, model="common").estimate
    assert cmp.weights[["causal", "common effect", "random effects"]].sum().round(6).tolist() \
        == [100.0, 100.0, 100.0]


def _many_table(m: int = 40, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(m):
        for _ in range(rng.integers(2, 8)):
            rows.append((f"MA{i}", rng.integers(0, 40), 100, rng.integers(1, 40), 90))
    return pd.DataFrame(rows, columns=["meta_id", "events_t", "n_t", "events_c", "n_c"])


@pytest.mark.parametrize("measure", ["RD", "RR", "OR", "SR"])
def test_many_meta_analyses_match_one_at_a_time(measure):
    table = _many_table()
    out = mc.causal_many(table, measure, tau2_method="DL")
    assert len(out) == 40 and (out["problem"] == "").all()
    for i in (0, 17, 39):
        sub = table[table.meta_id == f"MA{i}"].drop(columns="meta_id")
        cmp = compare_classical_causal(sub, measure, tau2_method="DL")
        row = out.iloc[i]
        nat = cmp.causal.natural()
        assert row["causal"] == pytest.approx(nat["estimate"], rel=1e-10)
        assert row["causal_low"] == pytest.approx(nat["ci_low"], rel=1e-10)
        assert row["classical"] == pytest.approx(cmp.random.natural()["estimate"], rel=1e-10)
        assert row["k"] == cmp.causal.k


def test_many_flags_discordance_and_problems():
    table = pd.DataFrame({
        "meta_id": ["flip"] * 2 + ["empty"] + ["agree"] * 3,
        # 'flip': seed 003's two-study pattern; classical RR > 1 while the causal RR < 1
        "events_t": [45, 400, 0, 10, 12, 9], "n_t": [500, 500, 0, 100, 100, 100],
        "events_c": [5, 450, 3, 11, 13, 10], "n_c": [500, 500, 10, 100, 100, 100]})
    out = mc.causal_many(table, "RR", tau2_method="DL").set_index("meta_id")
    assert out.loc["flip", "discordant"] and "opposite directions" in out.loc["flip", "why"]
    assert out.loc["empty", "problem"] == "no usable 2x2 rows"
    assert not out.loc["agree", "discordant"]
    with pytest.raises(mc.DataError, match="meta_id"):
        mc.causal_many(table.drop(columns="meta_id"), "RR")


# --- issue 23, item 3: direction words per measure, and "no material difference" ---------

def test_verdict_survival_ratio_above_one_means_fewer_events():
    from metacore.models.causal import verdict
    # SR 1.0003 vs 0.98 (log scale): the causal one means better survival, i.e. FEWER events.
    why = " ".join(verdict((np.log(0.98), np.log(0.96), np.log(1.0)),
                           (np.log(1.03), np.log(1.01), np.log(1.05)), measure="SR"))
    assert "opposite directions" in why
    assert "the causal one says it raises survival (fewer events)" in why
    assert "the classical estimate says the treatment lowers survival (more events)" in why
    assert "raises the risk" not in why


def test_verdict_tiny_difference_is_no_material_difference():
    from metacore.models.causal import MATERIAL_RD, verdict
    # RD of -0.00002 is no material difference, not "lowers the risk".
    why = " ".join(verdict((0.01, 0.002, 0.018), (-0.00002, -0.001, 0.0009), measure="RD"))
    assert "opposite directions" not in why
    assert "no material difference" in why and "|RD| < 0.001" in why
    assert MATERIAL_RD == 0.001
    # Both immaterial: nothing to say about direction.
    assert not any("direction" in w or "material" in w
                   for w in verdict((0.0001, -0.01, 0.01), (-0.0002, -0.01, 0.01),
                                    measure="RD"))
    # Ratios: within 1 +- 0.001.
    why = " ".join(verdict((np.log(1.0003), -0.1, 0.1), (np.log(0.8), -0.4, -0.05),
                           measure="RR"))
    assert "ratio within 1 ± 0.001" in why and "lowers the risk of the event" in why


@pytest.mark.parametrize("measure,low,words", [
    ("RR", 0.5, "lowers the risk of the event"), ("OR", 2.0, "raises the risk of the event"),
    ("SR", 0.5, "lowers survival (more events)")])
def test_direction_words_per_measure(measure, low, words):
    from metacore.models.causal import direction_words
    assert direction_words(measure, np.log(low)) == words
