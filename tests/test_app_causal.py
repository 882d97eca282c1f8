"""The causal pages under AppTest: comparison, target what-if, many meta-analyses, sandbox."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc

ROOT = Path(__file__).resolve().parents[1]


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _causal_rr(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Causal RR = ψ₁ / ψ₀")


def test_comparison_page_shows_numbers_that_match_the_engine():
    at = _run("pages/causal.py")
    assert not at.error
    expected = mc.causal_pool(mc.datasets.load("bcg"), "RR").natural()["estimate"]
    assert _causal_rr(at) == f"{expected:.3f}"
    assert any("Causal risk ratio" in i.value for i in at.info)
    weights = next(d.value for d in at.dataframe if "causal (%)" in d.value.columns)
    assert weights["causal (%)"].sum() == pytest.approx(100, abs=1e-3)


def test_target_population_what_if_moves_the_causal_estimate():
    at = _run("pages/causal.py")
    pooled = _causal_rr(at)
    at.radio(key="causal_target").set_value("equal").run()
    equal = _causal_rr(at)
    at.radio(key="causal_target").set_value("trial").run()
    at.selectbox(key="causal_trial").set_value(0).run()
    one = _causal_rr(at)
    assert len({pooled, equal, one}) == 3
    assert one == f"{(4 / 123) / (11 / 139):.3f}"          # that trial's own risk ratio
    at.radio(key="causal_target").set_value("custom").run()
    assert not at.exception and not at.error


def test_causal_page_explains_when_data_are_not_2x2():
    at = _run("pages/causal.py")
    at.selectbox(key="dataset").set_value("seed002").run()
    assert not at.exception
    assert any("needs 2×2 tables" in i.value for i in at.info)


def test_many_meta_analyses_example_and_measures():
    at = _run("pages/many.py")
    at.button(key="many_example").click().run()
    assert not at.exception and not at.error
    assert next(m.value for m in at.metric if m.label == "Meta-analyses") == "300"
    for measure in ("RD", "OR", "SR"):
        at.selectbox(key="many_measure").set_value(measure).run()
        assert not at.exception and not at.error


def test_many_with_a_malformed_table_gives_one_message():
    at = _run("pages/many.py")
    at.session_state["many_table"] = pd.DataFrame({"meta_id": ["a", "b"], "x": [1, 2]})
    at.session_state["many_source"] = "bad.csv"
    at.run()
    assert not at.exception
    assert at.error and "No study columns were recognised" in at.error[0].value


def test_simulation_sandbox_reproduces_the_flip_and_reacts():
    at = _run("pages/simulation.py")
    assert not at.error
    summary = next(d.value for d in at.dataframe if "method" in d.value.columns)
    rr = summary[(summary.measure == "RR")].set_index("method")
    assert rr.loc["Random effects", "mean estimate"] > 2            # ~three-fold "benefit"
    assert rr.loc["Causal (target population)", "true θ(P*)"] < 1   # but harm
    assert any("wrong way" in w.value for w in at.warning)
    at.slider(key="sim_b0y").set_value(-1.38).run()
    at.slider(key="sim_b0x").set_value(0.36).run()                  # treatment = control
    assert not at.exception
    summary = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert summary.loc[summary.measure == "RR", "true θ(P*)"].iloc[0] == pytest.approx(1)


def test_excel_upload_reader_for_many(tmp_path):
    buf = io.BytesIO()
    mc.datasets.load("bcg").assign(meta_id="BCG").to_excel(buf, index=False)
    frame = mc.io.read_table(buf.getvalue(), "many.xlsx")
    assert len(mc.causal_many(frame, "RR")) == 1


def test_many_page_analyses_a_large_collection_in_chunks():
    rng = np.random.default_rng(5)
    m = 12_000                                   # more than one chunk of identifiers
    k = rng.integers(2, 4, m)
    gid = np.repeat(np.arange(m), k)
    n = len(gid)
    table = pd.DataFrame({"meta_id": [f"MA{g}" for g in gid],
                          "events_t": rng.integers(1, 30, n), "n_t": rng.integers(60, 200, n),
                          "events_c": rng.integers(1, 30, n), "n_c": rng.integers(60, 200, n)})
    at = AppTest.from_file(str(ROOT / "pages" / "many.py"), default_timeout=120).run()
    at.session_state["many_table"] = table
    at.session_state["many_source"] = "large collection"
    at.run()
    assert not at.exception and not at.error
    assert next(m_.value for m_ in at.metric if m_.label == "Meta-analyses") == "12,000"
