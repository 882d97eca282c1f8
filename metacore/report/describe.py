"""Results in plain words, for a clinician to read aloud."""

from __future__ import annotations

from metacore.models.pooling import PoolResult, heterogeneity_words
from metacore.numbers import format_effect, format_number, format_p

__all__ = ["SHORT_NAMES", "describe", "format_effect"]  # format_effect: see metacore.numbers

SHORT_NAMES = {"OR": "OR", "RR": "RR", "RD": "RD", "AS": "arcsine difference",
               "PETO": "Peto OR", "MD": "MD", "SMD": "SMD", "SMDH": "SMD", "ROM": "ratio of means",
               "GEN": "effect"}


_MODEL_PHRASES = {"common": "common-effect", "random": "random-effects",
                  "MH": "Mantel-Haenszel", "PETO": "Peto"}


def _interval(lo: float, hi: float, digits: int) -> str:
    return f"{format_effect(lo, digits)} to {format_effect(hi, digits)}"


def describe(res: PoolResult, digits: int = 2, show_pi: bool = True) -> str:
    """One paragraph on the pooled effect, heterogeneity and the prediction interval.

    Examples
    --------
    >>> import metacore as mc
    >>> res = mc.pool(mc.compute_effects(mc.datasets.load("bcg"), "RR"))
    >>> print(describe(res))  # doctest: +NORMALIZE_WHITESPACE
    The random-effects estimate is RR 0.49 (95% CI 0.34 to 0.70; p < 0.001); heterogeneity
    is considerable (I² 92%, τ² 0.31); a new study would likely show an RR between 0.15 and
    1.55 (95% prediction interval).
    """
    nat = res.natural()
    label = getattr(res, "label", "")
    name = SHORT_NAMES.get(res.measure, res.measure)
    if res.measure == "GEN" and label:
        name = "ratio" if label.upper() == "RATIO" else label
    model = _MODEL_PHRASES.get(res.model, res.model)
    if name.isupper():  # read letter by letter: "an RR", "an SMD", "a CI"
        article = "an" if name[0] in "AEFHILMNORSX" else "a"
    else:
        article = "an" if name[0] in "aeiou" else "a"
    level = f"{res.level * 100:g}%"
    p = "p < 0.001" if res.pvalue < 0.001 else f"p = {format_p(res.pvalue)}"
    named = f"{name} " if res.measure != "GEN" or (label and name != "ratio") else ""
    text = (f"The {model} estimate is {named}{format_effect(nat['estimate'], digits)} "
            f"({level} CI {_interval(nat['ci_low'], nat['ci_high'], digits)}; {p})")
    if res.k < 2:
        return text + "; with a single study, heterogeneity cannot be assessed."
    words = heterogeneity_words(res.i2)
    text += f"; heterogeneity is {words} (I² {res.i2:.0f}%"
    text += f", τ² {format_number(res.tau2, 2)})" if res.model == "random" else ")"
    if show_pi and res.model == "random" and res.k >= 3:
        text += (f"; a new study would likely show {article} {name} between "
                 f"{_interval(nat['pi_low'], nat['pi_high'], digits).replace(' to ', ' and ')}"
                 f" ({level} prediction interval)")
    return text + "."
