"""GRADE: the certainty of the evidence for an outcome, and suggestions from the data.

Five domains rate down (risk of bias, inconsistency, indirectness, imprecision,
publication bias: no / serious / very serious = 0 / −1 / −2) and three rate up (large
effect: large / very large = +1 / +2; dose–response +1; plausible confounding +1).
Randomised evidence starts at High (4), observational at Low (2); the certainty is the
start plus the ratings, between Very low (1) and High (4) (Guyatt et al. 2011, J Clin
Epidemiol 64:383–).

Suggestions are only suggestions: :func:`suggest` returns them with the numbers they came
from, and :meth:`Grade.apply` takes one only when the team asks (with its footnote). The
thresholds are ours, stated here so a reader can check them:

* **Risk of bias** (from the outcome's analysis weights and the overall judgements):
  very serious when studies at high risk carry ≥ 50% of the weight; serious when they
  carry ≥ 20%, or high plus "some concerns" (Unclear, Moderate, No information) ≥ 50%.
* **Inconsistency** (I² = Higgins' Q-based, τ² and the 95% prediction interval of the
  DerSimonian–Laird random-effects fit): serious when I² ≥ 50%, very serious when
  I² ≥ 75%; one level less when the prediction interval stays on one side of no effect
  (the studies differ in size, not in direction). Not assessable with one study.
* **Imprecision**: serious when the CI crosses no effect or the participants are fewer than
  the optimal information size (OIS); very serious when the CI includes both appreciable
  benefit and appreciable harm (RR/OR/HR below 0.75 and above 1.25; SMD below −0.5 and
  above 0.5). OIS for binary outcomes is the two-proportion sample size for the control
  risk p_c and a 25% relative risk reduction, p_t = 0.75·p_c, α = 0.05 two-sided,
  β = 0.20: ``n per arm = (z_0.975 + z_0.80)² · (p_c(1−p_c) + p_t(1−p_t)) / (p_c − p_t)²``,
  OIS = 2·⌈n⌉. For continuous outcomes, a difference of 0.2 SD:
  ``n per arm = 2 (z_0.975 + z_0.80)² / 0.2²``, OIS = 2·⌈n⌉ = 786.
* **Publication bias**: Egger's regression test (classical weighted regression, metafor's
  ``regtest(model="lm")``) at k ≥ 10 — serious when p < 0.10; below 10 studies "not
  assessable" (no rating down is suggested, and the suggestion says why).
* Indirectness and the rating-up domains are judgements, never suggested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from metacore.diagnostics.smallstudy import egger
from metacore.errors import OptionError
from metacore.models.effects import EffectSizes
from metacore.models.pooling import PoolResult, pool
from metacore.review.rob import TOOLS, RobTable

__all__ = ["CERTAINTY_LEVELS", "DOWN", "SYMBOLS", "UP", "Grade", "Rating", "Suggestion",
           "optimal_information_size", "suggest", "suggest_imprecision",
           "suggest_inconsistency", "suggest_publication_bias", "suggest_risk_of_bias"]

DOWN = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
UP = ("large_effect", "dose_response", "confounding")
DOWN_LEVELS = ("no", "serious", "very serious")
UP_LEVELS = {"large_effect": ("no", "large", "very large"), "dose_response": ("no", "yes"),
             "confounding": ("no", "yes")}
CERTAINTY_LEVELS = ("very low", "low", "moderate", "high")
SYMBOLS = {"high": "⊕⊕⊕⊕ High", "moderate": "⊕⊕⊕◯ Moderate", "low": "⊕⊕◯◯ Low",
           "very low": "⊕◯◯◯ Very low"}
DESIGNS = {"randomised": 4, "observational": 2}
DOMAIN_WORDS = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "publication_bias": "Publication bias", "large_effect": "Large effect",
                "dose_response": "Dose–response gradient",
                "confounding": "Plausible confounding"}

#: Thresholds of the suggestions (see the module's text).
THRESHOLDS = {"rob_high_very": 0.5, "rob_high": 0.2, "rob_concerns": 0.5, "i2_serious": 50.0,
              "i2_very": 75.0, "ratio_benefit": 0.75, "ratio_harm": 1.25, "smd_appreciable": 0.5,
              "rrr": 0.25, "alpha": 0.05, "beta": 0.20, "smd_ois": 0.2, "egger_p": 0.10,
              "egger_k": 10}


@dataclass(frozen=True)
class Rating:
    """One domain's judgement and its footnote (the reason, shown under the table)."""

    domain: str
    level: str
    footnote: str = ""

    def __post_init__(self) -> None:
        allowed = DOWN_LEVELS if self.domain in DOWN else UP_LEVELS.get(self.domain)
        if allowed is None:
            raise OptionError(f"'{self.domain}' is not a GRADE domain ({', '.join(DOWN + UP)}).")
        if self.level not in allowed:
            raise OptionError(f"{DOMAIN_WORDS[self.domain]} is rated one of "
                              f"{', '.join(allowed)}, not '{self.level}'.")
        if self.level != "no" and not self.footnote.strip():
            raise OptionError(f"{DOMAIN_WORDS[self.domain]} rated '{self.level}' needs a "
                              "footnote saying why.")

    @property
    def points(self) -> int:
        """Levels moved: −1/−2 for rating down, +1/+2 for rating up."""
        if self.domain in DOWN:
            return -DOWN_LEVELS.index(self.level)
        return UP_LEVELS[self.domain].index(self.level)


