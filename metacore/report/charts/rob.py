"""Risk-of-bias plots as robvis draws them (McGuinness & Higgins 2021): the traffic-light
plot (studies × domains) and the weighted summary bar plot.

Every judgement is a coloured circle WITH its letter (L, S, H; U; M, C, NI), so a reader
who cannot tell the colours apart still reads the plot; the colours are robvis' own.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from metacore.report.charts.common import clip_label
from metacore.review.rob import TOOLS, RobTable

__all__ = ["ROB_COLOURS", "rob_summary_chart", "traffic_light_chart"]

#: robvis' colours for each judgement word.
ROB_COLOURS = {"Low": "#02C100", "Some concerns": "#E2DF07", "Unclear": "#E2DF07",
               "Moderate": "#E2DF07", "Serious": "#BF0000", "High": "#BF0000",
               "Critical": "#820000", "No information": "#4EA1F7"}


def _scale(tool: str) -> alt.Scale:
    levels = list(TOOLS[tool].levels)
    return alt.Scale(domain=levels, range=[ROB_COLOURS[x] for x in levels])


def traffic_light_chart(table: RobTable, *, width: int = 360) -> alt.Chart:
    """Studies (rows) × domains D1…Dk and Overall (columns): a circle per judgement, coloured
    and lettered; the domain names are in the tooltip and the legend.

    >>> from metacore.review.rob import RobAssessment
    >>> t = RobTable("rob2", (RobAssessment.build("A", "rob2", ["Low"] * 5),))
    >>> len(traffic_light_chart(t).to_dict()["datasets"]) >= 1
    True
    """
    tool = TOOLS[table.tool]
    names = dict(table.names)
    cols = [f"D{j}" for j in range(1, len(tool.domains) + 1)] + ["Overall"]
    rows = []
    for a in table.assessments:
        study = clip_label(names.get(a.study_id, a.study_id), 40)
        for j, col in enumerate(cols):
            judg = a.domains[j] if j < len(tool.domains) else a.overall
            rows.append({"study": study, "domain": col,
                         "domain_name": tool.domains[j] if j < len(tool.domains) else
                         "Overall risk of bias", "level": judg.level,
                         "letter": tool.letter(judg.level), "support": judg.support[:200]})
    data = pd.DataFrame(rows, columns=["study", "domain", "domain_name", "level", "letter",
                                       "support"])
    order = [clip_label(names.get(a.study_id, a.study_id), 40) for a in table.assessments]
    base = alt.Chart(data).encode(
        x=alt.X("domain:N", sort=cols, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("study:N", sort=order, title=None))
    dots = base.mark_circle(size=420, opacity=1).encode(
        color=alt.Color("level:N", scale=_scale(table.tool), title="Judgement"),
        tooltip=["study", "domain_name", "level", "support"])
    letters = base.mark_text(fontWeight="bold", fontSize=11, color="black").encode(
        text="letter:N")
    return (dots + letters).properties(width=width, height=max(60, 26 * len(order)),
                                       title=f"{tool.name}: risk of bias by study")


def rob_summary_chart(table: RobTable, *, weighted: bool = True,
                      width: int = 420, label_limit: int = 320) -> alt.Chart:
    """Per domain (and overall), the share of weight — or of studies — at each judgement,
    as robvis' summary plot: stacked horizontal bars from 0 to 100%. Domain names longer
    than ``label_limit`` pixels end in an ellipsis (a phone has no room for them)."""
    tool = TOOLS[table.tool]
    data = table.shares(weighted=weighted)
    data["percent"] = 100 * data["share"]
    data["letter"] = [tool.letter(x) if p >= 8 else "" for x, p in
                      zip(data["level"], data["percent"], strict=False)]
    domains = [*tool.domains, "Overall risk of bias"]
    rank = {lv: i for i, lv in enumerate(tool.levels)}
    data["rank"] = data["level"].map(rank)
    what = "weight" if weighted and table.weights else "studies"
    base = alt.Chart(data).encode(
        y=alt.Y("domain:N", sort=domains, title=None, axis=alt.Axis(labelLimit=label_limit)),
        x=alt.X("percent:Q", stack="zero", title=f"Share of {what} (%)",
                scale=alt.Scale(domain=[0, 100])),
        order=alt.Order("rank:Q"))
    bars = base.mark_bar().encode(
        color=alt.Color("level:N", scale=_scale(table.tool), title="Judgement",
                        sort=list(tool.levels)),
        tooltip=["domain", "level", alt.Tooltip("percent:Q", format=".1f")])
    text = base.mark_text(color="black", fontWeight="bold", dx=-8, align="right").encode(
        text="letter:N")
    return (bars + text).properties(width=width, height=26 * len(domains),
                                    title=f"{tool.name}: summary")
