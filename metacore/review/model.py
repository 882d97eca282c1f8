"""A whole review: comparisons → outcomes (→ subgroups) → study rows, studies kept once.

Every object is a frozen dataclass and every edit returns a new :class:`Review`, so undo
is keeping the previous one. A study exists once (id, name, year, characteristics, notes);
outcome rows point at it by id, so renaming a study renames it in every outcome. Each
:class:`Outcome` carries its own data kind, measure, method (MH / IV / Peto), model (fixed
or random; RevMan 5's random effects are DerSimonian–Laird), CI level, arm and favours
labels; :meth:`Outcome.analyse` runs the fit its settings ask for through
:mod:`metacore.models`, and :attr:`Outcome.table` is the canonical study table.

:func:`read_revman` reads a RevMan 5 file (or a Cochrane data package) into a review;
:func:`review_to_json` / :func:`review_from_json` write and read the review as a project
document of kind ``"review"`` (strictly checked, exact round trip).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from metacore.data.revman import RevManError, RevManFile, parse_data_package, parse_revman
from metacore.data.table import StudyTable
from metacore.errors import DataError, OptionError
from metacore.models.effects import EffectSizes, compute_effects
from metacore.models.mh import pool_mh, pool_peto
from metacore.models.pooling import PoolResult, pool
from metacore.review.grade import DOWN, UP, Grade, Rating, Suggestion, suggest
from metacore.review.rob import TOOLS, Judgement, RobAssessment, RobTable, read_robvis

__all__ = ["FORMAT", "KINDS", "Comparison", "Outcome", "Review", "Study", "StudyRow",
           "SubgroupTest", "read_revman", "review_data_rows", "review_from_json", "review_overall",
           "review_to_data_package", "review_to_json"]

FORMAT = "metacore-project"
VERSION = 1
MAX_BYTES = 32 * 2**20
MAX_TEXT = 10_000
MAX_NAME = 300

#: Data kinds and the canonical columns their rows carry.
KINDS: dict[str, tuple[str, ...]] = {
    "binary": ("events_t", "n_t", "events_c", "n_c"),
    "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "generic": ("yi", "sei", "n_t", "n_c"),
    "oe": ("oe", "vi", "n_t", "n_c"),
}
_MEASURES = {"binary": ("OR", "RR", "RD", "PETO"), "continuous": ("MD", "SMD"),
             "generic": ("GEN",), "oe": ("GEN",)}
_METHODS = ("MH", "IV", "PETO")
_MODELS = ("common", "random")
_TAU2 = ("DL", "REML", "PM", "ML", "HE", "SJ", "HS", "EB")


@dataclass(frozen=True)
class Study:
    """A study, once for the whole review."""

    id: str
    name: str
    year: str = ""
    characteristics: tuple[tuple[str, str], ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class StudyRow:
    """A study's data in one outcome: canonical column → value (``None`` when missing)."""

    study_id: str
    values: tuple[tuple[str, float | None], ...]
    subgroup: str = ""
    include: bool = True


@dataclass(frozen=True)
class Stored:
    """RevMan's own totals for an outcome, as the file stored them (ratios on the
    natural scale), for display beside ours."""

    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    z: float | None = None
    pvalue: float | None = None
    i2: float | None = None
    tau2: float | None = None
    q: float | None = None
    q_df: float | None = None
    q_pvalue: float | None = None


class SubgroupTest(NamedTuple):
    """A test for subgroup differences: Q between subgroups, its df, P and I²."""

    q: float
    q_df: int
    pvalue: float
    i2: float