@dataclass(frozen=True)
class Suggestion:
    """What the data suggest for one domain, the reason, and the numbers behind it.
    ``assessable`` is False when the data cannot tell (e.g. fewer than 10 studies for
    publication bias)."""

    domain: str
    level: str
    reason: str
    values: tuple[tuple[str, float], ...] = ()
    assessable: bool = True


@dataclass(frozen=True)
class Grade:
    """An outcome's GRADE assessment: the design it starts from and the ratings made.

    >>> g = Grade("o1").with_rating("imprecision", "serious", "CI includes no effect")
    >>> g.certainty, g.symbol
    ('moderate', '⊕⊕⊕◯ Moderate')
    """

    outcome_id: str
    design: str = "randomised"
    ratings: tuple[Rating, ...] = ()

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise OptionError("The design must be 'randomised' or 'observational'.")
        domains = [r.domain for r in self.ratings]
        if len(set(domains)) != len(domains):
            raise OptionError("A GRADE domain is rated twice for one outcome.")

    def level(self, domain: str) -> str:
        """The rating of a domain (``"no"`` when not rated)."""
        return next((r.level for r in self.ratings if r.domain == domain), "no")

    @property
    def start(self) -> str:
        """Where the certainty starts: high (randomised) or low (observational)."""
        return "high" if self.design == "randomised" else "low"

    @property
    def certainty(self) -> str:
        """``"high"``, ``"moderate"``, ``"low"`` or ``"very low"``."""
        score = DESIGNS[self.design] + sum(r.points for r in self.ratings)
        return CERTAINTY_LEVELS[min(4, max(1, score)) - 1]

    @property
    def symbol(self) -> str:
        """The certainty as GRADEpro prints it (⊕⊕⊕◯ Moderate)."""
        return SYMBOLS[self.certainty]

    @property
    def footnotes(self) -> tuple[str, ...]:
        """One footnote per rating that moves the certainty, in domain order."""
        order = {d: i for i, d in enumerate(DOWN + UP)}
        moved = sorted((r for r in self.ratings if r.level != "no"),
                       key=lambda r: order[r.domain])
        return tuple(f"{DOMAIN_WORDS[r.domain]} ({r.level}): {r.footnote}" for r in moved)

    def with_rating(self, domain: str, level: str, footnote: str = "") -> Grade:
        """The assessment with one domain (re)rated."""
        keep = tuple(r for r in self.ratings if r.domain != domain)
        return replace(self, ratings=(*keep, Rating(domain, level, footnote)))

    def apply(self, suggestion: Suggestion, footnote: str | None = None) -> Grade:
        """The assessment with a suggestion taken (the team's choice; the suggestion's
        reason is the footnote unless another is given)."""
        return self.with_rating(suggestion.domain, suggestion.level,
                                suggestion.reason if footnote is None else footnote)


