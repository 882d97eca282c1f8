"""Risk of bias: RoB 2, RoB 1, ROBINS-I and QUADAS-2 judgements per study (and, for RoB 2,
per study × outcome), with support text, RoB 2's suggested overall judgement, and
robvis-style tables (study, D1…Dk, Overall, Weight) in and out.

Each tool keeps its own judgement words (Sterne et al. 2019, RoB 2; Higgins et al. 2011,
RoB 1; Sterne et al. 2016, ROBINS-I; Whiting et al. 2011, QUADAS-2), as robvis
(McGuinness & Higgins 2021) draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from metacore.errors import DataError, OptionError

__all__ = ["TOOLS", "Judgement", "RobAssessment", "RobTable", "Tool", "read_robvis",
           "suggested_overall"]


@dataclass(frozen=True)
class Tool:
    """A risk-of-bias tool: its domains, its judgement words (least to most severe) and
    the letter each judgement is drawn with (for readers who cannot tell the colours)."""

    key: str
    name: str
    domains: tuple[str, ...]
    levels: tuple[str, ...]
    letters: tuple[str, ...]
    per_result: bool = False

    def letter(self, level: str) -> str:
        """The letter drawn for a judgement: ``'L'``, ``'S'``, ``'H'`` …"""
        return self.letters[self.levels.index(level)]


TOOLS: dict[str, Tool] = {
    "rob2": Tool("rob2", "RoB 2", (
        "Bias arising from the randomization process",
        "Bias due to deviations from intended interventions",
        "Bias due to missing outcome data",
        "Bias in measurement of the outcome",
        "Bias in selection of the reported result"),
        ("Low", "Some concerns", "High"), ("L", "S", "H"), per_result=True),
    "rob1": Tool("rob1", "RoB 1 (Cochrane)", (
        "Random sequence generation (selection bias)",
        "Allocation concealment (selection bias)",
        "Blinding of participants and personnel (performance bias)",
        "Blinding of outcome assessment (detection bias)",
        "Incomplete outcome data (attrition bias)",
        "Selective reporting (reporting bias)",
        "Other bias"),
        ("Low", "Unclear", "High"), ("L", "U", "H")),
    "robins-i": Tool("robins-i", "ROBINS-I", (
        "Bias due to confounding",
        "Bias due to selection of participants",
        "Bias in classification of interventions",
        "Bias due to deviations from intended interventions",
        "Bias due to missing data",
        "Bias in measurement of outcomes",
        "Bias in selection of the reported result"),
        ("Low", "Moderate", "Serious", "Critical", "No information"),
        ("L", "M", "S", "C", "NI")),
    "quadas2": Tool("quadas2", "QUADAS-2", (
        "Patient selection", "Index test", "Reference standard", "Flow and timing"),
        ("Low", "Unclear", "High"), ("L", "U", "H")),
}

#: Words people (and robvis) write for each judgement, in lower case.
_ALIASES = {"low": "Low", "low risk": "Low", "+": "Low", "some concerns": "Some concerns",
            "some concern": "Some concerns", "high": "High", "high risk": "High",
            "unclear": "Unclear", "unclear risk": "Unclear", "?": "Unclear",
            "moderate": "Moderate", "serious": "Serious", "critical": "Critical",
            "no information": "No information", "ni": "No information"}


def _level(tool: Tool, word: object, where: str) -> str:
    text = " ".join(str(word).split()).lower()
    level = _ALIASES.get(text)
    if level not in tool.levels:
        raise DataError(f"{where}: '{str(word)[:40]}' is not a {tool.name} judgement (use "
                        f"{', '.join(tool.levels)}).")
    return level


@dataclass(frozen=True)
class Judgement:
    """One judgement with the text that supports it."""

    level: str
    support: str = ""


def suggested_overall(tool: Tool | str, levels: tuple[str, ...] | list[str]) -> str:
    """The overall judgement the tool's algorithm suggests from the domain judgements.

    RoB 2: any High → High; else any Some concerns → Some concerns (RoB 2 lets the team
    raise several Some concerns to High — an override with a reason); else Low.
    ROBINS-I: the most severe domain (Critical > Serious > Moderate > Low); No information
    where no domain is Serious or Critical but some have no information. RoB 1 and
    QUADAS-2: any High → High; any Unclear → Unclear; else Low.

    >>> suggested_overall("rob2", ["Low", "Some concerns", "Low", "Low", "Low"])
    'Some concerns'
    """
    tool = TOOLS[tool] if isinstance(tool, str) else tool
    levels = list(levels)
    bad = [x for x in levels if x not in tool.levels]
    if bad:
        raise OptionError(f"'{bad[0]}' is not a {tool.name} judgement.")
    if tool.key == "robins-i":
        for worst in ("Critical", "Serious"):
            if worst in levels:
                return worst
        if "No information" in levels:
            return "No information"
        return "Moderate" if "Moderate" in levels else "Low"
    middle = tool.levels[1]
    if "High" in levels:
        return "High"
    return middle if middle in levels else "Low"


@dataclass(frozen=True)
class RobAssessment:
    """A study's judgements with one tool (for RoB 2 optionally for one outcome).

    ``overall`` is the tool's suggestion unless the team overrode it, in which case
    ``override_reason`` says why.
    """

    study_id: str
    tool: str
    domains: tuple[Judgement, ...]
    overall: Judgement
    outcome_id: str = ""
    override_reason: str = ""

    @classmethod
    def build(cls, study_id: str, tool: str, levels: list[str] | tuple[str, ...], *,
              supports: list[str] | tuple[str, ...] = (), overall: str | None = None,
              reason: str = "", outcome_id: str = "") -> RobAssessment:
        """An assessment from the domain judgements; ``overall`` other than the suggestion
        needs a ``reason``.

        >>> a = RobAssessment.build("s1", "rob2", ["Low"] * 4 + ["High"])
        >>> a.overall.level, a.overridden
        ('High', False)
        """
        if tool not in TOOLS:
            raise OptionError(f"Unknown risk-of-bias tool '{tool}'; use one of "
                              f"{', '.join(TOOLS)}.")
        t = TOOLS[tool]
        if len(levels) != len(t.domains):
            raise OptionError(f"{t.name} has {len(t.domains)} domains; {len(levels)} "
                              f"judgements were given for study '{study_id}'.")
        levels = [_level(t, x, f"Study '{study_id}', domain {i}")
                  for i, x in enumerate(levels, start=1)]
        supports = (list(supports) + [""] * len(levels))[:len(levels)]
        if outcome_id and not t.per_result:
            raise OptionError(f"{t.name} judges a study, not a result: give no outcome.")
        suggestion = suggested_overall(t, levels)
        chosen = suggestion if overall is None else _level(t, overall, f"Study '{study_id}', "
                                                                      "overall")
        if chosen != suggestion and not reason.strip():
            raise OptionError(f"Study '{study_id}': the overall judgement '{chosen}' differs "
                              f"from the {t.name} algorithm's '{suggestion}'; give the reason "
                              "for the override.")
        domains = tuple(Judgement(x, s) for x, s in zip(levels, supports, strict=True))
        return cls(study_id, tool, domains,
                   Judgement(chosen), outcome_id, reason.strip() if chosen != suggestion else "")

    @property
    def suggestion(self) -> str:
        """What the tool's algorithm suggests for these domain judgements."""
        return suggested_overall(self.tool, [d.level for d in self.domains])

    @property
    def overridden(self) -> bool:
        """Whether the overall judgement is the team's, not the algorithm's."""
        return self.overall.level != self.suggestion

    def with_overall(self, level: str, reason: str = "") -> RobAssessment:
        """The same assessment with the overall judgement set (a reason if it overrides)."""
        return RobAssessment.build(self.study_id, self.tool, [d.level for d in self.domains],
                                   supports=[d.support for d in self.domains], overall=level,
                                   reason=reason, outcome_id=self.outcome_id)


