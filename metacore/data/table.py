"""Study tables: column aliases, number parsing and data-kind detection.

A study table is a pandas DataFrame with one row per study. Uploads use many
spellings for the same column (metafor's ``ai n1i ci n2i``, RevMan's
"Experimental Events", the meta package's ``event.e``); :data:`ALIASES` is the
one place that maps them to the canonical names of the design card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metacore.errors import DataError

__all__ = [
    "ALIASES",
    "suggest_mapping",
    "COLUMN_WORDS",
    "missing_words",
    "as_label",
    "is_id_like",
    "KIND_COLUMNS",
    "KIND_LABELS",
    "StudyTable",
    "detect_kinds",
    "extra_columns",
    "generic_scale",
    "map_columns",
    "normalize_name",
    "parse_numbers",
    "standardize",
]

#: Canonical column -> accepted spellings (after :func:`normalize_name`).
ALIASES: dict[str, tuple[str, ...]] = {
    "study": ("study", "studlab", "study_or_subgroup", "author", "authors",
              "trial", "label", "slab", "name", "study_name", "study_id"),
    "events_t": ("events_t", "ai", "tpos", "event_e", "events_e", "experimental_events",
                 "treatment_events", "intervention_events", "events_treatment",
                 "events_1", "events1", "x1i", "r1", "events"),
    "n_t": ("n_t", "n1i", "n_e", "n1", "experimental_total", "treatment_total",
            "intervention_total", "total_t", "total_e", "total_treatment", "n_treatment",
            "experimental_n", "treatment_n", "total"),
    "events_c": ("events_c", "ci", "cpos", "event_c", "control_events", "events_control",
                 "events_2", "events2", "x2i", "r2"),
    "n_c": ("n_c", "n2i", "n2", "control_total", "total_c", "total_control", "n_control",
            "control_n"),
    "nonevents_t": ("nonevents_t", "bi", "tneg", "non_events_t"),
    "nonevents_c": ("nonevents_c", "di", "cneg", "non_events_c"),
    "mean_t": ("mean_t", "m1i", "mean_e", "experimental_mean", "treatment_mean",
               "intervention_mean", "mean1", "mean"),
    "sd_t": ("sd_t", "sd1i", "sd_e", "experimental_sd", "treatment_sd", "intervention_sd",
             "sd1", "sd"),
    "mean_c": ("mean_c", "m2i", "control_mean", "mean2"),
    "sd_c": ("sd_c", "sd2i", "control_sd", "sd2"),
    "yi": ("yi", "te", "effect", "effect_size", "estimate", "es", "y", "log_effect",
           *(_RATIO_NAMES := ("hr", "hazard_ratio", "or", "odds_ratio", "rr", "risk_ratio",
                              "relative_risk", "irr", "rate_ratio", "incidence_rate_ratio",
                              "ratio")),
           *(_LOG_NAMES := ("log_hr", "loghr", "ln_hr", "lnhr", "log_hazard_ratio",
                            "log_or", "logor", "ln_or", "lnor", "log_odds_ratio",
                            "log_rr", "logrr", "ln_rr", "lnrr", "log_risk_ratio",
                            "log_irr", "ln_irr", "log_rate_ratio", "log_ratio"))),
    "sei": ("sei", "se", "sete", "se_te", "standard_error", "stderr", "std_err",
            "se_log_hr", "se_loghr", "se_lnhr", "se_log_or", "se_logor", "se_log_rr",
            "se_logrr"),
    "oe": ("oe", "o_e", "o_minus_e", "observed_minus_expected"),
    "vi": ("vi", "var", "variance", "v"),
    "ci_low": ("ci_low", "ci_lb", "lower", "lcl", "ci_lower", "lower_ci", "lower_95",
               "low", "lo"),
    "ci_high": ("ci_high", "ci_ub", "upper", "ucl", "ci_upper", "upper_ci", "upper_95",
                "high", "hi"),
    "include": ("include", "included", "use", "selected", "keep"),
    "subgroup": ("subgroup", "group", "byvar", "subgroups", "category"),
    # Third round: one-group data (proportions, rates, correlations, means) and
    # two-group rates with person-time. "events", "total", "mean" and "sd" also name
    # the treatment arm above; they mean the single group unless the table has a
    # control arm (see :func:`map_columns`).
    "events": ("events", "cases", "xi", "event", "positives", "positive", "n_events",
               "number_of_events", "successes", "affected"),
    "nonevents": ("nonevents", "non_events", "non_cases", "noncases", "negatives"),
    "n": ("n", "ni", "total", "sample_size", "samplesize", "size", "n_total",
          "participants", "patients", "subjects", "denominator", "no_patients"),
    "time": ("time", "ti", "person_time", "persontime", "person_years", "personyears",
             "patient_years", "py", "pyrs", "pt", "person_days", "person_months",
             "patient_days", "catheter_days", "device_days", "exposure", "exposure_time",
             "time_at_risk", "follow_up", "followup", "observation_time"),
    "time_t": ("time_t", "t1i", "person_time_t", "person_years_t", "py_t", "pt_t",
               "time_e", "exposure_t", "time1", "time_1_t", "time_treatment",
               "treatment_time", "experimental_time", "treatment_person_years"),
    "time_c": ("time_c", "t2i", "person_time_c", "person_years_c", "py_c", "pt_c",
               "exposure_c", "time2", "time_control", "control_time",
               "control_person_years"),
    "r": ("r", "ri", "cor", "corr", "correlation", "pearson_r", "r_xy", "rho"),
    "mean": ("mean", "sample_mean", "average", "avg"),
    "sd": ("sd", "sdi", "std", "std_dev", "stdev", "standard_deviation", "s_d"),
}

# RevMan exports repeat "Events", "Total", "Mean", "SD" for the two arms; pandas
# renames the second copy "Events.1", which normalizes to "events_1".
_SECOND_ARM = {"events_1": "events_c", "total_1": "n_c", "mean_1": "mean_c", "sd_1": "sd_c"}

#: Columns each data kind needs, in the canonical vocabulary.
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "binary": ("events_t", "n_t", "events_c", "n_c"),
    "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "two_rates": ("events_t", "time_t", "events_c", "time_c"),
    "proportion": ("events", "n"),
    "rate": ("events", "time"),
    "correlation": ("r", "n"),
    "mean": ("mean", "sd", "n"),
    "generic": ("yi",),
}

#: Canonical columns in words, as the column mapping and the messages name them.
COLUMN_WORDS: dict[str, str] = {
    "study": "Study label", "events_t": "Events (arm 1)", "n_t": "Total (arm 1)",
    "events_c": "Events (arm 2)", "n_c": "Total (arm 2)", "nonevents_t": "Non-events (arm 1)",
    "nonevents_c": "Non-events (arm 2)", "mean_t": "Mean (arm 1)", "sd_t": "SD (arm 1)",
    "mean_c": "Mean (arm 2)", "sd_c": "SD (arm 2)", "yi": "Effect estimate",
    "sei": "Standard error", "vi": "Variance", "ci_low": "CI lower limit",
    "ci_high": "CI upper limit", "include": "Include (yes/no)", "subgroup": "Subgroup",
    "oe": "O − E", "events": "Events (one group)", "nonevents": "Non-events (one group)",
    "n": "Total (one group)", "time": "Person-time (one group)",
    "time_t": "Person-time (arm 1)", "time_c": "Person-time (arm 2)", "r": "Correlation (r)",
    "mean": "Mean (one group)", "sd": "SD (one group)",
}


def missing_words(data: pd.DataFrame, kind: str) -> str:
    """What a table lacks for a kind of data, and what it has, in words.

    >>> missing_words(pd.DataFrame(columns=["events_t", "n_t"]), "binary")
    'Missing: Events (arm 2), Total (arm 2). Found: Events (arm 1), Total (arm 1).'
    """
    cols = set(data.columns)
    if kind == "generic":
        if "yi" in cols:
            return ("Missing: a Standard error, a Variance, or CI lower and upper limits "
                    "beside the Effect estimate.")
        missing, found = ["yi"], [c for c in ("sei", "vi", "ci_low", "ci_high") if c in cols]
    else:
        need = list(KIND_COLUMNS[kind])
        missing = [c for c in need if c not in cols]
        found = [c for c in need if c in cols]
    text = "Missing: " + ", ".join(COLUMN_WORDS.get(c, c) for c in missing) + "."
    if found:
        text += " Found: " + ", ".join(COLUMN_WORDS.get(c, c) for c in found) + "."
    return text


#: What each kind of data is, in words (for messages and the Data page).
KIND_LABELS: dict[str, str] = {
    "binary": "two-group events (2x2 tables)",
    "continuous": "two-group means and SDs",
    "two_rates": "two-group events with person-time",
    "proportion": "single-group proportions (events of n)",
    "rate": "single-group rates (events per person-time)",
    "correlation": "correlations (r with n)",
    "mean": "single-group means (mean, SD, n)",
    "generic": "ready effect sizes (yi with SE, variance or CI)",
}

NUMERIC_COLUMNS = ("events_t", "n_t", "events_c", "n_c", "nonevents_t", "nonevents_c",
                   "mean_t", "sd_t", "mean_c", "sd_c", "yi", "sei", "vi", "ci_low", "ci_high",
                   "oe", "events", "nonevents", "n", "time", "time_t", "time_c", "r", "mean",
                   "sd")

def extra_columns(data: pd.DataFrame) -> list[str]:
    """Study characteristics of a canonical table (``StudyTable.data``/``EffectSizes.data``):
    every column but the ones that hold the study itself; ``subgroup`` counts as one.

    >>> extra_columns(pd.DataFrame(columns=["row", "study", "yi", "sei", "include", "year"]))
    ['year']
    """
    own = {"row", "study", "include", *NUMERIC_COLUMNS}
    return [c for c in data.columns if c not in own]


def is_id_like(values: pd.Series) -> bool:
    """True for a column that looks like an identifier, not a measurement: whole numbers,
    a different one on every row (trial numbers, registry codes). Such a column is never
    used as a coordinate or a moderator unless the user picks it.

    >>> is_id_like(pd.Series([101, 7, 33, 2])), is_id_like(pd.Series([44, 55, 42, 44]))
    (True, False)
    """
    x = pd.to_numeric(values, errors="coerce")
    if not pd.api.types.is_numeric_dtype(values) or x.isna().any() or len(x) < 3:
        return False
    x = x.to_numpy(float)
    return bool(np.all(x == np.round(x)) and len(np.unique(x)) == len(x))


_LOOKUP: dict[str, str] = {}
for _canon, _names in ALIASES.items():
    for _alias in _names:
        _LOOKUP.setdefault(_alias, _canon)   # the two-arm meaning of a shared name stays first
# Names that speak of the treatment arm in a two-group table and of the only group
# otherwise ("events", "total", "mean", "sd").
_ONE_GROUP = {alias: canon for canon in ("events", "n", "mean", "sd")
              for alias in ALIASES[canon] if _LOOKUP[alias] != canon}
# A column that can only belong to a control arm makes the table a two-group one.
_CONTROL = frozenset({"events_c", "n_c", "nonevents_c", "mean_c", "sd_c", "time_c"})
_ONE_GROUP_ONLY = frozenset({"events", "nonevents", "n", "time", "r", "mean", "sd"})
# metafor names "mi" the non-events of a proportion but the mean of a mean.
_MI = "mi"


def as_label(value: object) -> str | None:
    """A cell as a label: None when empty; whole numbers without '.0' (a column of codes
    with a gap is read as floats, and subgroup '1.0' or study '2.0' means nothing).

    >>> as_label(2.0), as_label(2.5), as_label(" Smith "), as_label(float("nan"))
    ('2', '2.5', 'Smith', None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).replace("\x00", "").strip()


