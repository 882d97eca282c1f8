"""The small-study page's four tools — funnel and tests, influence, cumulative, GOSH — as
cached computations and chart specs, so the page only lays them out."""

import pandas as pd
import streamlit as st

import metacore as mc
from metacore.report.charts import baujat_chart, funnel_chart, gosh_chart, interval_rows_chart
from ui import analysis as an
from ui.cache import cached

GOSH_SUBSETS = 1_048_575     # every subset up to k = 20
GOSH_SAMPLE = 200_000        # a random sample beyond


def fit_kw(res: mc.PoolResult) -> dict:
    model = res.model if res.model in ("random", "common") else "common"
    return {"model": model, "tau2_method": res.tau2_method or "REML",
            "ci_method": res.ci_method, "level": res.level}


@cached(max_entries=32)
def tests_for(inputs: tuple, kw: tuple, egger_model: str) -> dict:
    """Egger, Begg, trim-and-fill (L0), fail-safe N; each either a result or its error."""
    eff = an.analyse(*inputs).effects
    kw = dict(kw)
    out = {}
    calls = {"egger": lambda: mc.egger(eff, model=egger_model if egger_model == "lm"
                                       else kw["model"], tau2_method=kw["tau2_method"],
                                       ci_method=kw["ci_method"], level=kw["level"]),
             "begg": lambda: mc.begg(eff),
             "trimfill": lambda: mc.trimfill(eff, **kw),
             "rosenthal": lambda: mc.failsafe(eff, method="rosenthal"),
             "orwin": lambda: mc.failsafe(eff, method="orwin"),
             "rosenberg": lambda: mc.failsafe(eff, method="rosenberg")}
    for name, call in calls.items():
        try:
            out[name] = call()
        except mc.MetacoreError as err:
            out[name] = str(err)
    return out


@cached(max_entries=32)
def influence_of(inputs: tuple, kw: tuple) -> tuple[pd.DataFrame | None, str]:
    try:
        return mc.influence(an.analyse(*inputs).effects, **dict(kw)), ""
    except mc.MetacoreError as err:
        return None, str(err)


@cached(max_entries=32)
def cumulative_of(inputs: tuple, kw: tuple, order: str | None) -> pd.DataFrame:
    eff = an.analyse(*inputs).effects
    return mc.cumulative(eff, order=order, **dict(kw))


def gosh_of(inputs: tuple, model: str, progress) -> pd.DataFrame:
    """GOSH for the current analysis, kept in the session (one at a time): a progress bar
    cannot be drawn from inside a cached function."""
    key = (inputs[0].digest, inputs[1:], model)
    s = st.session_state
    if s.get("_gosh_key") != key:
        eff = an.analyse(*inputs).effects
        n = GOSH_SUBSETS if 2**eff.k - 1 <= GOSH_SUBSETS else GOSH_SAMPLE
        s["_gosh"] = mc.gosh(eff, model=model, tau2_method="DL", subsets=n, progress=progress)
        s["_gosh_key"] = key
    return s["_gosh"]


def ok(tests: dict, name: str):
    """A test's result, or None when it gave a message instead."""
    return None if isinstance(tests[name], str) else tests[name]


@cached(max_entries=32)
def funnel_spec(inputs: tuple, kw: tuple, egger_model: str, show_egger: bool) -> dict:
    """The funnel plot's spec, built once per state (Altair takes ~0.1 s per chart)."""
    eff = an.analyse(*inputs).effects
    tests = tests_for(inputs, kw, egger_model)
    tf, eg = ok(tests, "trimfill"), ok(tests, "egger")
    return funnel_chart(eff, mc.pool(eff, **dict(kw)), trimfill=tf,
                        egger=eg if show_egger else None, width=560).to_dict(validate=False)


@cached(max_entries=32)
def baujat_spec(inputs: tuple, kw: tuple) -> dict:
    return baujat_chart(influence_of(inputs, kw)[0]).to_dict(validate=False)


@cached(max_entries=32)
def cumulative_spec(inputs: tuple, kw: tuple, order: str | None, title: str) -> dict:
    eff = an.analyse(*inputs).effects
    cu = cumulative_of(inputs, kw, order)
    frame = pd.DataFrame({"label": [f"+ {x}" for x in cu["study"]], "est": cu["estimate"],
                          "lo": cu["ci_low"], "hi": cu["ci_high"], "group": "pooled so far"})
    return interval_rows_chart(frame, "Cumulative meta-analysis",
                               mc.MEASURE_LABELS[eff.measure], ratio=eff.ratio,
                               subtitle=title).to_dict(validate=False)


def gosh_spec(inputs: tuple, model: str, mark: int, g: pd.DataFrame) -> dict:
    """The GOSH plot's spec, kept beside the GOSH fits it draws (one at a time)."""
    key = (inputs[0].digest, inputs[1:], model, mark)
    s = st.session_state
    if s.get("_gosh_spec_key") != key:
        eff = an.analyse(*inputs).effects
        s["_gosh_spec"] = gosh_chart(g, highlight=mark, label=eff.study[mark], ratio=eff.ratio,
                                     measure=eff.measure).to_dict(validate=False)
        s["_gosh_spec_key"] = key
    return s["_gosh_spec"]
