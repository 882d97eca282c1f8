"""Results that display themselves in Jupyter: ``_repr_html_`` and ``_repr_markdown_``.

A notebook shows a fit as its summary in words, its ``to_frame()`` table and, for a pooled
result with its studies, a forest plot as inline SVG (drawn by vl-convert when it is installed;
without it the table stands alone).

Why here and not on the classes: the result classes live in ``models`` and ``diagnostics``,
which may not import the report layer, and building HTML is the report layer's work. So
:func:`install` (called once by ``import metacore``) gives each result class the two methods,
which call :func:`to_html` / :func:`to_markdown` below. A class that defines its own repr keeps
it. Every text that comes from the user (study names, labels, notes) is escaped.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import pandas as pd
from scipy import special

from metacore._extras import available

__all__ = ["forest_spec", "install", "result_classes", "to_html", "to_markdown"]

#: Largest number of studies drawn in a notebook's forest plot (beyond it, the table alone).
MAX_STUDIES = 80

_TITLES = {
    "PoolResult": "Meta-analysis", "SubgroupResult": "Subgroup analysis",
    "GroupResult": "Subgroup", "MetaRegResult": "Meta-regression",
    "CausalResult": "Causal meta-analysis", "BayesResult": "Bayesian meta-analysis",
    "ClusterResult": "Clustered (MANTRA-type) meta-analysis",
    "MultilevelResult": "Multilevel meta-analysis", "RobustResult": "Robust variance estimation",
    "NetworkResult": "Network meta-analysis", "TrimFillResult": "Trim and fill",
    "EggerResult": "Egger's regression test", "BeggResult": "Begg's rank correlation test",
    "FailSafeResult": "Fail-safe N", "SummaryOfFindings": "Summary of findings",
    "DesignDecomposition": "Design-by-treatment decomposition",
}


def result_classes() -> list[type]:
    """The result classes that display themselves in a notebook.

    >>> "PoolResult" in [c.__name__ for c in result_classes()]
    True
    """
    from metacore.diagnostics.network import DesignDecomposition
    from metacore.diagnostics.smallstudy import (
        BeggResult,
        EggerResult,
        FailSafeResult,
        TrimFillResult,
    )
    from metacore.models.bayes import BayesResult
    from metacore.models.causal import CausalResult
    from metacore.models.cluster import ClusterResult
    from metacore.models.metareg import MetaRegResult
    from metacore.models.multilevel import MultilevelResult
    from metacore.models.network import NetworkResult
    from metacore.models.pooling import PoolResult
    from metacore.models.robust import RobustResult
    from metacore.models.subgroups import GroupResult, SubgroupResult
    from metacore.review.sof import SummaryOfFindings

    return [PoolResult, SubgroupResult, GroupResult, MetaRegResult, CausalResult, BayesResult,
            ClusterResult, MultilevelResult, RobustResult, NetworkResult, TrimFillResult,
            EggerResult, BeggResult, FailSafeResult, SummaryOfFindings, DesignDecomposition]


def _repr_html(self) -> str:
    return to_html(self)


def _repr_markdown(self) -> str:
    return to_markdown(self)


def install() -> None:
    """Give every result class ``_repr_html_`` and ``_repr_markdown_`` (once, on import).

    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> res._repr_markdown_().splitlines()[0]
    '**Meta-analysis: Risk ratio**'
    """
    for cls in result_classes():
        if "_repr_html_" not in cls.__dict__:
            cls._repr_html_ = _repr_html
        if "_repr_markdown_" not in cls.__dict__:
            cls._repr_markdown_ = _repr_markdown


# --- what a result says --------------------------------------------------------------------

def _title(result) -> str:
    title = _TITLES.get(type(result).__name__, type(result).__name__)
    name = getattr(result, "name", None)
    return f"{title}: {name}" if isinstance(name, str) and name else title


def _p(p: float) -> str:
    from metacore.numbers import format_p

    return format_p(p)


def _lines(result) -> str:
    """The result in words: its own ``summary()``, or a line for those without one."""
    kind = type(result).__name__
    summary = getattr(result, "summary", None)
    if callable(summary):
        return str(summary())
    if kind == "SubgroupResult":
        df = result.q_between_df
        return (f"{len(result.groups)} subgroups by {result.by}; test for subgroup differences: "
                f"Q({df}) = {result.q_between:.2f}, p = {_p(result.q_between_pvalue)}\n"
                + result.overall.summary())
    if kind == "GroupResult":
        return f"{result.label} (k = {result.k})\n" + result.fit.summary()
    if kind == "EggerResult":
        return (f"Egger's test ({result.model}, k = {result.k}): statistic = "
                f"{result.statistic:.4f}, p = {_p(result.pvalue)}; limit estimate "
                f"{result.limit:.4f} [{result.limit_ci_low:.4f}, {result.limit_ci_high:.4f}]")
    if kind == "BeggResult":
        return (f"Begg's rank correlation test (k = {result.k}): Kendall's tau = "
                f"{result.tau:.4f}, p = {_p(result.pvalue)}")
    if kind == "TrimFillResult":
        return (f"Estimated number of missing studies on the {result.side} side: "
                f"{result.k0} ({result.estimator})\n" + result.result.summary())
    if kind == "FailSafeResult":
        return f"Fail-safe N ({result.method}): {result.n:g} (p = {_p(result.pvalue)})"
    return ""


def _frame(result) -> pd.DataFrame | None:
    if type(result).__name__ == "GroupResult":
        return result.fit.to_frame()
    to_frame = getattr(result, "to_frame", None)
    if not callable(to_frame):
        return None
    frame = to_frame()
    return frame if isinstance(frame, pd.DataFrame) else None


def _cell(x) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return "" if math.isnan(x) else f"{float(x):.4g}"
    return str(x)


def _frame_rows(frame: pd.DataFrame, limit: int = 200) -> tuple[list[str], list[list[str]]]:
    index = frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex)
    header = ([str(frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    rows = []
    for key, row in zip(frame.index[:limit], frame.itertuples(index=False), strict=False):
        rows.append(([_cell(key)] if index else []) + [_cell(x) for x in row])
    return header, rows


# --- the forest plot -----------------------------------------------------------------------

def forest_spec(result, width: int = 360) -> dict | None:
    """A small Vega-Lite forest plot of a pooled result's studies and its diamond (natural
    scale, log axis for ratios), or None when the result has no studies to draw.

    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> spec = forest_spec(res)
    >>> len(spec["data"]["values"]), spec["layer"][0]["encoding"]["x"]["scale"]["type"]
    (14, 'log')
    """
    from metacore.models.pooling import PoolResult

    if not isinstance(result, PoolResult):
        return None
    yi, vi = np.asarray(result.yi, float), np.asarray(result.vi, float)
    k = yi.size
    if k == 0 or k > MAX_STUDIES or vi.size != k or not math.isfinite(result.estimate):
        return None
    z = float(special.ndtri(0.5 + result.level / 2))
    t = result.transform
    names = [str(s) for s in result.study] if len(result.study) == k else \
        [f"Study {i + 1}" for i in range(k)]
    weights = np.asarray(result.weights, float)
    weights = 100 * weights / weights.sum() if weights.size == k and weights.sum() > 0 \
        else np.full(k, 100 / k)
    se = np.sqrt(vi)
    rows = [{"row": i, "label": names[i], "kind": "study", "est": float(t(yi[i])),
             "lo": float(t(yi[i] - z * se[i])), "hi": float(t(yi[i] + z * se[i])),
             "weight": float(weights[i])} for i in range(k)]
    pooled = "Random-effects model" if result.model == "random" else "Pooled estimate"
    rows.append({"row": k, "label": pooled, "kind": "pooled", "est": float(t(result.estimate)),
                 "lo": float(t(result.ci_low)), "hi": float(t(result.ci_high)), "weight": 0.0})
    # rows by position, labelled by name: two studies of the same name stay two rows
    labels = {r["row"]: r["label"] for r in rows}
    y = {"field": "row", "type": "ordinal", "title": None,
         "axis": {"labelExpr": _label_expr(labels), "labelLimit": 200}}
    scale = {"type": "log"} if result.ratio else {"zero": False}
    x = {"field": "lo", "type": "quantitative", "scale": scale, "title": result.name}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": width, "height": 16 * (k + 1),
        "data": {"values": rows},
        "layer": [
            {"mark": {"type": "rule", "color": "black"},
             "encoding": {"y": y, "x": x, "x2": {"field": "hi"}}},
            {"transform": [{"filter": "datum.kind == 'study'"}],
             "mark": {"type": "square", "color": "#1f4e79", "opacity": 1},
             "encoding": {"y": y, "x": {"field": "est", "type": "quantitative"},
                          "size": {"field": "weight", "type": "quantitative", "legend": None}}},
            {"transform": [{"filter": "datum.kind == 'pooled'"}],
             "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 250,
                      "color": "black", "opacity": 1},
             "encoding": {"y": y, "x": {"field": "est", "type": "quantitative"}}},
            {"data": {"values": [{"null": 1.0 if result.ratio else 0.0}]},
             "mark": {"type": "rule", "strokeDash": [4, 4], "color": "grey"},
             "encoding": {"x": {"field": "null", "type": "quantitative"}}},
        ],
    }


def _label_expr(labels: dict[int, str]) -> str:
    """A Vega expression mapping a row number to its label (labels as JSON strings, so any
    quote or backslash in a study name stays text)."""
    import json

    return "{" + ", ".join(f"'{i}': {json.dumps(s)}" for i, s in labels.items()) \
        + "}[datum.value]"


def _forest_svg(result) -> str:
    """The forest plot as inline SVG, or "" (no studies, too many, or no vl-convert)."""
    spec = forest_spec(result)
    if spec is None or not available("vl_convert"):
        return ""
    from metacore.report.export import _inert_svg
    from metacore.report.render import RenderError, to_image

    try:
        svg = to_image(spec, "svg").decode("utf-8")
    except RenderError:
        return ""
    return _inert_svg(svg)


# --- HTML and Markdown ---------------------------------------------------------------------

def to_html(result, *, forest: bool = True) -> str:
    """A result as one HTML fragment: title, the summary in words, the forest plot (pooled
    results, when vl-convert is installed and ``forest``) and the ``to_frame()`` table.

    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> html = to_html(res, forest=False)
    >>> html.startswith('<div class="metacore-result">') and "0.489" in html
    True
    """
    out = ['<div class="metacore-result">',
           f"<p><strong>{escape(_title(result))}</strong></p>"]
    words = _lines(result)
    if words:
        out.append(f'<pre style="white-space: pre-wrap">{escape(words)}</pre>')
    if forest:
        svg = _forest_svg(result)
        if svg:
            out.append(f'<div class="metacore-forest">{svg}</div>')
    frame = _frame(result)
    if frame is not None and len(frame.columns):
        header, rows = _frame_rows(frame)
        out.append('<table class="dataframe"><thead><tr>'
                   + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                for row in rows]
        out.append("</tbody></table>")
        if len(frame) > len(rows):
            out.append(f"<p>… {len(frame) - len(rows)} more rows (see to_frame()).</p>")
    out.append("</div>")
    return "\n".join(out)


def _md(text: str) -> str:
    # a table cell: pipes and line breaks would end it
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(result) -> str:
    """A result as Markdown: title, the summary in a code block, the ``to_frame()`` table.

    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> print(to_markdown(mc.begg(eff)).splitlines()[3])
    Begg's rank correlation test (k = 13): Kendall's tau = 0.0256, p = 0.9524
    """
    out = [f"**{_md(_title(result))}**", ""]
    words = _lines(result)
    if words:
        out += ["```", words.replace("```", "'''"), "```", ""]
    frame = _frame(result)
    if frame is not None and len(frame.columns):
        header, rows = _frame_rows(frame)
        out.append("| " + " | ".join(_md(h) for h in header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
