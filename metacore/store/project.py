"""An analysis as one JSON document: the table as edited, the column mapping and every
setting. The project file a user downloads and the record the database keeps are the
same document; reading one checks every part, so a corrupt or foreign file is refused
with the reason and nothing half-applied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from metacore.data.io import MAX_COLUMNS, MAX_ROWS
from metacore.errors import DataError

__all__ = ["FORMAT", "MAX_BYTES", "SETTINGS", "Project", "from_json", "table_from_json",
           "table_to_json", "to_json"]

FORMAT = "metacore-project"
VERSION = 1
#: Largest project document accepted (a 50,000-row table of ten numbers is ~8 MB).
MAX_BYTES = 32 * 1024 * 1024
MAX_TEXT = 10_000
MAX_NAME = 120

_MEASURES = ("OR", "RR", "RD", "AS", "PETO", "MD", "SMD", "SMDH", "ROM", "GEN")
_LABELS = ("auto", "", "HR", "OR", "RR", "IRR", "RATIO", "MD", "SMD", "RD")


def _choice(*options):
    def check(v):
        if v not in options:
            raise ValueError(f"must be one of {', '.join(map(str, options))}")
        return v
    return check


def _number(lo: float, hi: float):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise ValueError(f"must be a number from {lo:g} to {hi:g}")
        return float(v)
    return check


def _flag(v):
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _text(limit: int):
    def check(v):
        if not isinstance(v, str) or len(v) > limit:
            raise ValueError(f"must be text of at most {limit} characters")
        return v
    return check


def _rows(v):
    if not isinstance(v, list) or len(v) > MAX_ROWS or not all(
            isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= MAX_ROWS for r in v):
        raise ValueError("must be a list of row numbers")
    return v


#: Every setting a project may carry, with its check. Unknown settings are refused.
SETTINGS = {
    "measure": _choice(*_MEASURES), "model": _choice("random", "common", "MH", "PETO"),
    "tau2_method": _choice("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"),
    "ci_method": _choice("z", "hksj", "hksj-adhoc", "hksj-se", "hksj-ci", "hksj-iqwig6"),
    "level": _choice(0.8, 0.9, 0.95, 0.99),
    "cc": _number(0.0, 1.0), "cc_to": _choice("only0", "all", "if0all", "none"),
    "drop00": _flag, "show_pi": _flag, "direction": _choice("undesirable", "desirable"),
    "gen_scale": _choice("auto", "linear", "ratio", "log"), "gen_label": _choice(*_LABELS),
    "leave_out": _rows, "forest_sort": _choice("input", "estimate", "weight"),
    "show_both": _flag, "forest_style": _choice("journal", "colour"),
    "forest_font": _choice("sans", "serif"), "arm_t": _text(40), "arm_c": _text(40),
    "fav_left": _text(40), "fav_right": _text(40), "sof_outcome": _text(80),
    "sof_certainty": _choice("not rated", "high", "moderate", "low", "very low"),
    "sof_units": _text(30), "sof_comments": _text(300), "report_title": _text(150),
}
#: Settings saved under an earlier name: old name -> name now.
_RENAMED = {"outcome": "direction"}
_CANONICAL = ("study", "events_t", "n_t", "events_c", "n_c", "nonevents_t", "nonevents_c",
              "mean_t", "sd_t", "mean_c", "sd_c", "yi", "sei", "vi", "ci_low", "ci_high",
              "include", "subgroup", "oe")


@dataclass(frozen=True)
class Project:
    """An analysis: the table as edited, the hand mapping, the settings and a name."""

    table: pd.DataFrame
    settings: dict = field(default_factory=dict)
    mapping: dict = field(default_factory=dict)
    name: str = "Untitled analysis"
    source: str = ""
    example: str | None = None


def _cell(v):
    """A table cell as JSON: numbers (finite), text, booleans, or null."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if hasattr(v, "item"):      # numpy scalars
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is pd.NA or v is pd.NaT:
        return None
    return str(v)


def table_to_json(frame: pd.DataFrame) -> dict:
    """``{"columns": [...], "data": [[...], ...]}`` with the cells as the editor holds them."""
    return {"columns": [str(c) for c in frame.columns],
            "data": [[_cell(v) for v in row] for row in frame.itertuples(index=False)]}