@dataclass(frozen=True)
class Outcome:
    """One analysis of a comparison, with its settings and study rows.

    ``names`` (study id → name) is filled by the review that holds the outcome; it is not
    part of the outcome's identity.
    """

    id: str
    name: str
    kind: str
    measure: str
    method: str = "IV"
    model: str = "common"
    tau2_method: str = "DL"
    level: float = 0.95
    study_level: float = 0.95
    arm_labels: tuple[str, str] = ("Experimental", "Control")
    favours: tuple[str, str] = ("Favours experimental", "Favours control")
    label: str = ""
    scale: str = "linear"
    units: str = ""
    rows: tuple[StudyRow, ...] = ()
    subgroups: tuple[str, ...] = ()
    stored: Stored | None = None
    names: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OptionError(f"Outcome '{self.name}': the data kind must be one of "
                              f"{', '.join(KINDS)}, not '{self.kind}'.")
        if self.measure not in _MEASURES[self.kind]:
            raise OptionError(f"Outcome '{self.name}': {self.kind} data take the measures "
                              f"{', '.join(_MEASURES[self.kind])}, not '{self.measure}'.")
        if self.method not in _METHODS:
            raise OptionError(f"Outcome '{self.name}': the method must be MH, IV or PETO.")
        if self.method == "MH" and self.measure not in ("OR", "RR", "RD"):
            raise OptionError(f"Outcome '{self.name}': Mantel-Haenszel pools OR, RR and RD.")
        if self.method == "PETO" and self.measure != "PETO" and self.kind != "oe":
            raise OptionError(f"Outcome '{self.name}': the Peto method gives the Peto odds "
                              "ratio (measure PETO).")
        if self.model not in _MODELS:
            raise OptionError(f"Outcome '{self.name}': the model must be common or random.")
        if self.scale not in ("linear", "ratio", "log"):
            raise OptionError(f"Outcome '{self.name}': the scale of generic estimates must be "
                              "linear, ratio or log.")
        if self.tau2_method not in _TAU2:
            raise OptionError(f"Outcome '{self.name}': unknown τ² estimator "
                              f"'{self.tau2_method}'.")
        for lv in (self.level, self.study_level):
            if not 0.5 <= lv < 1:
                raise OptionError(f"Outcome '{self.name}': a confidence level must be between "
                                  "0.5 and 1.")

    # --- data -------------------------------------------------------------------------

    @property
    def table(self) -> pd.DataFrame:
        """The canonical study table (``study``, the kind's columns, ``subgroup`` when the
        outcome has subgroups, ``include``), as :func:`metacore.compute_effects` takes it."""
        names = dict(self.names)
        values = [dict(r.values) for r in self.rows]
        data: dict[str, object] = {"study": [names.get(r.study_id, r.study_id)
                                             for r in self.rows]}
        for c in KINDS[self.kind]:
            col = np.array([np.nan if v.get(c) is None else v[c] for v in values], float)
            if not self.rows or not np.isnan(col).all():   # columns no row fills are left out
                data[c] = col
        if self.subgroups:
            data["subgroup"] = [r.subgroup for r in self.rows]
        data["include"] = np.array([r.include for r in self.rows], bool)
        return pd.DataFrame(data)

    def _study_table(self, subgroup: str | None) -> StudyTable:
        # Already canonical and numeric: handed to the models as a StudyTable, so the
        # column guessing of uploads is skipped (a review of hundreds of outcomes).
        data = self.table
        if subgroup is not None:
            if subgroup not in self.subgroups:
                raise OptionError(f"Outcome '{self.name}' has no subgroup '{subgroup}'.")
            data = data[data["subgroup"] == subgroup].reset_index(drop=True)
        if data.empty or not data["include"].any():
            raise DataError(f"Outcome '{self.name}' has no study rows to analyse.")
        if self.kind == "oe":
            data["yi"] = np.nan   # (O - E) / V, computed by compute_effects
        data.insert(0, "row", np.arange(1, len(data) + 1))
        return StudyTable(data, {c: c for c in data.columns if c != "row"})

    @property
    def participants(self) -> int | None:
        """Participants in the rows that give both arm totals."""
        total, seen = 0.0, False
        for r in self.rows:
            v = dict(r.values)
            if r.include and v.get("n_t") is not None and v.get("n_c") is not None:
                total += v["n_t"] + v["n_c"]
                seen = True
        return int(total) if seen else None

    @property
    def settings(self) -> str:
        """The analysis in RevMan's words: ``'M-H, Random, 95% CI'``."""
        method = {"MH": "M-H", "IV": "IV", "PETO": "Peto"}[self.method]
        model = "Random" if self.model == "random" else "Fixed"
        return f"{method}, {model}, {self.level * 100:g}% CI"

    def effects(self, subgroup: str | None = None) -> EffectSizes:
        """Study effect sizes (escalc's) for the outcome or one subgroup."""
        return self._effects(self._study_table(subgroup))

    def _effects(self, table: StudyTable) -> EffectSizes:
        if self.kind in ("generic", "oe"):
            return compute_effects(table, "GEN", scale=self.scale, label=self.label)
        return compute_effects(table, self.measure)

    def analyse(self, subgroup: str | None = None) -> PoolResult:
        """The fit the outcome's settings ask for (metafor's equivalent in brackets):
        MH fixed (``rma.mh``), Peto fixed (``rma.peto``), inverse variance fixed
        (``rma(method="FE")``), and random effects with the outcome's τ² estimator —
        DerSimonian–Laird for RevMan 5 (``rma(method="DL")``; for MH and Peto outcomes the
        random-effects fit is the inverse-variance one on the study effects, as RevMan 5).

        >>> o = Outcome("o1", "Death", "binary", "RR", method="MH", rows=(
        ...     StudyRow("a", (("events_t", 4.0), ("n_t", 50.0), ("events_c", 9.0),
        ...                    ("n_c", 50.0))),
        ...     StudyRow("b", (("events_t", 10.0), ("n_t", 80.0), ("events_c", 15.0),
        ...                    ("n_c", 82.0)))))
        >>> round(o.analyse().natural()["estimate"], 4)
        0.5931
        """
        table = self._study_table(subgroup)
        if self.model == "common" and self.kind == "binary" and self.method == "MH":
            return pool_mh(table, self.measure, level=self.level)
        if self.model == "common" and self.kind == "binary" and self.method == "PETO":
            return pool_peto(table, level=self.level)
        return pool(self._effects(table), model=self.model, tau2_method=self.tau2_method,
                    level=self.level)

    def analyse_subgroups(self) -> dict[str, PoolResult]:
        """Each subgroup's fit with the outcome's settings, in subgroup order."""
        return {name: self.analyse(name) for name in self.subgroups}

    def subgroup_difference(self) -> SubgroupTest:
        """RevMan's test for subgroup differences: the subgroups' pooled estimates (each by
        the outcome's own method and model) compared by a fixed-effect Q (Borenstein &
        Higgins 2013); metafor: ``rma(yi = estimates, sei = SEs, method = "FE")``'s QE."""
        fits = list(self.analyse_subgroups().values())
        if len(fits) < 2:
            raise DataError(f"Outcome '{self.name}' needs at least two subgroups with studies "
                            "for a test of subgroup differences.")
        est = np.array([f.estimate for f in fits])
        w = 1 / np.array([f.se for f in fits]) ** 2
        q = float(np.dot(w, (est - np.dot(w, est) / w.sum()) ** 2))
        df = len(fits) - 1
        return SubgroupTest(q, df, float(special.chdtrc(df, q)),
                            max(0.0, 100 * (q - df) / q) if q > 0 else 0.0)

    @property
    def stored_note(self) -> str:
        """Why RevMan's stored totals may differ from ours for this outcome ("" when both
        follow the same method)."""
        notes = []
        if self.measure == "SMD":
            notes.append("RevMan 5 gives Hedges' g the variance (n1+n2)/(n1·n2) + "
                         "g²/(2(n1+n2−3.94)); metafor (and metacore) use "
                         "1/n1 + 1/n2 + g²/(2(n1+n2))")
        if self.method == "MH" and self.model == "random":
            notes.append("RevMan 5 computes the DerSimonian–Laird τ² from a Q around the "
                         "Mantel-Haenszel estimate; metafor's rma(method=\"DL\") uses the "
                         "inverse-variance one")
        cells = [dict(r.values) for r in self.rows]
        if self.kind == "binary" and self.method == "MH" and any(
                v.get(e) == 0 or v.get(e) == v.get(n)
                for v in cells for e, n in (("events_t", "n_t"), ("events_c", "n_c"))):
            notes.append("a study has a zero cell: RevMan 5 adds 0.5 inside the "
                         "Mantel-Haenszel sums, metafor's rma.mh does not")
        return "; ".join(notes) + ("." if notes else "")

    def compare_stored(self) -> pd.DataFrame:
        """Ours beside RevMan's stored totals: ``statistic ours revman difference``
        (estimates on the natural scale); empty when the file stored none."""
        if self.stored is None:
            return pd.DataFrame(columns=["statistic", "ours", "revman", "difference"])
        res = self.analyse()
        nat = res.natural()
        ours = {"estimate": nat["estimate"], "ci_low": nat["ci_low"], "ci_high": nat["ci_high"],
                "z": abs(res.statistic), "i2": res.i2_q, "tau2": res.tau2, "q": res.q}
        rows = []
        for key, value in ours.items():
            theirs = getattr(self.stored, key)
            if theirs is not None:
                rows.append({"statistic": key, "ours": value, "revman": theirs,
                             "difference": value - theirs})
        return pd.DataFrame(rows, columns=["statistic", "ours", "revman", "difference"])


