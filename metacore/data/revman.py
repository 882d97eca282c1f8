"""RevMan files, read safely: RevMan 5 review files (``.rm5``, XML) and the Cochrane
"data package" (a zip of CSV files).

This module only *reads*: it turns a file into plain, checked records (studies,
comparisons, outcomes with their data rows, RevMan's own stored totals, risk-of-bias
items). :func:`metacore.read_revman` (in :mod:`metacore.review.model`) builds the
review from them; the layering keeps ``data`` below ``review``.

Everything read here is untrusted. XML is parsed by defusedxml with document types,
entity declarations and external references refused (a "billion laughs" file or one that
points at ``file:///etc/passwd`` is turned away before any expansion); sizes are checked
before parsing (:data:`LIMITS`); a zip's directory is checked (member count, declared
sizes, compression ratio) before anything is extracted, and each member is read no
further than it declared. Every refusal is a :class:`RevManError` (a ``ValueError``)
naming the problem.

RevMan 5 conventions kept here (RevMan 5 User Guide; the Cochrane Handbook 5.1, 9.4):
``DICH_DATA`` rows hold events and totals (``EVENTS_1 TOTAL_1 EVENTS_2 TOTAL_2``, arm 1
= experimental), ``CONT_DATA`` means, SDs and totals, ``IV_DATA`` an estimate and its
standard error (when the outcome says ``LOG_DATA="YES"`` the data were entered as logs:
the row's ``EFFECT_SIZE`` is then the ratio as displayed and ``SE`` the standard error of
its log, as for ``DICH_DATA`` — the reading of meta's ``read.rm5``/``metacr``, which
take the log of ``EFFECT_SIZE`` for such outcomes), and
``IPD_DATA`` the "O − E and variance" statistics (``O_E``, ``VAR``). Outcome attributes
``METHOD`` (MH, IV, PETO), ``RANDOM`` (YES/NO), ``EFFECT_MEASURE``, ``CI_STUDY`` and
``CI_TOTAL`` (percent) give the analysis; ``EFFECT_SIZE CI_START CI_END Z I2 TAU2 CHI2
DF P_Z P_CHI2`` are RevMan's own totals (natural scale for ratios).
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from metacore._extras import need
from metacore.data.io import MAX_ROWS
from metacore.errors import DataError

__all__ = ["LIMITS", "RevManError", "RevManFile", "RevManItem", "RevManOutcome", "RevManStudy",
           "parse_data_package", "parse_revman", "read_bytes"]

#: Caps for an uploaded review. The largest Cochrane reviews have a few hundred analyses
#: and a few thousand data rows; a file far beyond that is refused, not parsed.
LIMITS = {
    "bytes": 50 * 2**20,          # the file as uploaded
    "outcomes": 2_000,            # analyses in the whole review
    "rows": MAX_ROWS,             # data rows in the whole review (as io.py's tables)
    "studies": 10_000,
    "members": 200,               # files in a data package
    "uncompressed": 200 * 2**20,  # a data package's declared total
    "ratio": 100,                 # uncompressed / compressed, per member and in total
}

_TYPES = ("DICH", "CONT", "IV", "IPD")
_NUMBERS = ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2", "MEAN_1", "SD_1", "MEAN_2", "SD_2",
            "O_E", "VAR", "EFFECT_SIZE", "SE", "CI_START", "CI_END", "WEIGHT")
#: RevMan's totals kept beside ours, under our names.
STORED = {"EFFECT_SIZE": "estimate", "CI_START": "ci_low", "CI_END": "ci_high", "Z": "z",
          "P_Z": "pvalue", "I2": "i2", "TAU2": "tau2", "CHI2": "q", "DF": "q_df",
          "P_CHI2": "q_pvalue"}


class RevManError(DataError):
    """A RevMan file that cannot be read: damaged, foreign, hostile or too large."""


@dataclass(frozen=True)
class RevManStudy:
    """An included study as the file lists it."""

    id: str
    name: str
    year: str = ""


@dataclass(frozen=True)
class RevManOutcome:
    """One analysis (RevMan's "outcome") with its rows and settings as stored.

    ``rows`` are dicts: ``study_id``, ``subgroup`` (a name, or ``""``) and the row's
    numbers under RevMan's attribute names (missing ones absent); a data package's
    generic estimate is ``GIV_MEAN`` (on the log scale for ratios, as the package states).
    """

    comparison_id: str
    comparison_no: str
    comparison_name: str
    id: str
    no: str
    name: str
    type: str
    method: str
    random: bool
    measure: str
    log_data: bool
    ci_study: float
    ci_total: float
    group_labels: tuple[str, str]
    graph_labels: tuple[str, str]
    subgroups: tuple[str, ...]
    rows: tuple[dict, ...]
    stored: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RevManItem:
    """A risk-of-bias item (RevMan 5's QUALITY_ITEM) with one entry per study:
    ``(study_id, result, support, group_id)``; result ``YES`` is low risk, ``NO`` high,
    ``UNKNOWN`` unclear."""

    id: str
    name: str
    level: str
    entries: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True)
class RevManFile:
    """What a RevMan file holds, checked."""

    title: str
    studies: tuple[RevManStudy, ...]
    outcomes: tuple[RevManOutcome, ...]
    items: tuple[RevManItem, ...] = ()
    source: str = "rm5"


def read_bytes(path_or_bytes: bytes | bytearray | str | os.PathLike, what: str) -> bytes:
    """The bytes of an upload or a file, refusing a file over :data:`LIMITS` first."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = Path(path_or_bytes)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise RevManError(f"The {what} '{path.name}' could not be opened ({err.strerror}).") \
                from None
        if size > LIMITS["bytes"]:
            raise RevManError(f"The {what} is {size / 2**20:,.0f} MB; at most "
                              f"{LIMITS['bytes'] // 2**20} MB is accepted.")
        data = path.read_bytes()
    else:
        raise RevManError(f"A {what} must be given as bytes or a file path.")
    if len(data) > LIMITS["bytes"]:
        raise RevManError(f"The {what} is {len(data) / 2**20:,.0f} MB; at most "
                          f"{LIMITS['bytes'] // 2**20} MB is accepted.")
    if not data.strip():
        raise RevManError(f"The {what} is empty.")
    return data


def _text(node) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _number(value: str | None, what: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        x = float(value)
    except ValueError:
        raise RevManError(f"{what} is '{value[:40]}', which is not a number.") from None
    return x if math.isfinite(x) else None


def _percent(value: str | None, what: str) -> float:
    x = _number(value, what)
    if x is None:
        return 0.95
    if not 50 <= x < 100:
        raise RevManError(f"{what} is {x:g}%; a confidence level between 50% and 100% is "
                          "needed.")
    return x / 100


def _parse_xml(data: bytes):
    # defusedxml comes with the [review] extra: the engine alone needs numpy, scipy, pandas
    defused = need("defusedxml", "Reading RevMan files")
    from defusedxml import ElementTree as SafeET

    DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden = (
        defused.DTDForbidden, defused.EntitiesForbidden, defused.ExternalReferenceForbidden)
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DTDForbidden:
        raise RevManError("The file declares a document type (DTD); RevMan 5 files do not, "
                          "and such declarations can hide entity bombs, so it was not "
                          "read.") from None
    except EntitiesForbidden:
        raise RevManError("The file declares XML entities (possibly an 'entity expansion' "
                          "bomb), so it was not read.") from None
    except ExternalReferenceForbidden:
        raise RevManError("The file refers to external resources (external entities), so it "
                          "was not read.") from None
    except SafeET.ParseError as err:
        line = getattr(err, "position", (None,))[0]
        where = f" near line {line}" if line else ""
        raise RevManError(f"The file is not complete, well-formed XML{where} (is it truncated "
                          "or damaged? Export it again from RevMan).") from None


def _outcome(node, kind: str, comparison: tuple[str, str, str], studies: set[str],
             budget: list[int]) -> RevManOutcome:
    attrs = node.attrib
    where = f"Outcome '{_text(node.find('NAME'))[:60] or attrs.get('NO', '?')}'"
    method = attrs.get("METHOD", "PETO" if kind == "IPD" else "IV").upper()
    if method not in ("MH", "IV", "PETO"):
        raise RevManError(f"{where} uses the statistical method '{method[:20]}'; RevMan 5 "
                          "methods are MH, IV and PETO.")
    measure = attrs.get("EFFECT_MEASURE") or _text(node.find("EFFECT_MEASURE"))
    if kind == "IPD" and not measure:
        measure = "PETO_OR"
    subgroup_nodes = node.findall(f"{kind}_SUBGROUP")
    rows: list[dict] = []
    names: list[str] = []

    def take(parent, subgroup: str) -> None:
        for r in parent.findall(f"{kind}_DATA"):
            sid = r.attrib.get("STUDY_ID", "")
            if sid not in studies:
                raise RevManError(f"{where} has a data row for study '{sid[:60]}', which is "
                                  "not among the included studies.")
            row = {"study_id": sid, "subgroup": subgroup}
            for key in _NUMBERS:
                x = _number(r.attrib.get(key), f"{where}, study '{sid[:40]}', {key}")
                if x is not None:
                    row[key] = x
            rows.append(row)
            budget[0] += 1
            if budget[0] > LIMITS["rows"]:
                raise RevManError(f"The file holds more than {LIMITS['rows']:,} data rows; "
                                  "that is beyond any review, so it was not read.")

    if subgroup_nodes:
        for sg in subgroup_nodes:
            name = _text(sg.find("NAME")) or f"Subgroup {sg.attrib.get('NO', len(names) + 1)}"
            names.append(name)
            take(sg, name)
    take(node, "")
    stored = {}
    for key, ours in STORED.items():
        x = _number(attrs.get(key), f"{where}, {key}")
        if x is not None:
            stored[ours] = x
    return RevManOutcome(
        comparison_id=comparison[0], comparison_no=comparison[1], comparison_name=comparison[2],
        id=attrs.get("ID", ""), no=attrs.get("NO", ""), name=_text(node.find("NAME")),
        type=kind, method=method, random=attrs.get("RANDOM", "NO").upper() == "YES",
        measure=measure, log_data=attrs.get("LOG_DATA", "NO").upper() == "YES",
        ci_study=_percent(attrs.get("CI_STUDY"), f"{where}: CI_STUDY"),
        ci_total=_percent(attrs.get("CI_TOTAL"), f"{where}: CI_TOTAL"),
        group_labels=(_text(node.find("GROUP_LABEL_1")), _text(node.find("GROUP_LABEL_2"))),
        graph_labels=(_text(node.find("GRAPH_LABEL_1")), _text(node.find("GRAPH_LABEL_2"))),
        subgroups=tuple(names), rows=tuple(rows), stored=stored)


def parse_revman(path_or_bytes: bytes | str | os.PathLike) -> RevManFile:
    """Read a RevMan 5 review file (``.rm5``) into checked records.

    Raises
    ------
    RevManError
        A file that is too large, not XML, truncated, hostile (document types, entities,
        external references), not a RevMan 5 review, or with far too many outcomes.

    Examples
    --------
    >>> rm5 = b'''<COCHRANE_REVIEW><COVER_SHEET><TITLE>T</TITLE></COVER_SHEET>
    ... <STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
    ... <STUDY ID="STD-A" NAME="A 2001" YEAR="2001"/></INCLUDED_STUDIES></STUDIES>
    ... </STUDIES_AND_REFERENCES><ANALYSES_AND_DATA><COMPARISON ID="CMP-001" NO="1">
    ... <NAME>X vs Y</NAME><DICH_OUTCOME ID="CMP-001.01" NO="1" METHOD="MH" RANDOM="NO"
    ... EFFECT_MEASURE="RR"><NAME>Death</NAME><DICH_DATA STUDY_ID="STD-A" EVENTS_1="3"
    ... TOTAL_1="50" EVENTS_2="6" TOTAL_2="50"/></DICH_OUTCOME></COMPARISON>
    ... </ANALYSES_AND_DATA></COCHRANE_REVIEW>'''
    >>> f = parse_revman(rm5)
    >>> f.title, f.outcomes[0].name, f.outcomes[0].rows[0]["EVENTS_2"]
    ('T', 'Death', 6.0)
    """
    data = read_bytes(path_or_bytes, "RevMan file")
    head = data[:2048].lstrip().lower()
    if head.startswith(b"pk"):
        raise RevManError("This is a zip archive, not a RevMan 5 file: a Cochrane data "
                          "package is read with parse_data_package.")
    if b"<html" in head or b"<!doctype html" in head:
        raise RevManError("This is a web page (HTML), not a RevMan 5 review file (.rm5). "
                          "Save the review from RevMan with File > Save As.")
    root = _parse_xml(data)
    if root.tag != "COCHRANE_REVIEW":
        raise RevManError(f"This XML file is not a RevMan 5 review: its top element is "
                          f"<{str(root.tag)[:40]}>, not <COCHRANE_REVIEW>.")
    if root.attrib.get("TYPE", "INTERVENTION").upper() not in ("INTERVENTION", ""):
        raise RevManError(f"This is a RevMan {root.attrib['TYPE'].lower()[:30]} review; only "
                          "intervention reviews hold comparisons of two groups.")
    title = _text(root.find("COVER_SHEET/TITLE")) or _text(root.find(".//TITLE")) or \
        "Untitled review"
    studies = []
    for s in root.iterfind(".//INCLUDED_STUDIES/STUDY"):
        sid = s.attrib.get("ID", "")
        if not sid:
            raise RevManError("An included study has no ID, so its data cannot be linked.")
        studies.append(RevManStudy(sid, s.attrib.get("NAME", sid), s.attrib.get("YEAR", "")))
        if len(studies) > LIMITS["studies"]:
            raise RevManError(f"The file lists more than {LIMITS['studies']:,} studies.")
    ids = [s.id for s in studies]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RevManError(f"Study ID '{dup[:60]}' is listed twice among the included studies.")
    known = set(ids)
    n_outcomes = sum(1 for _ in root.iterfind(".//ANALYSES_AND_DATA/COMPARISON/*"))
    if n_outcomes > LIMITS["outcomes"]:
        raise RevManError(f"The file holds {n_outcomes:,} analyses; at most "
                          f"{LIMITS['outcomes']:,} are read (the largest reviews have a few "
                          "hundred).")
    outcomes = []
    budget = [0]
    for comp in root.iterfind(".//ANALYSES_AND_DATA/COMPARISON"):
        key = (comp.attrib.get("ID", ""), comp.attrib.get("NO", ""), _text(comp.find("NAME")))
        for child in comp:
            kind = str(child.tag).removesuffix("_OUTCOME")
            if child.tag.endswith("_OUTCOME") and kind in _TYPES:
                outcomes.append(_outcome(child, kind, key, known, budget))
    items = []
    for q in root.iterfind(".//QUALITY_ITEMS/QUALITY_ITEM"):
        entries = tuple(
            (e.attrib.get("STUDY_ID", ""), e.attrib.get("RESULT", "UNKNOWN").upper(),
             _text(e.find("DESCRIPTION")), e.attrib.get("GROUP_ID", ""))
            for e in q.iterfind("QUALITY_ITEM_DATA/QUALITY_ITEM_DATA_ENTRY"))
        items.append(RevManItem(q.attrib.get("ID", ""), _text(q.find("NAME")),
                                q.attrib.get("LEVEL", "STUDY"), entries))
    return RevManFile(title=title, studies=tuple(studies), outcomes=tuple(outcomes),
                      items=tuple(items))


# --- the Cochrane data package ---------------------------------------------------------

#: Which CSV of a data package is which (matched in the member's file name).
PACKAGE_FILES = {"data rows": "rows", "overall estimates": "overall",
                 "subgroup estimates": "subgroups", "risk of bias": "rob"}
_ROW_COLUMNS = {"Experimental cases": "EVENTS_1", "Experimental N": "TOTAL_1",
                "Control cases": "EVENTS_2", "Control N": "TOTAL_2",
                "Experimental mean": "MEAN_1", "Experimental SD": "SD_1",
                "Control mean": "MEAN_2", "Control SD": "SD_2", "O-E": "O_E",
                "Variance": "VAR", "GIV Mean": "GIV_MEAN", "GIV SE": "SE",
                "Weight": "WEIGHT"}
_OVERALL = {"Mean": "estimate", "CI start": "ci_low", "CI end": "ci_high",
            "Heterogeneity Tau²": "tau2", "Heterogeneity Chi²": "q", "Heterogeneity df": "q_df",
            "Heterogeneity P": "q_pvalue", "Heterogeneity I²": "i2", "Effect Z": "z",
            "Effect P": "pvalue"}
_DATA_TYPES = {"dichotomous": "DICH", "continuous": "CONT", "generic inverse variance": "IV",
               "o-e and variance": "IPD", "o-e": "IPD"}
_METHODS = {"mantel-haenszel": "MH", "inverse variance": "IV", "peto": "PETO", "mh": "MH",
            "iv": "IV"}
_MEASURES = {"risk ratio": "RR", "odds ratio": "OR", "risk difference": "RD",
             "peto odds ratio": "PETO_OR", "mean difference": "MD",
             "std. mean difference": "SMD", "standardised mean difference": "SMD",
             "standardized mean difference": "SMD", "hazard ratio": "Hazard Ratio"}


def _check_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise RevManError(f"The data package is not a valid zip archive ({err}).") from None
    if len(infos) > LIMITS["members"]:
        raise RevManError(f"The data package holds {len(infos):,} files; a review's package "
                          f"has a handful (at most {LIMITS['members']} are accepted).")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > LIMITS["uncompressed"]:
        raise RevManError(f"The data package would unpack to {total / 2**20:,.0f} MB; at most "
                          f"{LIMITS['uncompressed'] // 2**20} MB is accepted.")
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > 2**20),
                default=0.0)
    if worst > LIMITS["ratio"] or (packed and total > 2**20 and total / packed > LIMITS["ratio"]):
        raise RevManError("The data package is compressed implausibly well for tables of "
                          "numbers (a 'zip bomb'), so it was not unpacked.")
    return archive


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[dict]:
    # Read no further than the size the directory declared: a lying header cannot make
    # the member unpack beyond what was checked.
    with archive.open(info) as fh:
        raw = fh.read(info.file_size + 1)
    if len(raw) > info.file_size:
        raise RevManError(f"'{info.filename[:60]}' in the data package unpacks beyond its "
                          "declared size, so the package was not read.")
    text = raw.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for i, row in enumerate(reader, start=1):
        if i > LIMITS["rows"]:
            raise RevManError(f"'{info.filename[:60]}' has more than {LIMITS['rows']:,} rows.")
        rows.append({str(k).strip(): (v or "").strip() for k, v in row.items() if k})
    return rows


def _key(row: dict) -> tuple[str, str]:
    return row.get("Analysis group", ""), row.get("Analysis number", "")


def parse_data_package(path_or_bytes: bytes | str | os.PathLike) -> RevManFile:
    """Read a Cochrane "data package" (zip of CSV files, RevMan Web's version 1 format):
    the data rows, the overall estimates and settings, and where present the risk of bias.

    Files are recognised by name (``… data rows.csv``, ``… overall estimates and
    settings.csv``, ``… risk of bias.csv``); columns by RevMan Web's headings
    ("Analysis group", "Analysis number", "Study", "Experimental cases", …).

    Raises
    ------
    RevManError
        Not a zip, a zip bomb (checked on the directory before extraction), no data rows, or
        rows that do not fit the analyses they name.
    """
    data = read_bytes(path_or_bytes, "data package")
    archive = _check_zip(data)
    parts: dict[str, list[dict]] = {}
    for info in archive.infolist():
        name = info.filename.lower()
        if info.is_dir() or not name.endswith(".csv"):
            continue
        for words, part in PACKAGE_FILES.items():
            if words in name:
                parts.setdefault(part, []).extend(_read_member(archive, info))
    if "rows" not in parts:
        raise RevManError("The zip holds no '… data rows.csv' file, so it is not a Cochrane "
                          "data package (or not one with analyses).")
    settings = {_key(r): r for r in parts.get("overall", [])}
    studies: dict[str, RevManStudy] = {}
    grouped: dict[tuple[str, str], list[dict]] = {}
    for i, r in enumerate(parts["rows"], start=1):
        name = r.get("Study", "")
        if not name:
            raise RevManError(f"Data row {i} of the package names no study.")
        sid = r.get("Study ID") or name
        studies.setdefault(sid, RevManStudy(sid, name, r.get("Study year", "")))
        row = {"study_id": sid, "subgroup": r.get("Subgroup", "")}
        for col, key in _ROW_COLUMNS.items():
            x = _number(r.get(col), f"Data row {i} ({name[:40]}), {col}")
            if x is not None:
                row[key] = x
        grouped.setdefault(_key(r), []).append((r, row))
    outcomes = []
    for key, pairs in grouped.items():
        first = pairs[0][0]
        s = settings.get(key, {})
        kind = _DATA_TYPES.get(s.get("Data type", first.get("Data type", "")).lower())
        if kind is None:
            kind = "DICH" if any("EVENTS_1" in r for _, r in pairs) else \
                "CONT" if any("MEAN_1" in r for _, r in pairs) else "IV"
        stored = {}
        for col, ours in _OVERALL.items():
            x = _number(s.get(col), f"Overall estimates of analysis {key[0]}.{key[1]}, {col}")
            if x is not None:
                stored[ours] = x
        measure = s.get("Effect measure", "")
        subgroups = tuple(dict.fromkeys(r["subgroup"] for _, r in pairs if r["subgroup"]))
        outcomes.append(RevManOutcome(
            comparison_id=key[0], comparison_no=key[0],
            comparison_name=s.get("Analysis group name", first.get("Analysis group name", "")),
            id=s.get("Analysis ID", f"{key[0]}.{key[1]}"), no=key[1],
            name=s.get("Analysis name", first.get("Analysis name", f"Analysis {key[1]}")),
            type=kind,
            method=_METHODS.get(s.get("Statistical method", "").lower(), "IV"),
            random=s.get("Analysis model", "").lower().startswith("random"),
            measure=_MEASURES.get(measure.lower(), measure),
            log_data=s.get("Log-scale data", "").upper() == "TRUE",
            ci_study=_percent(s.get("Study CI", "").rstrip("%") or None, "Study CI"),
            ci_total=_percent(s.get("Estimate CI", "").rstrip("%") or None, "Estimate CI"),
            group_labels=(s.get("Experimental group label", ""),
                          s.get("Control group label", "")),
            graph_labels=(s.get("Experimental group label", ""),
                          s.get("Control group label", "")),
            subgroups=subgroups, rows=tuple(r for _, r in pairs), stored=stored))
    return RevManFile(title="Cochrane data package", studies=tuple(studies.values()),
                      outcomes=tuple(outcomes), source="data package")