def table_from_json(doc: object) -> pd.DataFrame:
    """The table of a project document, checked: shape, cell types and sizes."""
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list) \
            or not isinstance(doc.get("data"), list):
        raise DataError("The project's table must have 'columns' and 'data' lists.")
    cols, data = doc["columns"], doc["data"]
    if not cols or len(cols) > MAX_COLUMNS:
        raise DataError(f"The project's table must have 1 to {MAX_COLUMNS} columns.")
    if len(data) > MAX_ROWS:
        raise DataError(f"The project's table has {len(data):,} rows; at most {MAX_ROWS:,} "
                        "are accepted, as for uploads.")
    if not all(isinstance(c, str) and 0 < len(c) <= 200 for c in cols) or \
            len(set(cols)) != len(cols):
        raise DataError("The project's column names must be distinct texts of at most 200 "
                        "characters.")
    for i, row in enumerate(data, start=1):
        if not isinstance(row, list) or len(row) != len(cols):
            raise DataError(f"Row {i} of the project's table does not have {len(cols)} cells.")
        for v in row:
            if v is not None and not isinstance(v, (bool, int, float, str)):
                raise DataError(f"Row {i} of the project's table holds a value that is not a "
                                "number, text or true/false.")
            if isinstance(v, str) and len(v) > MAX_TEXT:
                raise DataError(f"Row {i} of the project's table holds a text longer than "
                                f"{MAX_TEXT:,} characters.")
    frame = pd.DataFrame(data, columns=cols)
    for c in frame.columns:     # numbers stay numbers (JSON has no NaN: null comes back)
        values = [v for v in frame[c] if v is not None]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in values):
            frame[c] = pd.to_numeric(frame[c])
        elif values and len(values) == len(frame) and all(isinstance(v, bool) for v in values):
            frame[c] = frame[c].astype(bool)     # tick boxes stay tick boxes
    return frame


def to_json(project: Project) -> str:
    """The project file: one JSON document (format, version, metacore version, name,
    source, table, mapping, settings)."""
    from metacore._version import __version__

    doc = {"format": FORMAT, "version": VERSION, "metacore_version": __version__,
           "name": project.name, "source": project.source, "example": project.example,
           "mapping": [[str(k), v] for k, v in project.mapping.items()],
           "settings": check_settings(project.settings),
           "table": table_to_json(project.table)}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def check_settings(settings: Mapping) -> dict:
    """The settings, each checked; unknown names or bad values raise DataError."""
    if not isinstance(settings, Mapping):
        raise DataError("The project's settings must be a JSON object.")
    out = {}
    for key, value in settings.items():
        # saved before the review's outcome picker took the key "outcome": the outcome's
        # direction was kept under it
        key = _RENAMED.get(key, key)
        check = SETTINGS.get(key)
        if check is None:
            raise DataError(f"The project has an unknown setting '{str(key)[:40]}'.")
        try:
            out[key] = check(value)
        except ValueError as err:
            raise DataError(f"The project's setting '{key}' {err} (it is "
                            f"{str(value)[:40]!r}).") from None
    return out


def from_json(text: str | bytes) -> Project:
    """Read a project file, checking every part; raises DataError with the reason.

    >>> import metacore as mc
    >>> p = Project(mc.datasets.load("bcg"), {"measure": "OR"}, name="BCG")
    >>> q = from_json(to_json(p))
    >>> q.name, q.settings, q.table.equals(p.table)
    ('BCG', {'measure': 'OR'}, True)
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise DataError(f"The project file is larger than {MAX_BYTES // 2**20} MB.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DataError("The project file is not UTF-8 text (is it a metacore project "
                            "file?).") from None
    if len(text) > MAX_BYTES:
        raise DataError(f"The project file is larger than {MAX_BYTES // 2**20} MB.")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise DataError(f"The project file is not valid JSON ({str(err)[:80]}).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError("This is not a metacore project file (its 'format' is not "
                        f"'{FORMAT}').")
    if doc.get("kind", "analysis") != "analysis":
        # a whole review shares the format; metacore.review_from_json reads it
        raise DataError(f"This project file holds a {str(doc.get('kind'))[:20]!r}, not one "
                        "analysis: open it as a review.")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION or doc["version"] < 1:
        raise DataError(f"This project file has format version {doc.get('version')!r}; this "
                        f"metacore reads version {VERSION}.")
    name = doc.get("name", "Untitled analysis")
    source = doc.get("source", "")
    example = doc.get("example")
    if not isinstance(name, str) or not isinstance(source, str) or len(source) > 300:
        raise DataError("The project's name and source must be texts.")
    from metacore.data import datasets

    if example is not None and example not in datasets.CATALOG:
        raise DataError("The project names an example dataset this metacore does not have.")
    table = table_from_json(doc.get("table"))
    mapping_doc = doc.get("mapping", [])
    if not isinstance(mapping_doc, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and (p[1] is None or p[1] in _CANONICAL) for p in mapping_doc):
        raise DataError("The project's column mapping is malformed.")
    mapping = {k: v for k, v in mapping_doc if k in table.columns}
    return Project(table=table, settings=check_settings(doc.get("settings", {})),
                   mapping=mapping, name=clean_name(name), source=source, example=example)


def clean_name(name: str) -> str:
    """A name fit to list: control characters removed, spaces collapsed, length capped.

    >>> clean_name("  Tuesday\\n review\\x00 ")
    'Tuesday review'
    """
    text = "".join(ch if ch.isprintable() else " " for ch in str(name))
    text = " ".join(text.split())[:MAX_NAME]
    return text or "Untitled analysis"
