"""Charts through their specs: encodings, rows, scales (not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metacore as mc
from metacore.report.charts import forest_chart, forest_frame, nice_ticks


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


def test_tick_labels_never_overlap_at_the_chart_width():
    from metacore.report.charts.common import label_px, nice_ticks

    for lo, hi, log, width in ((0.33, 1.0, True, 200), (0.0, 0.35, False, 220),
                               (0.002, 200, True, 230), (0.1, 0.95, True, 230)):
        ticks = nice_ticks(lo, hi, log, width=width)
        f = np.log if log else (lambda x: x)
        pos = [(f(t) - f(ticks[0])) / (f(ticks[-1]) - f(ticks[0])) * width for t in ticks]
        for i in range(len(ticks) - 1):
            gap = pos[i + 1] - pos[i]
            assert gap >= (label_px(ticks[i]) + label_px(ticks[i + 1])) / 2 - 1e-9, ticks


def test_shrinkage_chart_draws_complete_pooling_at_the_common_effect():
    from metacore.models.shrinkage import shrinkage_path
    from metacore.report.charts import shrinkage_chart

    eff = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    tau = 1.0
    w = 1 / (eff.vi + tau**2)
    mean_at_tau = float(w @ eff.yi / w.sum())
    common = mc.pool(eff, model="common").estimate           # seed 002: FE -2.04
    spec = shrinkage_chart(shrinkage_path(eff, tau), mean_at_tau, tau, "MD", False,
                           common=common).to_dict()
    rows = [r for d in spec["datasets"].values() for r in d if "what" in r]
    lines = {r["what"]: r["x"] for r in rows}
    assert lines["Complete pooling (common effect)"] == pytest.approx(-2.042, abs=1e-3)
    assert lines["Mean at this τ"] == pytest.approx(mean_at_tau)
    assert isinstance(spec["title"]["subtitle"], list)


def _name_boxes(x, y, texts, sides, width, height, font=10.0, gap=7.0):
    """The pixel boxes label_sides promises for the names it placed."""
    px = (x - x.min()) / (np.ptp(x) or 1) * width
    py = height - (y - y.min()) / (np.ptp(y) or 1) * height
    out = []
    for i, side in enumerate(sides):
        if not side:
            continue
        w, h = 0.65 * font * len(texts[i]) + 1, 1.3 * font
        x0 = {"right": px[i] + gap - 1, "left": px[i] - gap - w + 1}.get(side, px[i] - w / 2)
        y0 = {"above": py[i] - gap - h + 2, "below": py[i] + gap - 2}.get(side, py[i] - h / 2)
        out.append((x0, y0, x0 + w, y0 + h))
    return out, px, py


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(1, 25)),
                min_size=1, max_size=40))
def test_point_names_never_overlap_each_other_points_or_the_legend(points):
    from metacore.report.charts.common import label_sides

    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    texts = ["n" * p[2] for p in points]
    sides = label_sides(x, y, texts, -np.arange(len(points)), width=300, height=200)
    boxes, px, py = _name_boxes(x, y, texts, sides, 300, 200)
    for a, b in ((a, b) for n, a in enumerate(boxes) for b in boxes[n + 1:]):
        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    named = np.flatnonzero(sides != "")
    for box, i in zip(boxes, named, strict=True):
        assert 0 <= box[0] and box[2] <= 300                  # not into the legend
        others = np.arange(len(points)) != i
        assert not ((box[0] < px + 4) & (px - 4 < box[2]) & (box[1] < py + 4)
                    & (py - 4 < box[3]) & others).any()
    # the first point always gets a name when nothing else is in the way
    if len(points) == 1 and 6 * points[0][2] + 8 < 300:
        assert sides[0] != ""


def test_crowded_charts_name_what_fits_and_say_so():
    from metacore.report.charts.cluster import cluster_map_chart
    from metacore.report.charts.smallstudy import baujat_chart

    eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    spec = baujat_chart(mc.influence(eff, tau2_method="REML")).to_dict()
    texts = [row["label"] for layer in spec["layer"][1]["layer"]
             for row in spec["datasets"][layer["data"]["name"]]]
    assert 7 <= len(texts) < 13 and "Hart & Sutherland 1977" in texts
    assert f"{13 - len(texts)} names left off" in " ".join(spec["title"]["subtitle"])
    bcg = mc.datasets.load("bcg")
    res = mc.cluster_meta(eff, mc.distances_from(bcg["ablat"].to_numpy(float)))
    spec = cluster_map_chart(bcg["ablat"].to_numpy(float), res, ["ablat"], width=380).to_dict()
    texts = [row["study"] for layer in spec["layer"][1]["layer"]
             for row in spec["datasets"][layer["data"]["name"]]]
    # two studies at latitude 44 in one cluster share one name
    assert "Aronson 1948, Stein & Aronson 1953" in texts
