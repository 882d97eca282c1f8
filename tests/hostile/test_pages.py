"""Ordinary data that crashed pages, and user text that became markup (probes 6-8, 10)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import metacore as mc
from metacore.models import priors as P
from ui.text import md
from ui.widgets import csv_bytes

ROOT = Path(__file__).resolve().parents[2]
BEACON = "![x](http://127.0.0.1:9/beacon.png) [click](http://127.0.0.1:9/) **bold**"


def _page(path: str, table: pd.DataFrame | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=60).run()
    if table is not None:
        at.session_state["table"] = table
        at.run()
    assert not at.exception, at.exception
    return at


def _shown_markdown(at: AppTest) -> list[str]:
    """Every Markdown source the page sent (captions, alerts, labels, text)."""
    out = [e.value for kind in ("caption", "markdown", "info", "warning", "error", "success")
           for e in getattr(at, kind)]
    out += [w.label for w in at.selectbox] + [w.label for w in at.multiselect]
    return out


@pytest.mark.parametrize("k", [1, 2])
def test_bayesian_page_with_one_or_two_studies(k):
    at = _page("pages/bayes.py", mc.datasets.load("bcg").iloc[:k])
    assert not at.error
    assert len(at.get("vega_lite_chart")) >= 3


def test_causal_page_when_no_arm_has_events():
    zeros = pd.DataFrame({"study": ["A", "B", "C"], "events_t": [0, 0, 0], "n_t": [10, 20, 30],
                          "events_c": [0, 0, 0], "n_c": [10, 20, 30]})
    at = _page("pages/causal.py", zeros)
    assert any("No measure could be estimated" in i.value for i in at.info)
    assert any("not defined" in w.value for w in at.warning)


@pytest.mark.parametrize("yi, vi", [([1e40, -2e40, 3e40], [1.0, 1.0, 1.0]),
                                    ([0.1, 0.2, 0.3], [1e-40, 1e-40, 1e-40])])
def test_bayes_pool_extremes_raise_a_documented_error(yi, vi):
    eff = mc.EffectSizes(yi=np.array(yi), vi=np.array(vi), study=("a", "b", "c"),
                         measure="GEN")
    with pytest.raises(mc.DataError, match="too extreme"):
        mc.bayes_pool(eff, tau_prior=P.HalfNormal(0.5))


def test_csv_downloads_neutralise_formulas_and_keep_numbers():
    frame = pd.DataFrame({"study": ["=HYPERLINK(\"http://x\")", "+1+1", "-0.5", "@SUM(A1)",
                                    "\tTab", "\rCR", "Plain"],
                          "yi": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7]})
    back = pd.read_csv(io.BytesIO(csv_bytes(frame)), dtype={"study": str})
    assert back["study"].tolist()[:4] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "-0.5",
                                          "'@SUM(A1)"]
    text = csv_bytes(frame).decode()
    assert "'\tTab" in text and "'\rCR" in text and "\nPlain,0.7" in text
    assert back["yi"].iloc[:4].tolist() == frame["yi"].iloc[:4].tolist()
    header = csv_bytes(pd.DataFrame({"=cmd": [1]})).decode().splitlines()[0]
    assert header == "'=cmd"


def test_user_text_is_escaped_everywhere_it_is_shown():
    table = pd.DataFrame({"study": [BEACON, "B", "C"], "yi": [0.1, 0.3, "bad"],
                          "sei": [0.1, 0.2, 0.1], "include": [True, True, True]})
    for path in ("pages/forest.py", "pages/data.py", "pages/causal.py"):
        at = _page(path, table)
        at.session_state["source_name"] = BEACON
        at.session_state["leave_out"] = []
        at.run()
        for text in _shown_markdown(at):
            assert "![x](http" not in text and "[click](http" not in text, (path, text)
            assert "**bold**" not in text.replace("\\*", ""), (path, text)


def test_md_keeps_the_text_readable():
    assert md("Smith (2001) *et al.*") == "Smith \\(2001\\) \\*et al\\.\\*"
    assert md("two\nlines") == "two lines"


def test_leave_out_default_is_not_shared_between_sessions():
    from ui import state

    a = _page("pages/forest.py")
    b = _page("pages/forest.py")
    assert a.session_state["leave_out"] is not state.DEFAULTS["leave_out"]
    a.session_state["leave_out"].append(3)
    assert b.session_state["leave_out"] == [] and state.DEFAULTS["leave_out"] == []


def test_causal_target_trial_is_chosen_by_row_not_by_name():
    table = mc.datasets.load("bcg").copy()
    table.loc[1, "study"] = table.loc[0, "study"]      # two trials share a name
    at = _page("pages/causal.py", table)
    at.radio(key="causal_target").set_value("trial").run()
    at.selectbox(key="causal_trial").set_value(1).run()
    assert not at.exception
    weights = next(d.value for d in at.dataframe if "causal (%)" in d.value.columns)
    assert weights["causal (%)"].round(6).tolist().count(100.0) == 1
    assert weights["causal (%)"].iloc[1] == pytest.approx(100.0)
