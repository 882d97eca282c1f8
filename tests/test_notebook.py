"""Results in Jupyter: ``_repr_html_`` of every result class is well-formed HTML that shows the
estimate and escapes user text; ``_repr_markdown_`` and ``to_frame()`` everywhere."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape

import numpy as np
import pandas as pd
import pytest

import metacore as mc
from metacore.report import notebook

EVIL = '<script>alert("x")</script> & | co'


@pytest.fixture(scope="module")
def bcg():
    table = mc.datasets.load("bcg").copy()
    table.loc[0, "study"] = EVIL
    table.loc[table["subgroup"] == "alternate", "subgroup"] = EVIL
    return table


@pytest.fixture(scope="module")
def results(bcg):
    """One instance of each result class, with the number its display must show."""
    eff = mc.compute_effects(bcg, "RR")
    res = mc.pool(eff)
    sg = mc.subgroups(eff, "subgroup")
    mr = mc.metareg(eff, ["ablat"])
    causal = mc.causal_pool(bcg, "RR")
    seed = mc.compute_effects(mc.datasets.load("seed002"), "MD")
    bayes = mc.bayes_pool(seed, tau_prior=mc.priors.HalfNormal(2.0))
    cluster = mc.cluster_meta(seed, mc.distances_from(np.arange(seed.k)), mu_prior_sd=None)
    ko = mc.compute_effects(mc.datasets.load("konstantopoulos2011"), "GEN")
    ml = mc.multilevel(ko, ["district", "school"], profile=False)
    rb = mc.robust(ml, cluster="district")
    nm = mc.network(mc.datasets.load("senn2013"), "MD", reference="placebo")
    tf = mc.trimfill(eff)
    eg, bg, fs = mc.egger(eff), mc.begg(eff), mc.failsafe(eff)
    sof = mc.summary_of_findings(eff, res)
    dd = mc.decomp_design(nm)
    group = next(iter(sg.groups.values()))
    return {
        "PoolResult": (res, f"{res.natural()['estimate']:.3f}"),
        "SubgroupResult": (sg, f"{sg.q_between:.2f}"),
        "GroupResult": (group, f"{group.estimate:.4g}"),
        "MetaRegResult": (mr, f"{mr.coef.loc['ablat', 'estimate']:.4g}"),
        "CausalResult": (causal, f"{causal.natural()['estimate']:.3f}"),
        "BayesResult": (bayes, f"{bayes.mu_median:.2f}"),
        "ClusterResult": (cluster, f"{cluster.theta_mean[0]:.4g}"),
        "MultilevelResult": (ml, f"{ml.estimate:.3f}"),
        "RobustResult": (rb, f"{rb.estimate:.3f}"),
        "NetworkResult": (nm, f"{nm.tau2:.3f}"),
        "TrimFillResult": (tf, f"{tf.result.estimate:.4g}"),
        "EggerResult": (eg, f"{eg.statistic:.4f}"),
        "BeggResult": (bg, f"{bg.tau:.4f}"),
        "FailSafeResult": (fs, f"{fs.n:g}"),
        "SummaryOfFindings": (sof, ""),
        "DesignDecomposition": (dd, f"{dd.table['q'].iloc[0]:.4g}"),
    }


def test_every_result_class_is_covered(results):
    assert {c.__name__ for c in notebook.result_classes()} == set(results)
    for cls in notebook.result_classes():
        assert callable(cls._repr_html_) and callable(cls._repr_markdown_)
        assert callable(getattr(cls, "to_frame", None)) or cls.__name__ == "GroupResult"


@pytest.fixture(scope="module")
def pooled_html(results):
    # drawn once: the forest plot is rendered in a child process (about a second)
    return results["PoolResult"][0]._repr_html_()


@pytest.mark.parametrize("name", sorted(notebook._TITLES))
def test_repr_html_is_well_formed_and_shows_the_estimate(results, pooled_html, name):
    result, shown = results[name]
    html = pooled_html if name == "PoolResult" else result._repr_html_()
    root = ET.fromstring(html)                      # well-formed, one element
    assert root.tag == "div" and root.get("class") == "metacore-result"
    assert escape(notebook._TITLES[name]) in html
    assert shown in html, f"{shown} not in the display of {name}"
    assert root.find("table") is not None or name == "SummaryOfFindings"


def test_user_text_is_escaped(results, pooled_html):
    # a study name in the forest plot's SVG (vl-convert escapes it) ...
    assert "<script" not in pooled_html.lower() and "&lt;script&gt;" in pooled_html
    # ... and a subgroup label in the table
    sub, _ = results["SubgroupResult"]
    html = sub._repr_html_()
    assert "<script" not in html.lower() and escape(EVIL) in html
    ET.fromstring(html)
    md = sub._repr_markdown_()
    assert EVIL.replace("|", "\\|") in md
    rows = [line for line in md.splitlines() if line.startswith("|")]
    evil = next(line for line in rows if "alert" in line)
    # the escaped pipe stays inside its cell: the row has as many cells as the header
    assert len(re.split(r"(?<!\\)\|", evil)) == len(rows[0].split("|"))
    assert results["PoolResult"][0]._repr_markdown_().startswith("**Meta-analysis: Risk ratio**")


def test_pooled_result_has_a_forest_plot_when_vl_convert_is_there(results, pooled_html,
                                                                    monkeypatch):
    res, _ = results["PoolResult"]
    html = pooled_html
    forest = ET.fromstring(html).find("div[@class='metacore-forest']")
    assert forest is not None and forest[0].tag.endswith("svg")
    assert "Ferguson &amp; Simes 1949" in html or "Ferguson & Simes 1949" in html
    monkeypatch.setattr(notebook, "available", lambda module: False)
    alone = res._repr_html_()
    assert "metacore-forest" not in alone and "<table" in alone


def test_forest_spec_keeps_rows_apart_and_names_as_text(results):
    res, _ = results["PoolResult"]
    spec = notebook.forest_spec(res)
    rows = spec["data"]["values"]
    assert [r["row"] for r in rows] == list(range(14)) and rows[0]["label"] == EVIL
    # the label expression holds the name as a JSON string, never as code
    assert '"<script>alert(\\"x\\")</script> & | co"' in spec["layer"][0]["encoding"]["y"][
        "axis"]["labelExpr"]
    assert rows[-1]["est"] == pytest.approx(res.natural()["estimate"], rel=1e-15)
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log"}


def test_markdown_escapes_table_cells(results):
    res, _ = results["ClusterResult"]
    md = res._repr_markdown_()
    assert md.splitlines()[0].startswith("**Clustered")
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert table[0] == "| study | theta_mean | map_cluster |"
    assert len(table) == 2 + res.k


@pytest.mark.parametrize("name", ["ClusterResult", "EggerResult", "BeggResult",
                                  "TrimFillResult", "FailSafeResult"])
def test_new_to_frame_methods(results, name):
    result, _ = results[name]
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame)
    if name == "EggerResult":
        assert frame.set_index("statistic").loc["pvalue", "value"] == result.pvalue
    if name == "TrimFillResult":
        assert frame["k"].tolist() == [result.original.k, result.result.k]
        assert frame["estimate"].iloc[1] == result.result.estimate
