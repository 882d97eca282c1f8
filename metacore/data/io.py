"""Reading study tables from uploads and pasted text (CSV, TSV, Excel).

Pure pandas: the app passes the uploaded bytes, so every rule here is tested
without a browser. Numbers are parsed by :func:`metacore.data.table.parse_numbers`
(decimal commas, thousands separators); a column that holds text that is not a
number stays text, so the offending cells can be named row by row later.

Everything read here is untrusted: tables are capped in rows and columns before
pandas sees them, and Excel workbooks are parsed in a limited child process
(:mod:`metacore.data.xlsx`). Notes about the reading (a duplicated header renamed, say)
are kept in ``frame.attrs["notes"]``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

import pandas as pd

from metacore.data import xlsx
from metacore.data.table import parse_numbers
from metacore.errors import DataError

__all__ = ["MAX_COLUMNS", "MAX_ROWS", "excel_sheets", "read_pasted", "read_table",
           "reading_notes", "tidy_columns"]

#: Largest table the reader accepts (the engine is fast far beyond; the editor is not).
MAX_ROWS = xlsx.LIMITS["rows"]
#: Widest table the reader accepts: a study table has a few dozen columns at most.
MAX_COLUMNS = xlsx.LIMITS["columns"]

_SEPARATORS = ("\t", ",", ";", "|")


def _fields(lines: list[str], sep: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(lines, delimiter=sep)]
    except csv.Error:
        return []


def _sniff_separator(text: str) -> str:
    """The separator that splits the first lines into the same number (> 1) of fields.

    Quoted fields are honoured, so a tab inside a quoted label does not make a
    comma-separated file look tab-separated. Ties go to tab, then comma, semicolon, bar.
    """
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    best, best_score = ",", (-1, -1)
    for sep in _SEPARATORS:
        counts = _fields(lines, sep)
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = sep, score
    if best_score[0] < 0 and len(lines) > 0 and re.search(r"\S\s{1,}\S", lines[0]):
        return r"\s+"   # columns separated by spaces
    return best


def _decode(data: bytes, filename: str) -> str:
    """Text of an upload: UTF-16/32 by byte-order mark, else UTF-8, else Latin-1."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text[:4096]:
        raise DataError(f"{filename} does not look like a text table (it contains binary "
                        "data). Upload CSV, TSV or Excel.")
    return text.replace("\x00", "")


def _dedupe_headers(names: list[object]) -> tuple[list[str], list[str]]:
    """Unique column names ("Events", "Events.1", as pandas does) and a note per repeat."""
    seen: dict[str, int] = {}
    out, notes = [], []
    for i, name in enumerate(names):
        text = "" if name is None else str(name).replace("\x00", "").strip()
        text = text or f"column {i + 1}"
        if text in seen:
            seen[text] += 1
            new = f"{text}.{seen[text]}"
            notes.append(f"The column name '{text}' appears more than once; copy "
                         f"{seen[text] + 1} is called '{new}'.")
            text = new
        else:
            seen[text] = 0
        out.append(text)
    return out, notes


# RevMan's second header row names the quantity; the first row names the arm above it.
_ARM_WORDS = {"events": "events", "event": "events", "total": "n", "n": "n", "no": "n",
              "number": "n", "mean": "mean", "sd": "sd", "sds": "sd", "std_dev": "sd"}
_FRACTION = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _two_row_header(raw: pd.DataFrame) -> tuple[list[str], list[str]] | None:
    """Column names from RevMan's two header rows (arm names above Events/Total), if present.

    The first arm named is the treatment (``_t``), the second the control (``_c``).
    """
    if len(raw) < 3:
        return None
    top = [("" if pd.isna(v) else str(v).strip()) for v in raw.iloc[0].tolist()]
    sub = [("" if pd.isna(v) else str(v).strip()) for v in raw.iloc[1].tolist()]
    words = [_ARM_WORDS.get(re.sub(r"[^a-z_]", "", w.lower().replace(".", "")))
             for w in sub]
    if sum(w is not None for w in words) < 2:
        return None
    arms: list[str] = []
    names, group = [], ""
    for i, (t, w) in enumerate(zip(top, words, strict=True)):
        group = t or group          # merged cells: the arm name spans its columns
        if w is None:
            names.append(t or sub[i] or f"column {i + 1}")
            group = "" if t else group
            continue
        if group not in arms:
            arms.append(group)
        if len(arms) > 2:
            return None
        names.append(f"{w}_{'t' if arms.index(group) == 0 else 'c'}")
    if len(arms) != 2:
        return None
    note = (f"Two header rows read as RevMan's: '{arms[0] or 'first arm'}' is the treatment "
            f"arm, '{arms[1] or 'second arm'}' the control arm.")
    return names, [note]