@dataclass(frozen=True)
class Comparison:
    """A comparison of two interventions and its outcomes, in order."""

    id: str
    name: str
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True)
class Review:
    """A whole review: title, studies (each once), comparisons with their outcomes,
    risk-of-bias assessments and GRADE ratings (by outcome id)."""

    title: str
    studies: tuple[Study, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    rob: tuple[RobAssessment, ...] = ()
    grades: tuple[Grade, ...] = ()

    def __post_init__(self) -> None:
        ids = [s.id for s in self.studies]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"Study id '{dup}' is used twice in the review.")
        known = set(ids)
        oids = [o.id for c in self.comparisons for o in c.outcomes]
        if len(set(oids)) != len(oids):
            dup = next(i for i in oids if oids.count(i) > 1)
            raise DataError(f"Outcome id '{dup}' is used twice in the review.")
        cids = [c.id for c in self.comparisons]
        if len(set(cids)) != len(cids):
            raise DataError("Two comparisons have the same id.")
        for c in self.comparisons:
            for o in c.outcomes:
                for r in o.rows:
                    if r.study_id not in known:
                        raise DataError(f"Outcome '{o.name}' has a row for study id "
                                        f"'{r.study_id}', which the review does not list.")
        names = tuple((s.id, s.name) for s in self.studies)
        # Outcomes see the review's current study names: a rename shows everywhere.
        object.__setattr__(self, "comparisons", tuple(
            replace(c, outcomes=tuple(replace(o, names=names) for o in c.outcomes))
            for c in self.comparisons))

    # --- lookups ----------------------------------------------------------------------

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        """Every outcome of every comparison, in order."""
        return tuple(o for c in self.comparisons for o in c.outcomes)

    def outcome(self, outcome_id: str) -> Outcome:
        """The outcome with this id."""
        for o in self.outcomes:
            if o.id == outcome_id:
                return o
        raise OptionError(f"The review has no outcome with id '{outcome_id}'.")

    def comparison(self, comparison_id: str) -> Comparison:
        """The comparison with this id."""
        for c in self.comparisons:
            if c.id == comparison_id:
                return c
        raise OptionError(f"The review has no comparison with id '{comparison_id}'.")

    def study(self, study_id: str) -> Study:
        """The study with this id."""
        for s in self.studies:
            if s.id == study_id:
                return s
        raise OptionError(f"The review has no study with id '{study_id}'.")

    def grade(self, outcome_id: str) -> Grade | None:
        """The outcome's GRADE rating, if the team has made one."""
        return next((g for g in self.grades if g.outcome_id == outcome_id), None)

    def rob_table(self, tool: str, outcome_id: str = "",
                  weights: bool = True) -> RobTable:
        """The assessments with one tool as a robvis table (study order of the review;
        for RoB 2 those of ``outcome_id``, falling back to per-study ones), weighted by the
        outcome's analysis weights when an outcome is named."""
        chosen = []
        for s in self.studies:
            mine = [a for a in self.rob if a.study_id == s.id and a.tool == tool]
            pick = next((a for a in mine if outcome_id and a.outcome_id == outcome_id), None)
            pick = pick or next((a for a in mine if not a.outcome_id), None)
            if pick is not None:
                chosen.append(pick)
        w: tuple[float, ...] = ()
        if outcome_id and weights:
            by_study = self.study_weights(outcome_id)
            chosen = [a for a in chosen if a.study_id in by_study]
            w = tuple(by_study[a.study_id] for a in chosen)
        return RobTable(tool, tuple(chosen), w,
                        names=tuple((s.id, s.name) for s in self.studies))

    def study_weights(self, outcome_id: str) -> dict[str, float]:
        """Percent weight of each analysed study (by id) in the outcome's fit."""
        o = self.outcome(outcome_id)
        res = o.analyse()
        by_name = {s.name: s.id for s in self.studies}
        out: dict[str, float] = {}
        for name, w in zip(res.study, res.weights, strict=False):
            sid = by_name.get(name, name)
            out[sid] = out.get(sid, 0.0) + float(w)
        return out

    # --- edits (each returns a new review) ---------------------------------------------

    def _new_id(self, prefix: str, taken: set[str]) -> str:
        i = 1
        while f"{prefix}-{i:03d}" in taken:
            i += 1
        return f"{prefix}-{i:03d}"

    def add_comparison(self, name: str) -> Review:
        """A review with a new, empty comparison at the end."""
        cid = self._new_id("CMP", {c.id for c in self.comparisons})
        return replace(self, comparisons=(*self.comparisons, Comparison(cid, _name(name))))

    def rename_comparison(self, comparison_id: str, name: str) -> Review:
        """A review with the comparison renamed."""
        self.comparison(comparison_id)
        return replace(self, comparisons=tuple(
            replace(c, name=_name(name)) if c.id == comparison_id else c
            for c in self.comparisons))

    def move_comparison(self, comparison_id: str, position: int) -> Review:
        """A review with the comparison moved to ``position`` (0-based)."""
        c = self.comparison(comparison_id)
        rest = [x for x in self.comparisons if x.id != comparison_id]
        rest.insert(max(0, min(position, len(rest))), c)
        return replace(self, comparisons=tuple(rest))

    def delete_comparison(self, comparison_id: str) -> Review:
        """A review without the comparison (and its outcomes' GRADE and RoB 2 results)."""
        gone = {o.id for o in self.comparison(comparison_id).outcomes}
        return replace(self, comparisons=tuple(c for c in self.comparisons
                                               if c.id != comparison_id),
                       grades=tuple(g for g in self.grades if g.outcome_id not in gone),
                       rob=tuple(a for a in self.rob if a.outcome_id not in gone))

    def add_outcome(self, comparison_id: str, outcome: Outcome) -> Review:
        """A review with the outcome added at the end of the comparison (a fresh id is
        given when its id is empty or taken)."""
        self.comparison(comparison_id)
        taken = {o.id for o in self.outcomes}
        if not outcome.id or outcome.id in taken:
            outcome = replace(outcome, id=self._new_id(comparison_id, taken))
        return replace(self, comparisons=tuple(
            replace(c, outcomes=(*c.outcomes, outcome)) if c.id == comparison_id else c
            for c in self.comparisons))

    def update_outcome(self, outcome_id: str, **changes) -> Review:
        """A review with the outcome's settings changed (``measure="OR"``, …)."""
        self.outcome(outcome_id)
        if "id" in changes or "names" in changes:
            raise OptionError("An outcome's id and study names cannot be changed here.")
        return replace(self, comparisons=tuple(
            replace(c, outcomes=tuple(replace(o, **changes) if o.id == outcome_id else o
                                      for o in c.outcomes)) for c in self.comparisons))

    def rename_outcome(self, outcome_id: str, name: str) -> Review:
        """A review with the outcome renamed."""
        return self.update_outcome(outcome_id, name=_name(name))

    def move_outcome(self, outcome_id: str, position: int) -> Review:
        """A review with the outcome moved to ``position`` (0-based) in its comparison."""
        self.outcome(outcome_id)
        comps = []
        for c in self.comparisons:
            if any(o.id == outcome_id for o in c.outcomes):
                o = next(o for o in c.outcomes if o.id == outcome_id)
                rest = [x for x in c.outcomes if x.id != outcome_id]
                rest.insert(max(0, min(position, len(rest))), o)
                c = replace(c, outcomes=tuple(rest))
            comps.append(c)
        return replace(self, comparisons=tuple(comps))

    def delete_outcome(self, outcome_id: str) -> Review:
        """A review without the outcome (nor its GRADE rating or RoB 2 results)."""
        self.outcome(outcome_id)
        return replace(self, comparisons=tuple(
            replace(c, outcomes=tuple(o for o in c.outcomes if o.id != outcome_id))
            for c in self.comparisons),
            grades=tuple(g for g in self.grades if g.outcome_id != outcome_id),
            rob=tuple(a for a in self.rob if a.outcome_id != outcome_id))

    def add_study(self, name: str, year: str = "", *, study_id: str = "") -> Review:
        """A review with a new study (id ``STD-…`` unless given)."""
        taken = {s.id for s in self.studies}
        sid = study_id or self._new_id("STD", taken)
        if sid in taken:
            raise OptionError(f"Study id '{sid}' is already used.")
        return replace(self, studies=(*self.studies, Study(sid, _name(name), str(year))))

    def rename_study(self, study_id: str, name: str, year: str | None = None) -> Review:
        """A review with the study renamed (in every outcome that uses it)."""
        self.study(study_id)
        return replace(self, studies=tuple(
            replace(s, name=_name(name), year=s.year if year is None else str(year))
            if s.id == study_id else s for s in self.studies))

    def with_table(self, outcome_id: str, table: pd.DataFrame) -> Review:
        """A review with the outcome's rows replaced by a canonical table (a ``study``
        column of names; names not yet in the review become new studies)."""
        o = self.outcome(outcome_id)
        if "study" not in table.columns:
            raise DataError("The table needs a 'study' column of study names.")
        rev = self
        ids = {s.name: s.id for s in self.studies}
        rows = []
        for i, rec in enumerate(table.to_dict("records"), start=1):
            name = str(rec["study"]).strip()
            if not name:
                raise DataError(f"Row {i} of the table names no study.")
            if name not in ids:
                rev = rev.add_study(name)
                ids[name] = rev.studies[-1].id
            values = tuple((c, _float(rec.get(c), f"Row {i} ({name}), {c}"))
                           for c in KINDS[o.kind] if c in rec)
            sub = rec.get("subgroup", "")
            sub = "" if sub is None or (isinstance(sub, float) and math.isnan(sub)) else str(sub)
            rows.append(StudyRow(ids[name], values, sub, bool(rec.get("include", True))))
        subgroups = tuple(dict.fromkeys(r.subgroup for r in rows if r.subgroup))
        return rev.update_outcome(outcome_id, rows=tuple(rows), subgroups=subgroups)

    def with_rob(self, assessment: RobAssessment) -> Review:
        """A review with the assessment added (replacing the same study, tool, outcome)."""
        self.study(assessment.study_id)
        if assessment.outcome_id:
            self.outcome(assessment.outcome_id)
        keep = tuple(a for a in self.rob if (a.study_id, a.tool, a.outcome_id) !=
                     (assessment.study_id, assessment.tool, assessment.outcome_id))
        return replace(self, rob=(*keep, assessment))

    def suggestions(self, outcome_id: str, tool: str | None = None) -> tuple[Suggestion, ...]:
        """GRADE suggestions for the outcome (risk of bias from ``tool``'s assessments,
        weighted by the outcome's analysis weights); never applied by themselves."""
        o = self.outcome(outcome_id)
        rob = self.rob_table(tool, outcome_id) if tool else None
        control = None
        if o.kind == "binary":
            t = o.table[o.table["include"]]
            n = float(t["n_c"].sum())
            control = float(t["events_c"].sum()) / n if n > 0 else None
            control = control if control is not None and 0 < control < 1 else None
        return suggest(o.effects(), o.analyse(), rob=rob, participants=o.participants,
                       control_risk=control)

    def sensitivity(self, outcome_id: str, tool: str, keep: str = "low") -> PoolResult:
        """The outcome re-analysed on a subset by risk of bias (overall judgements with
        ``tool``; RoB 2 results for this outcome first): ``keep="low"`` only studies at low
        risk (unassessed studies are left out), ``"not_high"`` every study not at high risk
        (High, Serious or Critical; unassessed studies stay in)."""
        if keep not in ("low", "not_high"):
            raise OptionError("keep must be 'low' or 'not_high'.")
        o = self.outcome(outcome_id)
        judged = {a.study_id: a.overall.level
                  for a in self.rob_table(tool, outcome_id, weights=False).assessments}
        severe = {"High", "Serious", "Critical"}
        rows = tuple(replace(r, include=r.include and (
            judged.get(r.study_id) == "Low" if keep == "low"
            else judged.get(r.study_id) not in severe)) for r in o.rows)
        if not any(r.include for r in rows):
            what = "at low risk of bias" if keep == "low" else "that is not at high risk of bias"
            raise DataError(f"Outcome '{o.name}' has no study {what} ({TOOLS[tool].name}).")
        return replace(o, rows=rows).analyse()

    def with_robvis(self, frame: pd.DataFrame, tool: str, outcome_id: str = "") -> Review:
        """A review with the judgements of a robvis-style table (Study, D1…Dk, Overall,
        Weight; studies by name) added; a name the review does not have is refused."""
        table = read_robvis(frame, tool)
        ids = {s.name: s.id for s in self.studies}
        unknown = [a.study_id for a in table.assessments if a.study_id not in ids]
        if unknown:
            raise DataError(f"The risk-of-bias table names {len(unknown)} "
                            f"stud{'y' if len(unknown) == 1 else 'ies'} the review does not "
                            f"have: {', '.join(unknown[:5])}. Use the review's study names.")
        if outcome_id and not TOOLS[tool].per_result:
            raise OptionError(f"{TOOLS[tool].name} judges studies, not results: give no "
                              "outcome.")
        rev = self
        for a in table.assessments:
            rev = rev.with_rob(replace(a, study_id=ids[a.study_id], outcome_id=outcome_id))
        return rev

    def with_grade(self, grade: Grade) -> Review:
        """A review with the outcome's GRADE rating set."""
        self.outcome(grade.outcome_id)
        keep = tuple(g for g in self.grades if g.outcome_id != grade.outcome_id)
        return replace(self, grades=(*keep, grade))


