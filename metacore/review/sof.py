"""Summary of findings, GRADE style: what the pooled effect means for 1,000 patients.

For binary outcomes the relative effect is applied to an assumed control risk (the
pooled control-arm risk unless one is given), giving the corresponding intervention risk
per 1,000 with its interval, the risk difference per 1,000 and the number needed to
treat (Altman 1998: "NNTB 12 to ∞ to NNTH 40" when the interval crosses no effect).
For continuous outcomes the difference is stated in the outcome's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metacore.errors import OptionError
from metacore.models.effects import EffectSizes
from metacore.models.pooling import PoolResult
from metacore.numbers import format_effect

__all__ = ["CERTAINTY", "MAX_SOF_OUTCOMES", "ReviewSummary", "SummaryOfFindings",
           "corresponding_risk", "not_estimable", "nnt_text", "review_summary",
           "summary_of_findings"]

#: GRADE's four levels of certainty, with the symbols GRADEpro prints.
CERTAINTY = {"not rated": "", "high": "⊕⊕⊕⊕ High", "moderate": "⊕⊕⊕◯ Moderate",
             "low": "⊕⊕◯◯ Low", "very low": "⊕◯◯◯ Very low"}


def corresponding_risk(acr: float, effect: float, measure: str) -> float:
    """The intervention-arm risk implied by an effect at control risk ``acr``.

    ``effect`` is on the natural scale: a ratio for RR/OR/PETO, a difference for RD.

    >>> round(corresponding_risk(0.2, 0.5, "RR"), 4), round(corresponding_risk(0.2, 0.5, "OR"), 4)
    (0.1, 0.1111)
    """
    if measure == "RR":
        risk = acr * effect
    elif measure in ("OR", "PETO"):
        risk = acr * effect / (1 - acr + acr * effect)
    elif measure == "RD":
        risk = acr + effect
    else:
        raise OptionError(f"No corresponding risk for measure '{measure}'.")
    return float(min(max(risk, 0.0), 1.0))


def _nnt(ard: float) -> float:
    return math.inf if ard == 0 else 1 / abs(ard)


def _round_nnt(x: float) -> str:
    # NNTs are whole patients, rounded up (Cochrane Handbook 15.4.4).
    return "∞" if not math.isfinite(x) else f"{math.ceil(x - 1e-9):,}".replace(",", "\u2009")


def nnt_text(ard: float, lo: float, hi: float, *, outcome: str = "undesirable") -> str:
    """The number needed to treat for a risk difference and its interval.

    Benefit is fewer events for an undesirable outcome (more for a desirable one):
    NNTB; harm is NNTH. When the interval crosses no effect it runs through infinity
    (Altman 1998).

    >>> nnt_text(-0.05, -0.08, -0.02)
    'NNTB 20 (13 to 50)'
    >>> nnt_text(-0.05, -0.1, 0.025)
    'NNTB 20 (NNTB 10 to ∞ to NNTH 40)'
    """
    sign = -1.0 if outcome == "undesirable" else 1.0   # benefit when sign * ard > 0
    b, b_lo, b_hi = sign * ard, *sorted((sign * lo, sign * hi))
    if ard == 0:
        head = "NNT ∞"
    else:
        head = f"{'NNTB' if b > 0 else 'NNTH'} {_round_nnt(_nnt(ard))}"
    if b_lo > 0 or b_hi < 0:   # the interval stays on one side
        near, far = sorted((_nnt(b_lo), _nnt(b_hi)))
        return f"{head} ({_round_nnt(near)} to {_round_nnt(far)})"
    return f"{head} (NNTB {_round_nnt(_nnt(b_hi))} to ∞ to NNTH {_round_nnt(_nnt(b_lo))})"


@dataclass(frozen=True)
class SummaryOfFindings:
    """One outcome's row of a GRADE summary-of-findings table.

    Risks are per 1,000 (binary outcomes); ``difference`` is per 1,000 for binary
    outcomes and in the outcome's units for continuous ones. ``participants`` and
    ``studies`` count every trial of the outcome, the ``not_estimable`` ones (e.g. no events
    in either arm, RevMan's "Not estimable") included, as GRADEpro and RevMan do.
    """

    outcome: str
    kind: str
    measure: str
    name: str
    relative: str
    participants: int | None
    studies: int
    certainty: str
    assumed: float | None = None
    assumed_source: str = ""
    corresponding: float | None = None
    corresponding_ci: tuple[float, float] | None = None
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    nnt: str = ""
    units: str = ""
    comments: str = ""
    not_estimable: int = 0

    def to_frame(self) -> pd.DataFrame:
        """The row as a table with GRADEpro's column headings."""
        n = "" if self.participants is None else f"{self.participants:,}".replace(",", "\u2009")
        row = {"Outcome": self.outcome}
        if self.kind == "binary":
            lo, hi = self.corresponding_ci
            dlo, dhi = self.difference_ci
            row |= {"Risk with control": f"{_per1000(self.assumed)} per 1,000",
                    "Risk with intervention": f"{_per1000(self.corresponding)} per 1,000 "
                                              f"({_per1000(lo)} to {_per1000(hi)})",
                    "Risk difference": f"{_signed(self.difference)} per 1,000 "
                                       f"({_signed(dlo)} to {_signed(dhi)})",
                    "NNT": self.nnt}
        elif self.kind == "continuous":
            row |= {"Difference": self.relative}
        # Ratios without arm risks (a generic HR, a ratio of means) are relative effects.
        ne = f"; {self.not_estimable} not estimable" if self.not_estimable else ""
        row |= {"Relative effect": "—" if self.kind == "continuous" else self.relative,
                "Participants (studies)": f"{n} ({self.studies} {_plural(self.studies)}{ne})",
                "Certainty (GRADE)": CERTAINTY.get(self.certainty, self.certainty) or
                "not rated", "Comments": self.comments}
        return pd.DataFrame([row])


def _plural(k: int) -> str:
    return "study" if k == 1 else "studies"


def _per1000(risk: float | None) -> str:
    return "n/a" if risk is None or not math.isfinite(risk) else f"{round(1000 * risk):,}"


def _signed(diff: float | None) -> str:
    if diff is None or not math.isfinite(diff):
        return "n/a"
    v = round(1000 * diff)
    return f"{v:+,}".replace("-", "\u2212") if v else "0"


def not_estimable(effects: EffectSizes) -> pd.DataFrame:
    """The trials of an analysis that give no estimate although their data are there and
    they were not left out by hand (e.g. no events in either arm): RevMan's "Not estimable".

    >>> import metacore as mc
    >>> t = mc.datasets.load("bcg").iloc[:3].copy()
    >>> t.loc[0, ["events_t", "events_c"]] = 0
    >>> not_estimable(mc.compute_effects(t, "OR", drop00=True))["row"].tolist()
    [1]
    """
    data = effects.excluded_data
    if data.empty or "include" not in data:
        return data.iloc[0:0]
    return data[data["include"].astype(bool)].reset_index(drop=True)


def _participants(frame: pd.DataFrame) -> float:
    if {"n_t", "n_c"} <= set(frame.columns):
        return float(np.nansum(frame["n_t"].to_numpy(float) + frame["n_c"].to_numpy(float)))
    if "n" in frame.columns:
        return float(np.nansum(frame["n"].to_numpy(float)))
    return math.nan


def summary_of_findings(effects: EffectSizes, result: PoolResult, *, outcome: str = "Outcome",
                        assumed_risk: float | None = None, direction: str = "undesirable",
                        certainty: str = "not rated", units: str = "",
                        comments: str = "") -> SummaryOfFindings:
    """The summary-of-findings row for a pooled result.

    Parameters
    ----------
    effects, result
        The analysed studies and the fit.
    outcome
        The outcome's name, as the table shows it.
    assumed_risk
        Control-group risk (0-1) the relative effect is applied to; ``None`` uses the
        pooled control-arm risk of the analysed studies.
    direction
        ``"undesirable"`` (events are harms: fewer is benefit) or ``"desirable"``.
    certainty
        One of :data:`CERTAINTY` (a judgement the review team makes).
    units
        The outcome's units, for mean differences.

    Examples
    --------
    >>> import metacore as mc
    >>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
    >>> sof = summary_of_findings(eff, mc.pool(eff))
    >>> round(1000 * sof.assumed), round(1000 * sof.corresponding), sof.nnt
    (9, 4, 'NNTB 216 (168 to 363)')
    """
    if certainty not in CERTAINTY:
        raise OptionError(f"certainty must be one of {', '.join(CERTAINTY)}.")
    if direction not in ("undesirable", "desirable"):
        raise OptionError("direction must be 'undesirable' or 'desirable'.")
    nat = result.natural()
    level = f"{result.level * 100:g}%"
    est, lo, hi = nat["estimate"], nat["ci_low"], nat["ci_high"]
    data = effects.data
    missing = not_estimable(effects)
    participants = None
    counted = _participants(data)
    if math.isfinite(counted):
        # every trial of the outcome, the not-estimable ones included
        extra = _participants(missing) if len(missing) else 0.0
        participants = int(counted + (extra if math.isfinite(extra) else 0.0))
    relative = (f"{result.label or result.measure} {format_effect(est)} "
                f"({level} CI {format_effect(lo)} to {format_effect(hi)})")
    base = {"outcome": outcome, "measure": result.measure, "name": result.name,
            "relative": relative, "participants": participants,
            "studies": effects.k + len(missing), "not_estimable": len(missing),
            "certainty": certainty, "units": units, "comments": comments}
    if result.measure in ("RR", "OR", "PETO", "RD"):
        source = "typed in"
        if assumed_risk is None:
            ev, n = data["events_c"].to_numpy(float), data["n_c"].to_numpy(float)
            assumed_risk = float(np.nansum(ev) / np.nansum(n))
            source = (f"pooled control-arm risk ({int(np.nansum(ev)):,} events in "
                      f"{int(np.nansum(n)):,} participants)")
        if not 0 <= assumed_risk <= 1 or not math.isfinite(assumed_risk):
            raise OptionError("The assumed control risk must be between 0 and 1 "
                              "(e.g. 0.05 for 50 per 1,000).")
        corr = [corresponding_risk(assumed_risk, x, result.measure) for x in (est, lo, hi)]
        diff = [c - assumed_risk for c in corr]
        return SummaryOfFindings(
            kind="binary", assumed=assumed_risk, assumed_source=source,
            corresponding=corr[0], corresponding_ci=(corr[1], corr[2]), difference=diff[0],
            difference_ci=(diff[1], diff[2]),
            nnt=nnt_text(diff[0], diff[1], diff[2], outcome=direction), **base)
    if result.measure in ("MD", "SMD", "SMDH") or (result.measure == "GEN" and not result.ratio):
        unit = f" {units}" if units and result.measure == "MD" else ""
        if result.measure in ("SMD", "SMDH"):
            unit = " SD"
        word = "higher" if est >= 0 else "lower"
        text = (f"{format_effect(abs(est))}{unit} {word} ({level} CI "
                f"{_hl(lo, unit)} to {_hl(hi, unit)})")
        if result.measure in ("SMD", "SMDH"):
            base["comments"] = (comments + " " if comments else "") + (
                "SD units; as a rule of thumb 0.2 is a small, 0.5 a moderate and 0.8 a large "
                "difference (Cohen 1988).")
        base["relative"] = text
        return SummaryOfFindings(kind="continuous", difference=est, difference_ci=(lo, hi),
                                 **base)
    # Ratios without arm risks (ratio of means, generic HR): the relative effect only.
    return SummaryOfFindings(kind="relative", **base)


def _hl(x: float, unit: str) -> str:
    return f"{format_effect(abs(x))}{unit} {'higher' if x >= 0 else 'lower'}"


# --- the whole review: one GRADEpro-style table per comparison ----------------------------

#: GRADE advises at most seven outcomes in a summary-of-findings table.
MAX_SOF_OUTCOMES = 7


@dataclass(frozen=True)
class ReviewSummary:
    """A comparison's summary-of-findings table: one row per chosen outcome, with the
    GRADE footnotes numbered in order of appearance (``footnotes[i]`` is note i + 1)."""

    comparison: str
    rows: tuple[SummaryOfFindings, ...]
    notes: tuple[tuple[int, ...], ...]
    footnotes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The table with GRADEpro's columns (binary risks per 1,000; continuous outcomes
        as differences in their units)."""
        out = []
        for row, marks in zip(self.rows, self.notes, strict=False):
            sup = "".join(f"^{m}" for m in marks)
            n = "" if row.participants is None else \
                f"{row.participants:,}".replace(",", "\u2009")
            cert = CERTAINTY.get(row.certainty, row.certainty) or "not rated"
            if row.kind == "binary":
                lo, hi = row.corresponding_ci
                assumed = f"{_per1000(row.assumed)} per 1,000"
                with_int = (f"{_per1000(row.corresponding)} per 1,000 "
                            f"({_per1000(lo)} to {_per1000(hi)})")
                relative = row.relative
            elif row.kind == "continuous":
                assumed, with_int, relative = "—", row.relative, "—"
            else:
                assumed, with_int, relative = "—", "—", row.relative
            out.append({"Outcome": row.outcome, "Assumed risk with control": assumed,
                        "Risk with intervention": with_int, "Relative effect": relative,
                        "Participants (studies)": f"{n} ({row.studies} {_plural(row.studies)})"
                        .strip(),
                        "Certainty of the evidence (GRADE)": f"{cert}{sup}",
                        "Comments": row.comments})
        return pd.DataFrame(out, columns=["Outcome", "Assumed risk with control",
                                          "Risk with intervention", "Relative effect",
                                          "Participants (studies)",
                                          "Certainty of the evidence (GRADE)", "Comments"])


def review_summary(review, comparison_id: str, outcome_ids: list[str] | None = None, *,
                   assumed_risks: dict[str, float] | None = None,
                   follow_up: dict[str, str] | None = None,
                   comments: dict[str, str] | None = None,
                   direction: dict[str, str] | None = None) -> ReviewSummary:
    """The GRADEpro-style table of one comparison of a :class:`metacore.review.model.Review`.

    Parameters
    ----------
    review, comparison_id
        The review and the comparison the table is for.
    outcome_ids
        The outcomes in the order the team wants (default: the comparison's first seven);
        at most :data:`MAX_SOF_OUTCOMES`.
    assumed_risks, follow_up, comments, direction
        Per outcome id: the assumed control risk (default the pooled control-arm risk),
        the follow-up shown under the outcome's name, a comment, ``"desirable"`` outcomes.

    Examples
    --------
    >>> from metacore.review.model import Outcome, Review, StudyRow
    >>> rev = Review("Demo").add_study("A").add_study("B").add_comparison("X vs Y")
    >>> o = Outcome("", "Death", "binary", "RR", rows=(
    ...     StudyRow("STD-001", (("events_t", 4.0), ("n_t", 50.0), ("events_c", 9.0),
    ...                          ("n_c", 50.0))),
    ...     StudyRow("STD-002", (("events_t", 10.0), ("n_t", 80.0), ("events_c", 15.0),
    ...                          ("n_c", 82.0)))))
    >>> rev = rev.add_outcome("CMP-001", o)
    >>> review_summary(rev, "CMP-001").to_frame().loc[0, "Assumed risk with control"]
    '182 per 1,000'
    """
    comp = review.comparison(comparison_id)
    ids = [o.id for o in comp.outcomes][:MAX_SOF_OUTCOMES] if outcome_ids is None \
        else list(outcome_ids)
    if len(ids) > MAX_SOF_OUTCOMES:
        raise OptionError(f"A summary-of-findings table holds at most {MAX_SOF_OUTCOMES} "
                          f"outcomes (GRADE's advice); {len(ids)} were chosen.")
    known = {o.id for o in comp.outcomes}
    for oid in ids:
        if oid not in known:
            raise OptionError(f"Outcome '{oid}' is not in the comparison '{comp.name}'.")
    assumed_risks, follow_up = assumed_risks or {}, follow_up or {}
    comments, direction = comments or {}, direction or {}
    rows, notes, footnotes = [], [], []
    for oid in ids:
        o = review.outcome(oid)
        grade = review.grade(oid)
        name = o.name + (f" (follow-up: {follow_up[oid]})" if follow_up.get(oid) else "")
        row = summary_of_findings(o.effects(), o.analyse(), outcome=name,
                                  assumed_risk=assumed_risks.get(oid),
                                  direction=direction.get(oid, "undesirable"),
                                  certainty=grade.certainty if grade else "not rated",
                                  units=o.units, comments=comments.get(oid, ""))
        marks = []
        for text in (grade.footnotes if grade else ()):
            if text not in footnotes:
                footnotes.append(text)
            marks.append(footnotes.index(text) + 1)
        rows.append(row)
        notes.append(tuple(marks))
    return ReviewSummary(comp.name, tuple(rows), tuple(notes), tuple(footnotes))
