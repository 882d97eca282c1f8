"""The whole-review report: one self-contained HTML page (it works offline) with the
summary-of-findings table of every comparison, every outcome's forest plot with its
risk-of-bias columns, the risk-of-bias plots, a methods paragraph and one R script that
reproduces every outcome with metafor."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html import escape as e

import pandas as pd

from metacore.errors import MetacoreError
from metacore.report.charts.revman import publication_forest
from metacore.report.charts.rob import rob_summary_chart, traffic_light_chart
from metacore.report.export import _CSS, _inert_svg, _table_html, metafor_script
from metacore.review.model import Outcome, Review
from metacore.review.rob import TOOLS, RobTable
from metacore.review.sof import MAX_SOF_OUTCOMES, review_summary

__all__ = ["outcome_script", "review_html", "review_methods", "review_script", "superscripts"]

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscripts(text: str) -> str:
    """The summary-of-findings table's footnote marks (``^1^2``) as superscript numbers,
    as GRADEpro prints them.

    >>> superscripts("⊕⊕◯◯ Low^1^2")
    '⊕⊕◯◯ Low¹˒²'
    """
    marks = re.findall(r"\^(\d+)", text)
    if not marks:
        return text
    return re.sub(r"(\^\d+)+", "", text) + "˒".join(m.translate(_SUP) for m in marks)


def _script_options(o: Outcome) -> dict:
    """metafor_script's options for an outcome's own settings."""
    if o.kind in ("generic", "oe"):
        measure = "GEN"
    else:
        measure = o.measure
    if o.model == "random":
        model = "random"
    elif o.method == "MH" and o.kind == "binary":
        model = "MH"
    elif o.method == "PETO" and o.kind == "binary":
        model = "PETO"
    else:
        model = "common"
    opts = {"measure": measure, "model": model, "tau2_method": o.tau2_method,
            "level": o.level}
    if measure == "GEN":
        opts |= {"scale": "log" if o.kind == "oe" else o.scale, "label": o.label}
    return opts


def outcome_script(o: Outcome) -> str:
    """R (metafor) code reproducing one outcome's analysis as its settings ask.

    >>> from metacore.review.model import StudyRow
    >>> o = Outcome("o1", "Death", "binary", "RR", method="MH", rows=(
    ...     StudyRow("a", (("events_t", 4.0), ("n_t", 50.0), ("events_c", 9.0),
    ...                    ("n_c", 50.0))),))
    >>> "rma.mh" in outcome_script(o)
    True
    """
    table = o.table
    if o.kind == "oe":      # (O - E) / V is the log Peto odds ratio, V its inverse variance
        table = table.assign(yi=table["oe"] / table["vi"], sei=table["vi"] ** -0.5) \
            .drop(columns=["oe", "vi"])
    return metafor_script(table, **_script_options(o))


def review_script(review: Review) -> str:
    """One R script reproducing every outcome of the review (each fit in ``res``)."""
    parts = [f"# {review.title}: every outcome, reproduced with metafor", "library(metafor)"]
    for c in review.comparisons:
        for o in c.outcomes:
            parts.append(f"\n# ---- {c.name} / {o.name} ({o.settings}) " + "-" * 10)
            try:
                body = outcome_script(o)
            except MetacoreError as err:
                body = f"# not reproducible: {err}"
            parts.append("\n".join(line for line in body.splitlines()
                                   if line.strip() != "library(metafor)"))
            parts.append("print(res)")
    return "\n".join(parts) + "\n"


def review_methods(review: Review) -> str:
    """The methods paragraph: how the outcomes were analysed, risk of bias and GRADE."""
    settings = sorted({o.settings for o in review.outcomes})
    measures = sorted({o.measure for o in review.outcomes})
    tools = sorted({TOOLS[a.tool].name for a in review.rob})
    random = any(o.model == "random" for o in review.outcomes)
    text = (f"The review holds {len(review.comparisons)} comparison"
            f"{'s' if len(review.comparisons) != 1 else ''} and {len(review.outcomes)} "
            f"outcome{'s' if len(review.outcomes) != 1 else ''}. Each outcome was analysed as "
            f"its settings say ({'; '.join(settings) or 'none'}; effect measures "
            f"{', '.join(measures) or 'none'}): Mantel–Haenszel and Peto fixed-effect "
            "methods for 2×2 data where chosen, otherwise inverse-variance weighting.")
    if random:
        text += (" Random-effects outcomes estimate the between-study variance by their "
                 "chosen estimator (DerSimonian–Laird as in RevMan 5 unless stated).")
    if tools:
        text += (f" Risk of bias was assessed with {', '.join(tools)}; RoB 2's overall "
                 "judgement follows the tool's algorithm unless overridden with a reason, "
                 "and sensitivity analyses restrict each outcome to studies at low risk and "
                 "to studies not at high risk.")
    text += (" The certainty of the evidence was rated with GRADE (five domains for rating "
             "down, three for rating up), starting at high for randomised evidence; the "
             "data's suggestions were confirmed or overridden by the team with a footnote. "
             "Every number can be reproduced with the R script at the end (metafor).")
    return text


def _svg(chart, render: Callable[[dict], str]) -> str:
    try:
        return _inert_svg(render(chart.to_dict()))
    except MetacoreError as err:
        return f"<p>(plot not drawn: {e(str(err))})</p>"


def _rob_for(review: Review, o: Outcome) -> RobTable | None:
    """The outcome's risk-of-bias table for its forest plot: RoB 2 for this result first,
    then the first tool with judgements."""
    for tool in TOOLS:
        table = review.rob_table(tool, o.id if TOOLS[tool].per_result else "",
                                 weights=False)
        if table.assessments:
            return table
    return None


def _default_render(spec: dict) -> str:
    from metacore.report.render import to_image

    return to_image(spec, "svg").decode("utf-8")


def review_html(review: Review, *, sof_outcomes: Mapping[str, list[str] | None] | None = None,
                render: Callable[[dict], str] | None = None) -> str:
    """The whole-review report as one self-contained HTML page.

    ``sof_outcomes`` maps a comparison id to the outcomes of its summary-of-findings table
    in order (default its first seven); ``render`` turns a Vega-Lite spec into SVG text
    (default: vl-convert in a child process). The page makes no request to any other host
    and every user text is escaped.

    Examples
    --------
    >>> from metacore.review.model import Outcome, StudyRow
    >>> rev = Review("Demo").add_study("A").add_study("B").add_comparison("X vs Y")
    >>> rev = rev.add_outcome("CMP-001", Outcome("", "Death", "binary", "RR", rows=(
    ...     StudyRow("STD-001", (("events_t", 4.0), ("n_t", 50.0), ("events_c", 9.0),
    ...                          ("n_c", 50.0))),
    ...     StudyRow("STD-002", (("events_t", 10.0), ("n_t", 80.0), ("events_c", 15.0),
    ...                          ("n_c", 82.0))))))
    >>> page = review_html(rev, render=lambda spec: "<svg></svg>")
    >>> "Summary of findings: X vs Y" in page and "rma(" in page
    True
    """
    render = render or _default_render
    sof_outcomes = sof_outcomes or {}
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; img-src data:">',
           f"<title>{e(review.title)}</title><style>{_CSS}"
           ".rob svg, .forest svg {max-width: 100%; height: auto;}</style></head><body>",
           f"<h1>{e(review.title)}</h1>",
           f'<p class="meta">{len(review.comparisons)} comparisons, '
           f"{len(review.outcomes)} outcomes, {len(review.studies)} studies</p>"]
    for c in review.comparisons:
        if not c.outcomes:
            continue
        out.append(f"<h2>Summary of findings: {e(c.name)}</h2>")
        picks = sof_outcomes.get(c.id) or [o.id for o in c.outcomes][:MAX_SOF_OUTCOMES]
        try:
            summary = review_summary(review, c.id, list(picks))
            frame = summary.to_frame()
            col = "Certainty of the evidence (GRADE)"
            out.append(_table_html(frame.assign(**{col: frame[col].map(superscripts)})))
            if summary.footnotes:
                out.append('<ol class="refs">' + "".join(
                    f"<li>{e(n)}</li>" for n in summary.footnotes) + "</ol>")
        except MetacoreError as err:
            out.append(f"<p>{e(str(err))}</p>")
    out.append("<h2>Forest plots</h2>")
    for c in review.comparisons:
        for o in c.outcomes:
            out.append(f"<h3>{e(c.name)}: {e(o.name)}</h3>")
            try:
                eff, res = o.effects(), o.analyse()
            except MetacoreError as err:
                out.append(f"<p>Not analysed: {e(str(err))}</p>")
                continue
            rob = _rob_for(review, o)
            chart = publication_forest(eff, res, arms=o.arm_labels, favours=o.favours,
                                       show_pi=False, width=900, rob=rob)
            out.append(f'<div class="forest">{_svg(chart, render)}</div>')
            if rob is not None:
                tool = TOOLS[rob.tool]
                out.append('<p class="meta">Risk of bias (' + e(tool.name) + "): " + "; ".join(
                    f"D{j} {e(d)}" for j, d in enumerate(tool.domains, start=1))
                    + "; O overall.</p>")
            if o.stored is not None:
                cmp = o.compare_stored()
                if not cmp.empty:
                    shown = cmp.assign(**{c: cmp[c].map(lambda v: f"{v:.4g}")
                                          for c in ("ours", "revman", "difference")})
                    out.append("<p>Beside RevMan's stored totals:</p>"
                               + _table_html(shown, ("ours", "revman", "difference")))
                if o.stored_note:
                    out.append(f'<p class="meta">{e(o.stored_note)}</p>')
    tools = [t for t in TOOLS if any(a.tool == t for a in review.rob)]
    if tools:
        out.append("<h2>Risk of bias</h2>")
        for t in tools:
            outcome_ids = [""] if not TOOLS[t].per_result else sorted(
                {a.outcome_id for a in review.rob if a.tool == t})
            for oid in outcome_ids:
                table = review.rob_table(t, oid, weights=False)
                if not table.assessments:
                    continue
                if oid:
                    out.append(f"<h3>{e(TOOLS[t].name)}: {e(review.outcome(oid).name)}</h3>")
                out.append(f'<div class="rob">{_svg(traffic_light_chart(table), render)}'
                           f"{_svg(rob_summary_chart(table, weighted=False), render)}</div>")
                notes = [a for a in table.assessments if a.overridden]
                if notes:
                    out.append("<ul>" + "".join(
                        f"<li>{e(review.study(a.study_id).name)}: overall "
                        f"{e(a.overall.level)} (algorithm: {e(a.suggestion)}) — "
                        f"{e(a.override_reason)}</li>" for a in notes) + "</ul>")
    out += ["<h2>Studies</h2>", _table_html(pd.DataFrame(
        {"Study": [s.name for s in review.studies], "Year": [s.year for s in review.studies]})),
        "<h2>Methods</h2>", f"<p>{e(review_methods(review))}</p>",
        "<h2>Reproduce in R (metafor)</h2>", f"<pre>{e(review_script(review))}</pre>",
        "</body></html>"]
    return "\n".join(out)