def _name(text: str) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    if not text:
        raise OptionError("A name cannot be empty.")
    return text[:MAX_NAME]


def _float(v, where: str) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool):
        raise DataError(f"{where} must be a number, not true/false.")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DataError(f"{where} is '{str(v)[:40]}', which is not a number.") from None
    return x if math.isfinite(x) else None


# --- from RevMan -------------------------------------------------------------------------

_GENERIC_LABELS = (("hazard", "HR"), ("odds", "OR"), ("risk ratio", "RR"), ("rate ratio", "IRR"),
                   ("risk difference", "RD"), ("mean difference", "MD"), ("std", "SMD"))
#: RevMan 5's RESULT words for RoB 1 items, in our words.
_RESULT = {"YES": "Low", "NO": "High", "UNKNOWN": "Unclear", "UNCLEAR": "Unclear"}
_ROB1_KEYS = ("sequence", "allocation", "participants", "outcome assess", "incomplete",
              "selective", "other")


def _rob1_domain(name: str) -> int | None:
    low = name.lower()
    if "blinding" in low and ("outcome" in low or "assess" in low) and "personnel" not in low:
        return 3
    for j, key in enumerate(_ROB1_KEYS):
        if key in low:
            return j
    return None


def _generic_label(measure: str) -> str:
    low = measure.lower()
    return next((lab for key, lab in _GENERIC_LABELS if key in low), "")