def _prefer_named_studies(table: pd.DataFrame, colmap: dict[object, str],
                          overrides: Mapping[object, str | None] | None) -> dict[object, str]:
    """A numbered study column (1, 2, 3) gives way to a column of names that is also a
    study spelling (author, studlab, ...), unless the user mapped it by hand."""
    overrides = dict(overrides or {})
    numbered = next((c for c, canon in colmap.items() if canon == "study"), None)
    if numbered is None or numbered in overrides:
        return colmap
    column = table[numbered]
    if isinstance(column, pd.DataFrame) or not pd.api.types.is_numeric_dtype(column):
        return colmap
    for col in table.columns:
        if col in colmap or col in overrides or normalize_name(col) not in ALIASES["study"]:
            continue
        names = table[col]
        if isinstance(names, pd.DataFrame) or pd.api.types.is_numeric_dtype(names):
            continue
        return {**{c: k for c, k in colmap.items() if c != numbered}, col: "study"}
    return colmap


# Words in column names that say what a column holds and which arm it belongs to, for
# suggestions when no spelling of the alias table matches ("hcq_arm_event").
_ROLE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("events", frozenset({"event", "events", "deaths", "death", "died", "dead", "cases",
                          "case", "responders", "responses", "successes", "ev", "evt",
                          "outcomes", "deceased", "infections", "relapses"})),
    ("n", frozenset({"total", "totals", "n", "num", "number", "size", "patients",
                     "participants", "subjects", "randomised", "randomized", "tot",
                     "sample", "enrolled"})),
    ("mean", frozenset({"mean", "means", "avg", "average"})),
    ("sd", frozenset({"sd", "std", "stdev", "sdev"})),
    ("sei", frozenset({"se", "sei", "stderr", "standard_error"})),
    ("vi", frozenset({"var", "variance", "vi"})),
    ("ci_low", frozenset({"lower", "low", "lci", "lcl", "ll"})),
    ("ci_high", frozenset({"upper", "high", "uci", "ucl", "ul"})),
    ("yi", frozenset({"effect", "es", "estimate", "est", "yi", "te", "hr", "or", "rr",
                      "smd", "md", "loghr", "lnhr", "logor", "logrr"})),
)
_CONTROL_WORDS = frozenset({"control", "controls", "ctrl", "placebo", "pbo", "standard",
                            "usual", "soc", "comparator", "con", "sham", "untreated",
                            "reference", "ref", "c", "2", "arm2"})