# --- suggestions ------------------------------------------------------------------------

def suggest_risk_of_bias(table: RobTable) -> Suggestion:
    """Risk of bias from the weighted share of studies at high risk / some concerns
    (the overall judgements; weights as given in the table, else equal).

    >>> from metacore.review.rob import RobAssessment, RobTable
    >>> a = [RobAssessment.build(s, "rob2", [lv] * 5) for s, lv in
    ...      (("A", "High"), ("B", "Low"), ("C", "Low"))]
    >>> suggest_risk_of_bias(RobTable("rob2", tuple(a), (30.0, 40.0, 30.0))).level
    'serious'
    """
    tool = TOOLS[table.tool]
    if not table.assessments:
        return Suggestion("risk_of_bias", "no", "Not assessable: no study has a risk-of-bias "
                          "assessment.", assessable=False)
    w = np.asarray(table.weights if table.weights else [1.0] * len(table.assessments), float)
    w = w / w.sum() if w.sum() > 0 else np.full(w.size, 1 / w.size)
    severe = {"High", "Serious", "Critical"}
    concerns = set(tool.levels) - severe - {"Low"}
    pairs = list(zip(w, table.assessments, strict=True))
    high = float(sum(wi for wi, a in pairs if a.overall.level in severe))
    some = float(sum(wi for wi, a in pairs if a.overall.level in concerns))
    basis = "of the weight" if table.weights else "of the studies"
    text = (f"{100 * high:.0f}% {basis} at high risk of bias, {100 * some:.0f}% with some "
            "concerns")
    if high >= THRESHOLDS["rob_high_very"]:
        level = "very serious"
    elif high >= THRESHOLDS["rob_high"] or high + some >= THRESHOLDS["rob_concerns"]:
        level = "serious"
    else:
        level = "no"
    return Suggestion("risk_of_bias", level, text + ".", (("high", high), ("concerns", some)))


def suggest_inconsistency(effects: EffectSizes) -> Suggestion:
    """Inconsistency from I², τ² and the prediction interval (DerSimonian–Laird)."""
    if effects.k < 2:
        return Suggestion("inconsistency", "no", "Not assessable: only one study.",
                          assessable=False)
    fit = pool(effects, model="random", tau2_method="DL")
    i2, tau2 = fit.i2_q, fit.tau2
    one_side = fit.pi_low > 0 or fit.pi_high < 0
    level = 2 if i2 >= THRESHOLDS["i2_very"] else 1 if i2 >= THRESHOLDS["i2_serious"] else 0
    pi = f"{fit.transform(fit.pi_low):.3g} to {fit.transform(fit.pi_high):.3g}"
    text = f"I² = {i2:.0f}%, τ² = {tau2:.3g}; 95% prediction interval {pi}"
    if level and one_side:
        level -= 1
        text += " (on one side of no effect: the studies differ in size, not direction)"
    elif not one_side and level:
        text += " (includes no effect)"
    return Suggestion("inconsistency", DOWN_LEVELS[level], text + ".",
                      (("i2", i2), ("tau2", tau2), ("pi_low", fit.pi_low),
                       ("pi_high", fit.pi_high)))