def _outcome_from(o, index: int) -> Outcome:
    cols = {"DICH": {"EVENTS_1": "events_t", "TOTAL_1": "n_t", "EVENTS_2": "events_c",
                     "TOTAL_2": "n_c"},
            "CONT": {"MEAN_1": "mean_t", "SD_1": "sd_t", "TOTAL_1": "n_t", "MEAN_2": "mean_c",
                     "SD_2": "sd_c", "TOTAL_2": "n_c"},
            "IV": {"EFFECT_SIZE": "yi", "GIV_MEAN": "yi", "SE": "sei", "TOTAL_1": "n_t",
                   "TOTAL_2": "n_c"},
            "IPD": {"O_E": "oe", "VAR": "vi", "TOTAL_1": "n_t", "TOTAL_2": "n_c"}}[o.type]
    kind = {"DICH": "binary", "CONT": "continuous", "IV": "generic", "IPD": "oe"}[o.type]
    if o.type == "IV":   # one estimate per row: the package's log-scale one, else the file's
        cols.pop("GIV_MEAN" if o.rows and "GIV_MEAN" not in o.rows[0] else "EFFECT_SIZE")
    rows = tuple(StudyRow(r["study_id"], tuple((ours, r.get(key)) for key, ours in cols.items()
                                                if key in r), r["subgroup"]) for r in o.rows)
    measure_text = o.measure.upper().replace(" ", "_")
    label, scale = "", "linear"
    method = o.method
    if kind == "binary":
        measure = {"PETO_OR": "PETO", "ODDS_RATIO": "OR", "RISK_RATIO": "RR",
                   "RISK_DIFFERENCE": "RD"}.get(measure_text, measure_text)
        if method == "PETO":
            measure = "PETO"
        if measure not in _MEASURES["binary"]:
            raise RevManError(f"Outcome '{o.name}' uses the effect measure '{o.measure}', "
                              "which dichotomous data do not take here (OR, RR, RD, Peto OR).")
        if measure == "PETO":
            method = "PETO"
    elif kind == "continuous":
        measure = "SMD" if measure_text.startswith(("SMD", "STD")) else "MD"
        method = "IV"
    else:
        measure = "GEN"
        label = _generic_label(o.measure) or ("OR" if kind == "oe" else "")
        # O - E rows are log ratios by construction; an .rm5 file's generic ratios are
        # stored as displayed (natural scale), a data package's as logs (GIV Mean).
        package = bool(o.rows) and "GIV_MEAN" in o.rows[0]
        scale = "log" if kind == "oe" or (o.log_data and package) else \
            "ratio" if o.log_data else "linear"
        method = "IV" if kind == "generic" else "PETO"
    stored = Stored(**o.stored) if o.stored else None
    name = o.name or f"Outcome {o.no or index}"
    return Outcome(
        id=o.id or f"{o.comparison_id}.{index:02d}", name=name, kind=kind, measure=measure,
        method=method, model="random" if o.random else "common", tau2_method="DL",
        level=o.ci_total, study_level=o.ci_study,
        arm_labels=(o.group_labels[0] or "Experimental", o.group_labels[1] or "Control"),
        favours=(o.graph_labels[0] or "Favours experimental",
                 o.graph_labels[1] or "Favours control"),
        label=label, scale=scale, rows=rows, subgroups=o.subgroups, stored=stored)