def _split_fractions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Columns of "12/40" cells become events and totals (first such column: treatment)."""
    notes, arms = [], iter(("t", "c"))
    out = {}
    for col in frame.columns:
        column = frame[col]
        texts = [v for v in column.tolist() if isinstance(v, str) and v.strip()]
        if not texts or not all(_FRACTION.match(v) for v in texts):
            out[col] = column
            continue
        arm = next(arms, None)
        ev, tot = (f"events_{arm}", f"n_{arm}") if arm else (f"{col} events", f"{col} total")
        parts = [(_FRACTION.match(v) if isinstance(v, str) else None) for v in column.tolist()]
        out[ev] = [m.group(1) if m else None for m in parts]
        out[tot] = [m.group(2) if m else None for m in parts]
        notes.append(f"Column '{col}' holds events/total cells; read as {ev} and {tot}.")
    return (pd.DataFrame(out) if notes else frame), notes


def tidy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop empty rows and columns; turn columns that are all numbers into numbers.

    >>> tidy_columns(pd.DataFrame({"a": ["1", "2,5"], "b": ["x", None]})).dtypes.tolist()
    [dtype('float64'), dtype('O')]
    """
    notes = list(frame.attrs.get("notes", []))
    frame = frame.dropna(how="all").dropna(axis=1, how="all").reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame, fraction_notes = _split_fractions(frame)
    notes += fraction_notes
    out = {}
    for col in frame.columns:
        column = frame[col]
        if isinstance(column, pd.DataFrame):
            column = column.iloc[:, 0]
        try:
            nums, bad = parse_numbers(column)
        except DataError:  # mixed decimal marks: left as text, named when analysed
            out[col] = column.astype(object).where(column.notna(), None)
            continue
        given = column.notna() & (column.astype(str).str.strip() != "")
        if not bad.any() and nums[given].notna().all() and given.any():
            out[col] = nums
        else:
            out[col] = column.astype(object).where(column.notna(), None)
    tidy = pd.DataFrame(out)
    tidy.attrs["notes"] = notes
    return tidy


def reading_notes(frame: pd.DataFrame) -> list[str]:
    """What the reader noticed and changed (duplicated headers renamed, ...)."""
    return list(frame.attrs.get("notes", []))


def _check_size(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    if frame.empty or frame.shape[1] == 0:
        raise DataError("The file holds no table: it is empty or has only a header.")
    if len(frame) > max_rows:
        raise DataError(f"The table has {len(frame):,} rows; the dashboard takes up to "
                        f"{max_rows:,}. Split it, or analyse it with the metacore engine.")
    return frame


def _check_shape(text: str, sep: str, max_rows: int = MAX_ROWS) -> None:
    """Refuse a table that is too wide or too long before pandas parses it."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    width = len(re.split(sep, first.strip())) if sep == r"\s+" else \
        max(_fields([first], sep) or [1])
    if width > MAX_COLUMNS:
        raise DataError(f"The table has {width:,} columns; the dashboard takes up to "
                        f"{MAX_COLUMNS}. Keep only the study columns (labels, counts or "
                        "estimates, subgroups and moderators).")
    if text.count("\n") > max_rows + 1000:
        raise DataError(f"The table has more than {max_rows:,} rows; the dashboard takes up "
                        f"to {max_rows:,}. Split it, or analyse it with the metacore engine.")


def read_pasted(text: str, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Read a table pasted from a spreadsheet or a paper (tabs, commas, semicolons, spaces).

    Examples
    --------
    >>> read_pasted("study\\tyi\\tsei\\nA\\t0,25\\t0,1").loc[0, "yi"]
    np.float64(0.25)
    """
    text = (text or "").replace("\x00", "").strip("\n")
    if not text.strip():
        raise DataError("Nothing was pasted.")
    sep = _sniff_separator(text)
    _check_shape(text, sep, max_rows)
    try:
        raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, header=None,
                          skipinitialspace=True, keep_default_na=False, na_values=[""],
                          engine="python" if len(sep) > 1 else "c", skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as err:
        raise DataError(f"The text could not be read as a table ({err}).") from None
    if raw.shape[1] > MAX_COLUMNS:
        raise DataError(f"The table has {raw.shape[1]:,} columns; the dashboard takes up to "
                        f"{MAX_COLUMNS}.")
    revman = _two_row_header(raw)
    if revman:
        names, notes = _dedupe_headers(revman[0])
        notes = revman[1] + notes
        frame = raw.iloc[2:].reset_index(drop=True)
    else:
        names, notes = _dedupe_headers(raw.iloc[0].tolist() if len(raw) else [])
        frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = names
    frame.attrs["notes"] = notes
    return _check_size(tidy_columns(frame), max_rows)


def excel_sheets(data: bytes) -> list[str]:
    """Names of the sheets in an Excel workbook (read in a limited child process)."""
    return xlsx.sheet_names(data)


def read_table(data: bytes, filename: str, sheet: str | int | None = None, *,
               max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Read an uploaded study table.

    Parameters
    ----------
    data
        The file's bytes.
    filename
        Its name; ``.xlsx``/``.xlsm`` is read as Excel, anything else as delimited
        text (separator sniffed; UTF-8, UTF-16 with a byte-order mark, or Latin-1).
    sheet
        Excel sheet name or position (default: the first).
    max_rows
        Largest table accepted (a long table of many meta-analyses may take more than the
        study editor's :data:`MAX_ROWS`; Excel sheets stay at that cap).

    Raises
    ------
    DataError
        If the file cannot be read, is empty, or is too large (rows, columns, or an
        Excel file that would unpack beyond :data:`metacore.data.xlsx.LIMITS`).
    """
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm", ".xls")):
        if name.endswith(".xls"):
            raise DataError("Old .xls workbooks are not supported: save the sheet as .xlsx or "
                            "CSV and upload that.")
        header, rows = xlsx.read_sheet(data, sheet)
        names, notes = _dedupe_headers(header)
        frame = pd.DataFrame(rows, columns=names, dtype=object) if names else pd.DataFrame()
        frame.attrs["notes"] = notes
        return _check_size(tidy_columns(frame))
    text = _decode(data, filename)
    return read_pasted(text, max_rows) if text.strip() else _check_size(pd.DataFrame())