_TREATED_WORDS = frozenset({"treatment", "treated", "trt", "tx", "experimental", "exp",
                            "intervention", "active", "drug", "vaccine", "vaccinated",
                            "e", "t", "1", "arm1"})


def suggest_mapping(columns: list[object] | pd.Index) -> dict[object, str]:
    """Likely canonical columns for columns the alias table does not know, from the words
    in their names: ``hcq_arm_event`` -> events in arm 1, ``control_arm_total`` -> total
    in arm 2. Arms come from words such as control/placebo (arm 2); a column with no arm
    word takes the arm still free. Suggestions are for the user to confirm, never applied
    on their own.

    >>> suggest_mapping(["hcq_arm_event", "control_arm_event"])
    {'hcq_arm_event': 'events_t', 'control_arm_event': 'events_c'}
    """
    auto = map_columns(columns)
    used = set(auto.values())
    armed: dict[str, list[tuple[object, str | None]]] = {}
    out: dict[object, str] = {}
    for col in columns:
        if col in auto:
            continue
        words = set(normalize_name(col).split("_"))
        role = next((r for r, vocab in _ROLE_WORDS if words & vocab), None)
        if role is None:
            continue
        if role in ("events", "n", "mean", "sd"):
            arm = "c" if words & _CONTROL_WORDS else ("t" if words & _TREATED_WORDS else None)
            armed.setdefault(role, []).append((col, arm))
        elif role not in used:
            out[col] = role
            used.add(role)
    for role, found in armed.items():
        for col, arm in sorted(found, key=lambda x: x[1] is None):
            free = [a for a in (arm,) if a] or [a for a in ("t", "c") if f"{role}_{a}" not in used]
            canon = f"{role}_{free[0]}" if free else None
            if canon and canon not in used:
                out[col] = canon
                used.add(canon)
    return {c: out[c] for c in columns if c in out}