def review_from_revman(parsed: RevManFile) -> Review:
    """The review a parsed RevMan file describes (RoB 1 from its QUALITY_ITEMs)."""
    studies = tuple(Study(s.id, s.name or s.id, s.year) for s in parsed.studies)
    comps: dict[str, Comparison] = {}
    for _i, o in enumerate(parsed.outcomes, start=1):
        cid = o.comparison_id or f"CMP-{o.comparison_no or 1}"
        c = comps.get(cid) or Comparison(cid, o.comparison_name or f"Comparison {len(comps) + 1}")
        comps[cid] = replace(c, outcomes=(*c.outcomes, _outcome_from(o, len(c.outcomes) + 1)))
    # RoB 1: one judgement per domain and study (the most severe where an item is
    # assessed per outcome group).
    levels: dict[str, list] = {}
    severity = {"Low": 0, "Unclear": 1, "High": 2}
    for item in parsed.items:
        j = _rob1_domain(item.name)
        if j is None:
            j = 6
        for sid, result, support, _group in item.entries:
            lv = _RESULT.get(result, "Unclear")
            cur = levels.setdefault(sid, [None] * 7)
            if cur[j] is None or severity[lv] > severity[cur[j].level]:
                cur[j] = Judgement(lv, support[:MAX_TEXT])
    known = {s.id for s in studies}
    rob = []
    for sid, doms in levels.items():
        if sid not in known:
            continue
        doms = [d or Judgement("Unclear", "not assessed in the file") for d in doms]
        rob.append(RobAssessment.build(sid, "rob1", [d.level for d in doms],
                                       supports=[d.support for d in doms]))
    return Review(title=parsed.title, studies=studies, comparisons=tuple(comps.values()),
                  rob=tuple(rob))


def read_revman(path_or_bytes: bytes | str | os.PathLike) -> Review:
    """Read a RevMan 5 review (``.rm5``) or a Cochrane data package (``.zip``) as a Review.

    Raises
    ------
    metacore.data.revman.RevManError
        (a ``ValueError``) for a damaged, foreign, hostile or oversized file, naming the
        problem.

    Examples
    --------
    >>> rm5 = b'''<COCHRANE_REVIEW><COVER_SHEET><TITLE>Steroids</TITLE></COVER_SHEET>
    ... <STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
    ... <STUDY ID="STD-A" NAME="Alpha 2001" YEAR="2001"/>
    ... <STUDY ID="STD-B" NAME="Beta 2004" YEAR="2004"/></INCLUDED_STUDIES></STUDIES>
    ... </STUDIES_AND_REFERENCES><ANALYSES_AND_DATA><COMPARISON ID="CMP-001" NO="1">
    ... <NAME>Steroid vs placebo</NAME><DICH_OUTCOME ID="CMP-001.01" NO="1" METHOD="MH"
    ... RANDOM="NO" EFFECT_MEASURE="RR" CI_TOTAL="95"><NAME>Death</NAME>
    ... <DICH_DATA STUDY_ID="STD-A" EVENTS_1="4" TOTAL_1="50" EVENTS_2="9" TOTAL_2="50"/>
    ... <DICH_DATA STUDY_ID="STD-B" EVENTS_1="10" TOTAL_1="80" EVENTS_2="15" TOTAL_2="82"/>
    ... </DICH_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>'''
    >>> rev = read_revman(rm5)
    >>> rev.title, rev.outcomes[0].name, rev.outcomes[0].measure
    ('Steroids', 'Death', 'RR')
    >>> round(rev.outcomes[0].analyse().natural()["estimate"], 4)
    0.5931
    """
    data = path_or_bytes
    if isinstance(path_or_bytes, (str, os.PathLike)):
        from metacore.data.revman import read_bytes

        data = read_bytes(path_or_bytes, "RevMan file")
    if bytes(data[:2]) == b"PK":
        return review_from_revman(parse_data_package(data))
    return review_from_revman(parse_revman(data))


# --- JSON ------------------------------------------------------------------------------

def _num(x: float | None):
    return None if x is None else float(x)


def _outcome_doc(o: Outcome) -> dict:
    return {"id": o.id, "name": o.name, "kind": o.kind, "measure": o.measure,
            "method": o.method, "model": o.model, "tau2_method": o.tau2_method,
            "level": o.level, "study_level": o.study_level, "arm_labels": list(o.arm_labels),
            "favours": list(o.favours), "label": o.label, "scale": o.scale, "units": o.units,
            "subgroups": list(o.subgroups),
            "rows": [{"study": r.study_id, "subgroup": r.subgroup, "include": r.include,
                      "values": [[c, _num(v)] for c, v in r.values]} for r in o.rows],
            "stored": None if o.stored is None else
            {k: _num(getattr(o.stored, k)) for k in Stored.__dataclass_fields__}}


def _rob_doc(a: RobAssessment) -> dict:
    return {"study": a.study_id, "tool": a.tool, "outcome": a.outcome_id,
            "domains": [[d.level, d.support] for d in a.domains],
            "overall": a.overall.level, "reason": a.override_reason}


def _grade_doc(g: Grade) -> dict:
    return {"outcome": g.outcome_id, "design": g.design,
            "ratings": [[r.domain, r.level, r.footnote] for r in g.ratings]}


