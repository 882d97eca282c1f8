"""Charts through their specs: encodings, rows, scales (not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import metacore as mc
from metacore.charts import forest_chart, forest_frame, nice_ticks


def test_forest_rows_text_and_log_axis():
    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    res = mc.pool(eff)
    frame = forest_frame(eff, [res, mc.pool(eff, model="common")])
    assert frame["kind"].tolist().count("study") == 13
    assert frame.iloc[-1]["study"] == "95% prediction interval"
    # metafor: rma(measure="RR", dat.bcg) -> 0.49 [0.34, 0.70]
    assert "0.49 [0.34, 0.70]" in frame["ci_text"].tolist()
    spec = forest_chart(eff, [res]).to_dict()
    plot = spec["hconcat"][0]
    scales = [layer["encoding"]["x"].get("scale", {}).get("type") for layer in plot["layer"]]
    assert "log" in scales
    assert set(spec["datasets"]) == {"rows", "diamonds", "refs"}


def test_forest_greys_left_out_studies_at_their_estimate():
    t = mc.datasets.load("bcg").assign(include=True)
    t.loc[0, "include"] = False
    eff = mc.compute_effects(t, "RR")
    shadow = mc.compute_effects(t.assign(include=True), "RR")
    frame = forest_frame(eff, [mc.pool(eff)], shadow=shadow)
    row = frame[frame["study"] == "Aronson 1948"].iloc[0]
    assert row["kind"] == "excluded" and row["ci_text"] == "0.41 [0.13, 1.26] left out"


def test_forest_stays_readable_for_thousands_of_studies():
    rng = np.random.default_rng(0)
    vi = rng.uniform(0.01, 0.3, 400)
    eff = mc.compute_effects(pd.DataFrame({"yi": rng.normal(0, 0.3, 400), "vi": vi}), "GEN")
    frame = forest_frame(eff, [mc.pool(eff)], max_studies=150)
    assert frame["kind"].tolist().count("study") == 150
    assert "250 smaller studies not drawn" in " ".join(frame["study"])


def test_nice_ticks():
    assert nice_ticks(0.12, 1.9, log=True) == [0.1, 0.2, 0.5, 1.0, 2.0]
    assert nice_ticks(-4.8, 9.3, log=False) == [-5, 0, 5, 10]