def normalize_name(name: object) -> str:
    """Lower-case a column name and reduce separators to single underscores.

    >>> normalize_name("  Experimental Events ")
    'experimental_events'
    """
    text = str(name).strip().lower()
    text = re.sub(r"[^0-9a-z]+", "_", text)
    return text.strip("_")


def map_columns(columns: list[object] | pd.Index,
                overrides: Mapping[object, str | None] | None = None) -> dict[object, str]:
    """Map each recognised column to its canonical name.

    Parameters
    ----------
    columns
        Column labels as they came in.
    overrides
        ``{original: canonical or None}`` set by hand; ``None`` ignores a column.

    Returns
    -------
    dict
        ``{original: canonical}`` for every recognised column; the first column
        wins when two spellings map to the same name.

    Examples
    --------
    >>> map_columns(["ai", "N1I", "ci", "n2i"])
    {'ai': 'events_t', 'N1I': 'n_t', 'ci': 'events_c', 'n2i': 'n_c'}

    "Events" and "Total" name the treatment arm when the table has a control arm, and
    the only group otherwise:

    >>> map_columns(["Cases", "Total"])
    {'Cases': 'events', 'Total': 'n'}
    """
    overrides = dict(overrides or {})
    mapping: dict[object, str] = {}
    taken: set[str] = set()
    for col, canon in overrides.items():
        if canon is not None and col in list(columns):
            mapping[col] = canon
            taken.add(canon)
    keys = {col: normalize_name(col) for col in columns if col not in overrides}
    found = {_SECOND_ARM.get(k) if k in _SECOND_ARM else _LOOKUP.get(k) for k in keys.values()}
    two_groups = bool((found | taken) & _CONTROL)
    has_sd = bool({"sd", "sdi", "sd_t"} & set(keys.values()))
    for col, key in keys.items():
        canon = _SECOND_ARM.get(key) if key in _SECOND_ARM else _LOOKUP.get(key)
        if key in _ONE_GROUP and not two_groups:
            canon = _ONE_GROUP[key]
        elif key == _MI and not two_groups:
            canon = "mean" if has_sd else "nonevents"
        elif two_groups and canon in _ONE_GROUP_ONLY:
            continue   # e.g. a follow-up "time" beside 2x2 counts stays a moderator
        if canon is None or canon in taken:
            continue
        mapping[col] = canon
        taken.add(canon)
    return mapping