@dataclass(frozen=True)
class RobTable:
    """Assessments with one tool, in study order, with optional weights (robvis' input).

    ``names`` maps study ids to the labels drawn.
    """

    tool: str
    assessments: tuple[RobAssessment, ...]
    weights: tuple[float, ...] = ()
    names: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_frame(self) -> pd.DataFrame:
        """robvis' layout: Study, D1…Dk, Overall, Weight."""
        t = TOOLS[self.tool]
        names = dict(self.names)
        rows = []
        for i, a in enumerate(self.assessments):
            row = {"Study": names.get(a.study_id, a.study_id)}
            row |= {f"D{j}": d.level for j, d in enumerate(a.domains, start=1)}
            row["Overall"] = a.overall.level
            row["Weight"] = self.weights[i] if self.weights else 1.0
            rows.append(row)
        cols = ["Study", *[f"D{j}" for j in range(1, len(t.domains) + 1)], "Overall", "Weight"]
        return pd.DataFrame(rows, columns=cols)

    def shares(self, weighted: bool = True) -> pd.DataFrame:
        """Per domain (and overall), the share of weight (or of studies) at each level:
        columns ``domain level share`` (shares of a domain sum to 1)."""
        t = TOOLS[self.tool]
        w = list(self.weights) if weighted and self.weights else [1.0] * len(self.assessments)
        total = sum(w)
        out = []
        for j, domain in enumerate([*t.domains, "Overall risk of bias"]):
            for level in t.levels:
                got = sum(wi for wi, a in zip(w, self.assessments, strict=False)
                          if (a.domains[j] if j < len(t.domains) else a.overall).level == level)
                out.append({"domain": domain, "level": level,
                            "share": got / total if total > 0 else 0.0})
        return pd.DataFrame(out)

    def with_names(self, names: dict[str, str]) -> RobTable:
        """The table with study labels for display."""
        return replace(self, names=tuple(names.items()))