def review_to_json(review: Review) -> str:
    """The review as one JSON project document of kind ``"review"``.

    >>> rev = Review("Demo").add_study("Alpha 2001", "2001").add_comparison("A vs B")
    >>> review_from_json(review_to_json(rev)) == rev
    True
    """
    from metacore._version import __version__

    doc = {"format": FORMAT, "kind": "review", "version": VERSION,
           "metacore_version": __version__, "title": review.title,
           "studies": [{"id": s.id, "name": s.name, "year": s.year,
                        "characteristics": [list(p) for p in s.characteristics],
                        "notes": s.notes} for s in review.studies],
           "comparisons": [{"id": c.id, "name": c.name,
                            "outcomes": [_outcome_doc(o) for o in c.outcomes]}
                           for c in review.comparisons],
           "rob": [_rob_doc(a) for a in review.rob],
           "grades": [_grade_doc(g) for g in review.grades]}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Doc:
    """Strict reading of a JSON object: every key known, every value of its type."""

    def __init__(self, obj: object, where: str, keys: set[str]):
        if not isinstance(obj, dict):
            raise DataError(f"The review file's {where} must be a JSON object.")
        extra = set(obj) - keys
        if extra:
            raise DataError(f"The review file's {where} has an unknown field "
                            f"'{sorted(extra)[0][:40]}'.")
        self.obj, self.where = obj, where

    def text(self, key: str, default: str | None = None, limit: int = MAX_NAME) -> str:
        v = self.obj.get(key, default)
        if not isinstance(v, str) or len(v) > limit:
            raise DataError(f"The review file's {self.where}: '{key}' must be text of at most "
                            f"{limit:,} characters.")
        return v

    def number(self, key: str, default: float | None = None) -> float:
        v = self.obj.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DataError(f"The review file's {self.where}: '{key}' must be a number.")
        return float(v)

    def items(self, key: str, limit: int = 100_000) -> list:
        v = self.obj.get(key, [])
        if not isinstance(v, list) or len(v) > limit:
            raise DataError(f"The review file's {self.where}: '{key}' must be a list of at "
                            f"most {limit:,} entries.")
        return v


def _pair(v, where: str) -> tuple[str, str]:
    if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, str) and len(x) <= MAX_TEXT
                                                          for x in v):
        raise DataError(f"The review file's {where} must be a pair of texts.")
    return v[0], v[1]


