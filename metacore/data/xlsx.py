"""Untrusted Excel workbooks, read safely.

A 5 KB workbook with one cell at ``XFD1048576`` makes a naive reader allocate
tens of gigabytes, and a small zip bomb can decompress for minutes. So:

1. :func:`check_archive` reads only the zip directory: member count, declared
   uncompressed size and compression ratio must be plausible for a study table.
2. The sheet is parsed in a child process (``python -m metacore.data.xlsx``) that
   limits its own address space and CPU time, reads with row and column caps
   (openpyxl's streaming reader) and returns plain JSON; the parent kills it at a
   wall-clock timeout. Declared sizes can lie; the child's limits cannot.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

from metacore._extras import check
from metacore.errors import DataError

__all__ = ["LIMITS", "check_archive", "read_sheet", "sheet_names"]

#: Caps for an uploaded workbook (a study table is small; these are generous).
LIMITS = {
    "members": 2_000,                # files inside the archive
    "uncompressed": 200 * 2**20,     # declared total, bytes
    "ratio": 200,                    # uncompressed / compressed, per member and in total
    "rows": 50_000,
    "columns": 200,
    "memory": 1536 * 2**20,          # child's address space
    "cpu_seconds": 30,
    "timeout": 45.0,                 # wall clock, enforced by the parent
}


def check_archive(data: bytes) -> None:
    """Refuse a workbook whose zip directory announces a bomb.

    Raises
    ------
    DataError
        Not a zip archive, too many members, too large uncompressed, or compressed
        implausibly well.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise DataError("The Excel file could not be read: it is not a valid .xlsx "
                        f"workbook ({err}).") from None
    if len(infos) > LIMITS["members"]:
        raise DataError(f"The Excel file holds {len(infos):,} parts; a study table needs far "
                        "fewer. Save the sheet as CSV and upload that.")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > LIMITS["uncompressed"]:
        raise DataError(f"The Excel file would unpack to {total / 2**20:,.0f} MB; the "
                        f"dashboard takes up to {LIMITS['uncompressed'] // 2**20} MB. Save the "
                        "sheet as CSV and upload that.")
    worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > 2**20),
                default=0.0)
    if worst > LIMITS["ratio"] or (packed and total > 2**20 and total / packed > LIMITS["ratio"]):
        raise DataError("The Excel file is compressed implausibly well for a table of studies "
                        "(a 'zip bomb'), so it was not opened. Save the sheet as CSV and "
                        "upload that.")


def _run_child(request: dict, data: bytes) -> dict:
    """Run this module as a child process on ``data``; its JSON answer."""
    check("openpyxl", "Reading Excel files")
    timeout = request.get("timeout", LIMITS["timeout"])
    try:
        proc = subprocess.run([sys.executable, "-m", "metacore.data.xlsx", json.dumps(request)],
                              input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DataError(f"Reading the Excel file took longer than {timeout:.0f} s, so it was "
                        "stopped. Save the sheet as CSV and upload that.") from None
    if proc.returncode != 0:
        raise DataError("The Excel file could not be read within the dashboard's memory and "
                        "time limits (it may be damaged or far larger than a study table). "
                        "Save the sheet as CSV and upload that.")
    answer = json.loads(proc.stdout.decode("utf-8"))
    if "error" in answer:
        raise DataError(answer["error"])
    return answer


def sheet_names(data: bytes) -> list[str]:
    """Names of the sheets in an untrusted workbook."""
    check_archive(data)
    return _run_child({"op": "sheets"}, data)["sheets"]


def read_sheet(data: bytes, sheet: str | int | None = None, *,
               timeout: float | None = None) -> tuple[list[object], list[list[object]]]:
    """Header and rows of one sheet of an untrusted workbook, within :data:`LIMITS`.

    Returns
    -------
    (header, rows)
        Cell values as JSON types (numbers, text, booleans, None; dates as ISO text).
    """
    check_archive(data)
    request = {"op": "read", "sheet": sheet, "timeout": timeout or LIMITS["timeout"]}
    answer = _run_child(request, data)
    return answer["header"], answer["rows"]


# --- the child process -------------------------------------------------------------------

def _limit_self() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (LIMITS["memory"], LIMITS["memory"]))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMITS["cpu_seconds"], LIMITS["cpu_seconds"]))


def _cell(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.replace("\x00", "") if isinstance(value, str) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _child_read(data: bytes, request: dict) -> dict:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - a broken workbook raises many kinds
        return {"error": f"The Excel file could not be read ({type(err).__name__})."}
    if request["op"] == "sheets":
        return {"sheets": list(book.sheetnames)}
    sheet = request.get("sheet")
    if sheet is None or sheet == 0:
        ws = book.worksheets[0]
    elif isinstance(sheet, int):
        ws = book.worksheets[sheet]
    elif sheet in book.sheetnames:
        ws = book[sheet]
    else:
        return {"error": f"The workbook has no sheet named '{sheet}'."}
    max_rows, max_cols = LIMITS["rows"] + 1, LIMITS["columns"]
    rows: list[list[object]] = []
    widest = 0
    blank_run = 0
    # The declared dimension can be wrong either way (too small loses rows, XFD1048576
    # invites huge allocations): forget it and read the rows that exist.
    ws.reset_dimensions()
    for number, raw in enumerate(ws.iter_rows(values_only=True), start=1):
        # Cells past the cap are looked at only to learn that the sheet is too wide.
        values = [_cell(v) for v in raw[:max_cols]]
        beyond = next((j for j in range(max_cols, len(raw)) if raw[j] not in (None, "")), None)
        if beyond is not None:
            from openpyxl.utils import get_column_letter
            return {"error": f"The sheet has a value in cell {get_column_letter(beyond + 1)}"
                             f"{number}, beyond the {max_cols} columns the dashboard takes. "
                             "Delete it (or keep only the study columns) and upload again."}
        while values and values[-1] in (None, ""):
            values.pop()
        if not values:
            blank_run += 1
            if blank_run > 1000 and rows:   # a long gap: kept short, the rows are empty
                continue
            rows.append([])
            continue
        blank_run = 0
        widest = max(widest, len(values))
        rows.append(values)
        if len(rows) > max_rows:
            return {"error": f"The sheet has more than {max_rows - 1:,} rows; the dashboard "
                             f"takes up to {max_rows - 1:,}. Split it, or analyse it with "
                             "the metacore engine."}
    while rows and not rows[-1]:
        rows.pop()
    rows = [r + [None] * (widest - len(r)) for r in rows]
    if not rows:
        return {"header": [], "rows": []}
    return {"header": rows[0], "rows": rows[1:]}


def _main() -> None:
    request = json.loads(sys.argv[1])
    _limit_self()
    data = sys.stdin.buffer.read()
    answer = _child_read(data, request)
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _main()