def optimal_information_size(control_risk: float | None = None, *, rrr: float = 0.25,
                             alpha: float = 0.05, beta: float = 0.20,
                             smd: float = 0.2) -> int:
    """Participants (both arms) a single adequately powered trial would need.

    Binary (``control_risk`` given): the two-proportion formula for the control risk and
    a relative risk reduction ``rrr``; continuous (``None``): a difference of ``smd`` SDs.

    >>> optimal_information_size(0.2), optimal_information_size()
    (1806, 786)
    """
    z = float(special.ndtri(1 - alpha / 2) + special.ndtri(1 - beta))
    if control_risk is None:
        return 2 * math.ceil(2 * z * z / (smd * smd))
    if not 0 < control_risk < 1:
        raise OptionError("The control risk for the optimal information size must be "
                          "between 0 and 1.")
    pt = control_risk * (1 - rrr)
    n = z * z * (control_risk * (1 - control_risk) + pt * (1 - pt)) / (control_risk - pt) ** 2
    return 2 * math.ceil(n)


def suggest_imprecision(result: PoolResult, participants: int | None,
                        control_risk: float | None = None) -> Suggestion:
    """Imprecision from the CI against no effect and appreciable effects, and the OIS."""
    lo, hi = result.ci_low, result.ci_high
    crosses = lo < 0 < hi
    binary = control_risk is not None
    ois = optimal_information_size(control_risk if binary else None)
    if result.ratio:
        a, b = math.log(THRESHOLDS["ratio_benefit"]), math.log(THRESHOLDS["ratio_harm"])
    elif result.measure in ("SMD", "SMDH"):
        a, b = -THRESHOLDS["smd_appreciable"], THRESHOLDS["smd_appreciable"]
    else:
        a, b = -math.inf, math.inf   # no appreciable thresholds known in the outcome's units
    both = lo < a and hi > b
    short = participants is not None and participants < ois
    level = 2 if both else 1 if (crosses or short) else 0
    parts = [f"{result.level:.0%} CI {result.transform(lo):.3g} to {result.transform(hi):.3g}"
             + (" includes no effect" if crosses else " excludes no effect")]
    if both:
        parts.append("and both appreciable benefit and appreciable harm")
    parts.append(f"{'fewer' if short else 'at least'} participants ("
                 f"{'unknown' if participants is None else f'{participants:,}'}) than the "
                 f"optimal information size {ois:,}" if participants is not None else
                 f"optimal information size {ois:,} (participants unknown)")
    return Suggestion("imprecision", DOWN_LEVELS[level], "; ".join(parts) + ".",
                      (("ois", float(ois)), ("participants", float(participants or 0)),
                       ("crosses", float(crosses))))


def suggest_publication_bias(effects: EffectSizes) -> Suggestion:
    """Publication bias from Egger's test at k ≥ 10; "not assessable" below."""
    if effects.k < THRESHOLDS["egger_k"]:
        return Suggestion("publication_bias", "no", f"Not assessable: {effects.k} studies "
                          f"(Egger's test and the funnel need at least "
                          f"{THRESHOLDS['egger_k']}).", assessable=False)
    eg = egger(effects, model="lm")
    level = "serious" if eg.pvalue < THRESHOLDS["egger_p"] else "no"
    return Suggestion("publication_bias", level,
                      f"Egger's test p = {eg.pvalue:.3f} with {effects.k} studies"
                      + (" (funnel asymmetry)." if level == "serious" else "."),
                      (("pvalue", eg.pvalue), ("k", float(effects.k))))


def suggest(effects: EffectSizes, result: PoolResult, *, rob: RobTable | None = None,
            participants: int | None = None,
            control_risk: float | None = None) -> tuple[Suggestion, ...]:
    """Every suggestion the data can make (risk of bias only with a risk-of-bias table)."""
    out = []
    if rob is not None:
        out.append(suggest_risk_of_bias(rob))
    out += [suggest_inconsistency(effects),
            suggest_imprecision(result, participants, control_risk),
            suggest_publication_bias(effects)]
    return tuple(out)