def _value(v, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise DataError(f"The review file's {where} must be a number or null.")
    return float(v)


def _outcome_from_doc(obj, where: str) -> Outcome:
    d = _Doc(obj, where, {"id", "name", "kind", "measure", "method", "model", "tau2_method",
                          "level", "study_level", "arm_labels", "favours", "label", "scale",
                          "units", "subgroups", "rows", "stored"})
    kind = d.text("kind")
    if kind not in KINDS:
        raise DataError(f"The review file's {where} has the unknown data kind '{kind[:20]}'.")
    rows = []
    for i, r in enumerate(d.items("rows"), start=1):
        rd = _Doc(r, f"{where}, row {i}", {"study", "subgroup", "include", "values"})
        values = []
        for pair in rd.items("values", 20):
            if not isinstance(pair, list) or len(pair) != 2 or pair[0] not in KINDS[kind]:
                raise DataError(f"The review file's {where}, row {i} has a value that is not "
                                f"one of the {kind} columns.")
            values.append((pair[0], _value(pair[1], f"{where}, row {i}, {pair[0]}")))
        include = r.get("include", True)
        if not isinstance(include, bool):
            raise DataError(f"The review file's {where}, row {i}: 'include' must be true or "
                            "false.")
        rows.append(StudyRow(rd.text("study"), tuple(values), rd.text("subgroup", ""), include))
    stored = obj.get("stored")
    if stored is not None:
        sd = _Doc(stored, f"{where}, stored totals", set(Stored.__dataclass_fields__))
        stored = Stored(**{k: _value(sd.obj.get(k), f"{where}, stored {k}")
                           for k in Stored.__dataclass_fields__})
    subgroups = d.items("subgroups", 1000)
    if not all(isinstance(s, str) and len(s) <= MAX_NAME for s in subgroups):
        raise DataError(f"The review file's {where}: subgroups must be texts.")
    try:
        return Outcome(
            id=d.text("id"), name=d.text("name"), kind=kind, measure=d.text("measure"),
            method=d.text("method"), model=d.text("model"), tau2_method=d.text("tau2_method"),
            level=d.number("level"), study_level=d.number("study_level"),
            arm_labels=_pair(obj.get("arm_labels"), f"{where} arm labels"),
            favours=_pair(obj.get("favours"), f"{where} favours labels"),
            label=d.text("label", ""), scale=d.text("scale", "linear"),
            units=d.text("units", ""), rows=tuple(rows), subgroups=tuple(subgroups),
            stored=stored)
    except OptionError as err:
        raise DataError(f"The review file's {where}: {err}") from None


def review_from_json(text: str | bytes) -> Review:
    """Read a review document, checking every part; raises DataError with the reason."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_BYTES:
            raise DataError(f"The review file is larger than {MAX_BYTES // 2**20} MB.")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError("The review file is not UTF-8 text.") from None
    if len(text) > MAX_BYTES:
        raise DataError(f"The review file is larger than {MAX_BYTES // 2**20} MB.")
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise DataError(f"The review file is not valid JSON ({str(err)[:80]}).") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("kind") != "review":
        raise DataError(f"This is not a metacore review file (it needs format '{FORMAT}' and "
                        "kind 'review').")
    if not isinstance(obj.get("version"), int) or not 1 <= obj["version"] <= VERSION:
        raise DataError(f"This review file has format version {obj.get('version')!r}; this "
                        f"metacore reads version {VERSION}.")
    d = _Doc(obj, "top level", {"format", "kind", "version", "metacore_version", "title",
                                "studies", "comparisons", "rob", "grades"})
    studies = []
    for i, s in enumerate(d.items("studies", 10_000), start=1):
        sd = _Doc(s, f"study {i}", {"id", "name", "year", "characteristics", "notes"})
        chars = tuple(_pair(p, f"study {i} characteristics")
                      for p in sd.items("characteristics", 200))
        studies.append(Study(sd.text("id"), sd.text("name"), sd.text("year", ""), chars,
                             sd.text("notes", "", MAX_TEXT)))
    comps = []
    for i, c in enumerate(d.items("comparisons", 1000), start=1):
        cd = _Doc(c, f"comparison {i}", {"id", "name", "outcomes"})
        outs = tuple(_outcome_from_doc(o, f"comparison {i}, outcome {j}")
                     for j, o in enumerate(cd.items("outcomes", 2000), start=1))
        comps.append(Comparison(cd.text("id"), cd.text("name"), outs))
    rob = []
    for i, a in enumerate(d.items("rob"), start=1):
        ad = _Doc(a, f"risk-of-bias entry {i}", {"study", "tool", "outcome", "domains",
                                                 "overall", "reason"})
        tool = ad.text("tool")
        if tool not in TOOLS:
            raise DataError(f"The review file's risk-of-bias entry {i} names the unknown tool "
                            f"'{tool[:20]}'.")
        doms = [_pair(p, f"risk-of-bias entry {i} domains") for p in ad.items("domains", 20)]
        try:
            rob.append(RobAssessment.build(
                ad.text("study"), tool, [x for x, _ in doms], supports=[s for _, s in doms],
                overall=ad.text("overall"), reason=ad.text("reason", "", MAX_TEXT),
                outcome_id=ad.text("outcome", "")))
        except OptionError as err:
            raise DataError(f"The review file's risk-of-bias entry {i}: {err}") from None
    grades = []
    for i, g in enumerate(d.items("grades", 10_000), start=1):
        gd = _Doc(g, f"GRADE entry {i}", {"outcome", "design", "ratings"})
        ratings = []
        for r in gd.items("ratings", len(DOWN) + len(UP)):
            if not isinstance(r, list) or len(r) != 3 or not all(isinstance(x, str) for x in r):
                raise DataError(f"The review file's GRADE entry {i} has a malformed rating.")
            ratings.append(r)
        try:
            grades.append(Grade(gd.text("outcome"), gd.text("design"),
                                tuple(Rating(*r) for r in ratings)))
        except OptionError as err:
            raise DataError(f"The review file's GRADE entry {i}: {err}") from None
    title = d.text("title")
    if not re.sub(r"\s", "", title):
        title = "Untitled review"
    return Review(title=title, studies=tuple(studies), comparisons=tuple(comps),
                  rob=tuple(rob), grades=tuple(grades))


# --- back to RevMan Web: the data package's CSV rows ---------------------------------------

_KIND_WORDS = {"binary": "Dichotomous", "continuous": "Continuous",
               "generic": "Generic inverse variance", "oe": "O-E and variance"}
_MEASURE_WORDS = {"RR": "Risk Ratio", "OR": "Odds Ratio", "RD": "Risk Difference",
                  "PETO": "Peto Odds Ratio", "MD": "Mean Difference",
                  "SMD": "Std. Mean Difference"}
_LABEL_WORDS = {"HR": "Hazard Ratio", "OR": "Odds Ratio", "RR": "Risk Ratio",
                "IRR": "Rate Ratio", "RD": "Risk Difference", "MD": "Mean Difference",
                "SMD": "Std. Mean Difference"}
_METHOD_WORDS = {"MH": "Mantel-Haenszel", "IV": "Inverse variance", "PETO": "Peto"}
_ROW_WORDS = {"events_t": "Experimental cases", "n_t": "Experimental N",
              "events_c": "Control cases", "n_c": "Control N", "mean_t": "Experimental mean",
              "sd_t": "Experimental SD", "mean_c": "Control mean", "sd_c": "Control SD",
              "oe": "O-E", "vi": "Variance", "yi": "GIV Mean", "sei": "GIV SE"}


def _numbered(review: Review):
    for g, c in enumerate(review.comparisons, start=1):
        for n, o in enumerate(c.outcomes, start=1):
            yield g, n, c, o


def review_data_rows(review: Review) -> pd.DataFrame:
    """Every outcome's study rows in the Cochrane data package's "data rows" layout
    (generic ratios as logs in "GIV Mean", as the package keeps them)."""
    years = {s.id: s.year for s in review.studies}
    names = {s.id: s.name for s in review.studies}
    out = []
    for g, n, c, o in _numbered(review):
        for r in o.rows:
            rec = {"Analysis group": g, "Analysis number": n, "Analysis name": o.name,
                   "Analysis group name": c.name, "Study": names[r.study_id],
                   "Study ID": r.study_id, "Study year": years[r.study_id],
                   "Subgroup": r.subgroup}
            for col, value in r.values:
                if col == "yi" and o.scale == "ratio" and value is not None:
                    value = math.log(value) if value > 0 else None
                rec[_ROW_WORDS[col]] = value
            out.append(rec)
    cols = ["Analysis group", "Analysis number", "Analysis name", "Analysis group name",
            "Study", "Study ID", "Study year", "Subgroup", *dict.fromkeys(_ROW_WORDS.values())]
    return pd.DataFrame(out, columns=cols)


def review_overall(review: Review) -> pd.DataFrame:
    """Every outcome's settings and our pooled result in the data package's "overall
    estimates and settings" layout (estimates on the natural scale)."""
    out = []
    for g, n, c, o in _numbered(review):
        measure = _MEASURE_WORDS.get(o.measure) or _LABEL_WORDS.get(o.label, o.label)
        rec = {"Analysis group": g, "Analysis number": n, "Analysis name": o.name,
               "Analysis group name": c.name, "Data type": _KIND_WORDS[o.kind],
               "Log-scale data": "TRUE" if o.scale in ("ratio", "log") else "FALSE",
               "Experimental group label": o.arm_labels[0],
               "Control group label": o.arm_labels[1],
               "Statistical method": _METHOD_WORDS[o.method], "Effect measure": measure,
               "Analysis model": "Random-effects" if o.model == "random" else "Fixed-effect",
               "Study CI": f"{o.study_level * 100:g}%", "Estimate CI": f"{o.level * 100:g}%",
               "Analysis ID": o.id}
        try:
            res = o.analyse()
        except DataError:
            res = None
        if res is not None:
            nat = res.natural()
            rec |= {"Mean": nat["estimate"], "CI start": nat["ci_low"], "CI end": nat["ci_high"],
                    "Heterogeneity Tau²": res.tau2, "Heterogeneity Chi²": res.q,
                    "Heterogeneity df": res.q_df, "Heterogeneity P": res.q_pvalue,
                    "Heterogeneity I²": res.i2_q, "Effect Z": abs(res.statistic),
                    "Effect P": res.pvalue}
        out.append(rec)
    return pd.DataFrame(out)


def review_to_data_package(review: Review) -> bytes:
    """The analyses as a data package (zip of the "data rows" and "overall estimates and
    settings" CSV files), so a review can go back to RevMan Web.

    >>> package = zipfile.ZipFile(io.BytesIO(review_to_data_package(Review("Empty"))))
    >>> [name.split("/")[-1] for name in package.namelist()]
    ['review data rows.csv', 'review overall estimates and settings.csv']
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, frame in (("data rows", review_data_rows(review)),
                            ("overall estimates and settings", review_overall(review))):
            text = io.StringIO()
            frame.to_csv(text, index=False, quoting=csv.QUOTE_MINIMAL, float_format="%.17g")
            z.writestr(f"review/Analysis data/review {name}.csv", text.getvalue())
    return buf.getvalue()
