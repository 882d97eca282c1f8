"""Reading study tables from uploads and pasted text (CSV, TSV, Excel).

Pure pandas: the app passes the uploaded bytes, so every rule here is tested
without a browser. Numbers are parsed by :func:`metacore.table.parse_numbers`
(decimal commas, thousands separators); a column that holds text that is not a
number stays text, so the offending cells can be named row by row later.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from metacore.errors import DataError
from metacore.table import parse_numbers

__all__ = ["MAX_ROWS", "excel_sheets", "read_pasted", "read_table", "tidy_columns"]

#: Largest table the reader accepts (the engine is fast far beyond; the editor is not).
MAX_ROWS = 50_000


def _sniff_separator(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    if "\t" in sample:
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;|").delimiter
    except csv.Error:
        return ","


def tidy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop empty rows and columns; turn columns that are all numbers into numbers.

    >>> tidy_columns(pd.DataFrame({"a": ["1", "2,5"], "b": ["x", None]})).dtypes.tolist()
    [dtype('float64'), dtype('O')]
    """
    frame = frame.dropna(how="all").dropna(axis=1, how="all").reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
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
    return pd.DataFrame(out)


def _check_size(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or frame.shape[1] == 0:
        raise DataError("The file holds no table: it is empty or has only a header.")
    if len(frame) > MAX_ROWS:
        raise DataError(f"The table has {len(frame):,} rows; the dashboard takes up to "
                        f"{MAX_ROWS:,}. Split it, or analyse it with the metacore engine.")
    return frame


def read_pasted(text: str) -> pd.DataFrame:
    """Read a table pasted from a spreadsheet or a paper (tabs, commas or semicolons).

    Examples
    --------
    >>> read_pasted("study\\tyi\\tsei\\nA\\t0,25\\t0,1").loc[0, "yi"]
    np.float64(0.25)
    """
    text = (text or "").strip("\n")
    if not text.strip():
        raise DataError("Nothing was pasted.")
    sep = _sniff_separator(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skipinitialspace=True,
                            keep_default_na=False, na_values=[""], engine="python")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"The pasted text could not be read as a table ({err}).") from err
    return _check_size(tidy_columns(frame))


def excel_sheets(data: bytes) -> list[str]:
    """Names of the sheets in an Excel workbook."""
    try:
        return list(pd.ExcelFile(io.BytesIO(data)).sheet_names)
    except Exception as err:  # openpyxl raises many kinds for a broken file
        raise DataError(f"The Excel file could not be opened ({type(err).__name__}).") from err


def read_table(data: bytes, filename: str, sheet: str | int | None = None) -> pd.DataFrame:
    """Read an uploaded study table.

    Parameters
    ----------
    data
        The file's bytes.
    filename
        Its name; ``.xlsx``/``.xls`` is read as Excel, ``.tsv``/``.tab`` as
        tab-separated, anything else as delimited text (separator sniffed).
    sheet
        Excel sheet name or position (default: the first).

    Raises
    ------
    DataError
        If the file cannot be read, is empty, or is too large.
    """
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm", ".xls")):
        try:
            frame = pd.read_excel(io.BytesIO(data), sheet_name=sheet or 0, dtype=object)
        except Exception as err:  # noqa: BLE001 - broken workbooks raise many kinds
            raise DataError(f"The Excel file could not be read ({type(err).__name__}: "
                            f"{err}).") from err
        return _check_size(tidy_columns(frame))
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text[:1000]:
        raise DataError(f"{filename} does not look like a text table (it contains binary "
                        "data). Upload CSV, TSV or Excel.")
    return read_pasted(text) if text.strip() else _check_size(pd.DataFrame())