def read_robvis(frame: pd.DataFrame, tool: str) -> RobTable:
    """A robvis-style table (Study, D1…Dk, Overall, optional Weight) as a :class:`RobTable`.

    The Overall column is taken as the team's judgement: where it differs from the tool's
    suggestion the assessment records "taken from the uploaded table" as the reason.

    >>> t = pd.DataFrame({"Study": ["A"], "D1": ["Low"], "D2": ["Low"], "D3": ["Some concerns"],
    ...                   "D4": ["Low"], "D5": ["Low"], "Overall": ["Some concerns"],
    ...                   "Weight": [12.5]})
    >>> read_robvis(t, "rob2").assessments[0].overall.level
    'Some concerns'
    """
    if tool not in TOOLS:
        raise OptionError(f"Unknown risk-of-bias tool '{tool}'; use one of {', '.join(TOOLS)}.")
    t = TOOLS[tool]
    cols = {str(c).strip().lower(): c for c in frame.columns}
    need = ["study", *[f"d{j}" for j in range(1, len(t.domains) + 1)], "overall"]
    missing = [c for c in need if c not in cols]
    if missing:
        raise DataError(f"A {t.name} table needs the columns Study, D1…D{len(t.domains)} and "
                        f"Overall; missing: {', '.join(m.capitalize() for m in missing)}.")
    out, weights = [], []
    for i, (_, row) in enumerate(frame.iterrows(), start=1):
        study = str(row[cols["study"]]).strip()
        if not study or study.lower() == "nan":
            raise DataError(f"Row {i} of the risk-of-bias table names no study.")
        levels = [row[cols[f"d{j}"]] for j in range(1, len(t.domains) + 1)]
        levels = [_level(t, x, f"Row {i} ({study}), D{j}") for j, x in enumerate(levels, 1)]
        overall = _level(t, row[cols["overall"]], f"Row {i} ({study}), Overall")
        reason = "" if overall == suggested_overall(t, levels) else \
            "taken from the uploaded table"
        out.append(RobAssessment.build(study, tool, levels, overall=overall, reason=reason))
        if "weight" in cols:
            try:
                w = float(row[cols["weight"]])
            except (TypeError, ValueError):
                w = float("nan")
            if not w >= 0:
                raise DataError(f"Row {i} ({study}): the weight must be a number of at least "
                                f"0, not '{row[cols['weight']]}'.")
            weights.append(w)
    return RobTable(tool, tuple(out), tuple(weights))