_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Digit groups of three after a leading group of 1-3 digits (no leading zero): the only
# places where "." or "," can be a thousands separator.
_DOT_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d*)?([eE][+-]?\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")


def _clean_text(value: str) -> str:
    text = value.strip().replace("\u2212", "-").replace("\u2009", "").replace("\u00a0", "")
    return text.replace(" ", "").replace("'", "")


def _convention(text: str) -> str | None:
    """Which decimal mark a cell proves: "comma", "dot", or None when it proves neither.

    "0,12" proves a decimal comma and "0.10" a decimal point; "1,234" and "1.234" could be
    either (thousands or decimals) and prove nothing; "1.234,5" and "1,234.5" prove the mark
    that comes last; "1.234.567" proves the dot is not the decimal mark.
    """
    has_dot, has_comma = "." in text, "," in text
    if has_dot and has_comma:
        return "comma" if text.rfind(",") > text.rfind(".") else "dot"
    if has_comma:
        if _COMMA_THOUSANDS.match(text):
            return "dot" if text.count(",") > 1 else None
        return "comma"
    if has_dot:
        if _DOT_THOUSANDS.match(text):
            return "comma" if text.count(".") > 1 else None
        return "dot"
    return None


def _to_plain(text: str, convention: str | None) -> str:
    """Rewrite a cell in the column's convention as a plain Python float literal.

    A separator is removed only where it stands in a thousands pattern, so a decimal
    point can never silently vanish.
    """
    if convention == "comma":
        if "." in text and _DOT_THOUSANDS.match(text):
            text = text.replace(".", "")
        return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    if "," in text and _COMMA_THOUSANDS.match(text):
        return text.replace(",", "")
    return text


def _decimal_convention(cells: list[tuple[int, str]]) -> str | None:
    """The column's decimal mark, from the cells that prove one.

    Raises
    ------
    DataError
        If some cells prove a decimal comma and others a decimal point, naming them.
    """
    votes: dict[str, list[tuple[int, str]]] = {"comma": [], "dot": []}
    for i, text in cells:
        mark = _convention(text)
        if mark:
            votes[mark].append((i, text))
    if votes["comma"] and votes["dot"]:
        def cite(items: list[tuple[int, str]]) -> str:
            shown = ", ".join(f"row {i + 1} ('{t}')" for i, t in items[:4])
            return shown + (f" and {len(items) - 4} more" if len(items) > 4 else "")
        raise DataError(
            "mixes decimal conventions: " + cite(votes["comma"]) + " use a decimal comma, "
            "while " + cite(votes["dot"]) + " use a decimal point. Write every number in "
            "this column the same way, then load the table again.")
    return "comma" if votes["comma"] else ("dot" if votes["dot"] else None)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a column of numbers that may arrive as text.

    Handles surrounding spaces, thousands separators, decimal commas (decided
    per column, from the cells that prove a convention) and the Unicode minus sign.

    Returns
    -------
    (numbers, bad)
        ``numbers`` as float with NaN where nothing usable was given; ``bad``
        is True where a value was given but is not a number.

    Raises
    ------
    DataError
        If the column mixes a decimal comma ("0,12") with a decimal point ("0.10");
        guessing would silently change values by orders of magnitude.

    Examples
    --------
    >>> nums, bad = parse_numbers(pd.Series(["12", " 0.5 ", "abc", None]))
    >>> nums.tolist()[:2], bad.tolist()
    ([12.0, 0.5], [False, False, True, False])
    """
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(float), pd.Series(False, index=series.index)
    items = series.tolist()
    texts = [(i, _clean_text(v)) for i, v in enumerate(items) if isinstance(v, str)]
    convention = _decimal_convention(texts)
    out = np.full(len(series), np.nan)
    bad = np.zeros(len(series), dtype=bool)
    for i, value in enumerate(items):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
            out[i] = float(value)
            continue
        text = _to_plain(_clean_text(str(value)), convention)
        if text == "" or text.lower() in {"na", "nan", "n/a", "-", "."}:
            continue
        if _NUM_RE.match(text):
            out[i] = float(text)
        elif text.lower() in {"inf", "+inf", "-inf", "infinity", "-infinity"}:
            out[i] = float(text.lower().replace("inity", ""))
        else:
            bad[i] = True
    return pd.Series(out, index=series.index), pd.Series(bad, index=series.index)


def _parse_include(values: pd.Series) -> pd.Series:
    """Read an include column: booleans, 0/1, yes/no, true/false; blank means yes."""
    def one(v: object) -> bool:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return True
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return bool(v)
        return str(v).strip().lower() not in {"0", "false", "no", "n", "f", "exclude", "excluded"}
    return pd.Series([one(v) for v in values.tolist()], index=values.index, dtype=bool)


@dataclass(frozen=True)
class StudyTable:
    """A study table in canonical columns.

    Attributes
    ----------
    data
        Canonical columns; numbers as float (NaN when missing or unreadable),
        ``study`` as text, ``include`` as bool, plus a 1-based ``row`` column.
    mapping
        ``{original column: canonical name}`` that was applied.
    problems
        ``{row number: [reason, ...]}`` for cells that could not be read.
    moderators
        Names of extra numeric columns (kept for meta-regression).
    """

    data: pd.DataFrame
    mapping: dict[object, str]
    problems: dict[int, list[str]] = field(default_factory=dict)
    moderators: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """Data kinds the table supports, in order of preference."""
        return detect_kinds(self.data)

    def label(self, position: int) -> str:
        """Human label of a row: ``'row 3 (Aronson 1948)'``."""
        row = self.data.iloc[position]
        return f"row {int(row['row'])} ({row['study']})"


def detect_kinds(data: pd.DataFrame) -> tuple[str, ...]:
    """Data kinds whose columns are all present, most specific first.

    >>> detect_kinds(pd.DataFrame(columns=["yi", "vi"]))
    ('generic',)
    """
    cols = set(data.columns)
    kinds = [k for k in ("binary", "continuous", "two_rates", "proportion", "rate",
                         "correlation", "mean") if set(KIND_COLUMNS[k]) <= cols]
    if "yi" in cols and ({"sei"} <= cols or {"vi"} <= cols or {"ci_low", "ci_high"} <= cols):
        kinds.append("generic")
    return tuple(kinds)


def standardize(table: pd.DataFrame | StudyTable,
                mapping: Mapping[object, str | None] | None = None) -> StudyTable:
    """Bring a study table to canonical columns and numbers.

    Parameters
    ----------
    table
        Any DataFrame of studies, one per row, with canonical or alias names.
    mapping
        Optional hand corrections ``{original column: canonical name or None}``.

    Returns
    -------
    StudyTable
        Cells that cannot be read as numbers become NaN and are listed in
        ``problems`` with the row and column, so the row is later excluded
        with that reason instead of silently dropped.

    Raises
    ------
    DataError
        If ``table`` is not a table or no column is recognised.

    Examples
    --------
    >>> st = standardize(pd.DataFrame({"ai": [4], "n1i": [123], "ci": [11], "n2i": [139]}))
    >>> st.kinds
    ('binary',)
    """
    if isinstance(table, StudyTable):
        return table
    if not isinstance(table, pd.DataFrame):
        raise DataError("The study table must be a table (pandas DataFrame) with one row "
                        "per study.")
    colmap = _prefer_named_studies(table, map_columns(list(table.columns), mapping), mapping)
    if not colmap:
        shown = [str(c) for c in table.columns[:40]]
        more = len(table.columns) - len(shown)
        names = (", ".join(shown) or "none") + (f", … and {more} more" if more > 0 else "")
        raise DataError(
            "No study columns were recognised (columns found: " + names + "). Map them on the "
            "Data page (Column mapping), or name them, e.g., "
            "events_t, n_t, events_c, n_c for 2x2 tables; mean_t, sd_t, n_t, mean_c, sd_c, n_c "
            "for means; events and n for proportions; events and time for rates; r and n for "
            "correlations; mean, sd and n for one group's means; or yi with sei or vi for "
            "ready effect sizes.")
    n = len(table)
    # Columns are gathered first and the frame is built once: inserting them one by one
    # into a DataFrame costs more than the rest of the work for a table of 20 studies.
    data: dict[str, object] = {"row": np.arange(1, n + 1)}
    problems: dict[int, list[str]] = {}
    src = table.reset_index(drop=True)
    for original, canon in colmap.items():
        column = src[original]
        if isinstance(column, pd.DataFrame):  # duplicated header: take the first copy
            column = column.iloc[:, 0]
        if canon == "study":
            data["study"] = [as_label(v) or "" for v in column.tolist()]
        elif canon == "include":
            data["include"] = _parse_include(column).to_numpy(bool)
        elif canon == "subgroup":
            data["subgroup"] = [as_label(v) for v in column.tolist()]
        else:
            try:
                nums, bad = parse_numbers(column)
            except DataError as err:
                raise DataError(f"Column {original} {err}") from None
            data[canon] = nums.to_numpy()
            for i in np.flatnonzero(bad.to_numpy()):
                named = str(original) if str(original) == canon else f"{original} ({canon})"
                problems.setdefault(i + 1, []).append(
                    f"{named} is '{str(column.iloc[i]).strip()}', which is not a number")
    if "study" not in data:
        data["study"] = [f"Study {i}" for i in range(1, n + 1)]
    else:
        data["study"] = [s if s else f"Study {i}" for i, s in enumerate(data["study"], start=1)]
    if "include" not in data:
        data["include"] = np.ones(n, dtype=bool)
    if "oe" in data and "yi" not in data:   # RevMan's O - E and variance: yi = (O - E) / V
        data["yi"] = np.full(n, np.nan)
    # Counts given as events and non-events (metafor's bi, di) become arm totals.
    for ev, non, tot in (("events_t", "nonevents_t", "n_t"), ("events_c", "nonevents_c", "n_c"),
                         ("events", "nonevents", "n")):
        if non in data and ev in data and tot not in data:
            data[tot] = data[ev] + data[non]
    # Extra columns travel with their rows under their own names (numbers as float, text
    # as text) for subgroups and moderators.
    moderators = []
    for col in src.columns:
        if col in colmap or not isinstance(col, str) or col in data:
            continue
        column = src[col]
        if isinstance(column, pd.DataFrame):
            continue
        try:
            nums, bad = parse_numbers(column)
        except DataError:
            nums, bad = None, None
        if nums is not None and nums.notna().any() and not bad.any():
            data[col] = nums.to_numpy()
            moderators.append(col)
        else:
            data[col] = [as_label(v) for v in column.tolist()]
    data = pd.DataFrame(data, index=pd.RangeIndex(n))
    return StudyTable(data=data, mapping=colmap, problems=problems, moderators=tuple(moderators))


def _label_of(name: str) -> str:
    """The measure a ratio column's name speaks of: ``"log_hr"`` -> ``"HR"``."""
    for key, label in (("hazard", "HR"), ("hr", "HR"), ("odds", "OR"), ("or", "OR"),
                       ("irr", "IRR"), ("rate", "IRR"), ("risk", "RR"), ("relative", "RR"),
                       ("rr", "RR")):
        if key in name.split("_") or name.endswith(key) and key in ("hr", "or", "rr", "irr"):
            return label
    return "RATIO"


def generic_scale(table: StudyTable) -> tuple[str, str, str]:
    """How a table of ready effects is given: ``(scale, label, why)``.

    ``scale`` is ``"ratio"`` for ratios on their natural scale (analysed as logs),
    ``"log"`` for log ratios and ``"linear"`` otherwise; ``label`` names the measure
    (``"HR"``, ``"OR"``, ``"RR"``, ``"IRR"``, ``"RATIO"`` or ``""``). A column named as a
    ratio counts as one when every estimate is positive; a column with any other name
    counts when every estimate and bound is positive and the intervals are symmetric
    on the log scale rather than the linear one (as a ratio's Wald interval is).

    >>> t = standardize(pd.DataFrame({"HR": [0.8, 1.3], "lower": [0.6, 0.9],
    ...                               "upper": [1.07, 1.88]}))
    >>> generic_scale(t)[:2]
    ('ratio', 'HR')
    """
    data = table.data
    if "yi" not in data:
        return "linear", "", ""
    source = next((normalize_name(o) for o, c in table.mapping.items() if c == "yi"), "")
    if "oe" in data and data["oe"].notna().any():
        return "log", "HR", "O − E and variance give log hazard ratios"
    if source in _LOG_NAMES:
        label = _label_of(source[3:] if source.startswith("log") else source)
        return "log", label, f"column '{source}' holds log ratios"
    y = data["yi"].to_numpy(float)
    y = y[np.isfinite(y)]
    positive = y.size > 0 and bool((y > 0).all())
    lo = data["ci_low"].to_numpy(float) if "ci_low" in data else np.full(len(data), np.nan)
    hi = data["ci_high"].to_numpy(float) if "ci_high" in data else np.full(len(data), np.nan)
    yy = data["yi"].to_numpy(float)
    ok = np.isfinite(yy) & np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (yy > 0)
    log_symmetric = False
    if ok.sum() >= 1 and positive and bool(((lo[np.isfinite(lo)]) > 0).all()):
        with np.errstate(divide="ignore", invalid="ignore"):
            lin = np.abs((hi[ok] - yy[ok]) - (yy[ok] - lo[ok])) / (hi[ok] - lo[ok])
            lg = np.abs(np.log(hi[ok] / yy[ok]) - np.log(yy[ok] / lo[ok])) / np.log(hi[ok] / lo[ok])
        log_symmetric = bool(np.nanmedian(lg) < np.nanmedian(lin)) and \
            bool(np.nanmedian(lin) > 0.02)
    if source in _RATIO_NAMES:
        if positive:
            return "ratio", _label_of(source), f"column '{source}' holds positive ratios"
        return "linear", "", (f"column '{source}' is named as a ratio but has estimates ≤ 0, "
                              "so it is analysed as given")
    if log_symmetric:
        return "ratio", "RATIO", ("every estimate and bound is positive and the intervals are "
                                  "symmetric on the log scale, as a ratio's are")
    return "linear", "", ""
