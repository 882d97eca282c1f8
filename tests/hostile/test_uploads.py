"""Uploads that tried to take the server down, or to confuse the reader (probes 2, 5, 10).

Every probe here is bounded in time and memory: the reader refuses before parsing
or parses in a child process with limits of its own.
"""

from __future__ import annotations

import io
import time
import zipfile

import pandas as pd
import pytest

import metacore as mc
from metacore.data import xlsx
from metacore.data.io import MAX_COLUMNS, read_pasted, read_table, reading_notes


def _workbook(sheet_xml: str, *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal .xlsx with one sheet whose XML is given."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicati'
            'on/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Conten'
            'tType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="appli'
            'cation/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override'
            ' PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://sch'
            'emas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
            '"xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlform'
            'ats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/offic'
            'eDocument/2006/relationships"><sheets><sheet name="data" sheetId="1" r:id="rId1"/'
            '></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://sch'
            'emas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="work'
            'sheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buf.getvalue()


def _sheet(rows: str, dimension: str = "A1:C3") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlfor'
            f'mats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{rows}'
            '</sheetData></worksheet>')


def _row(r: int, cells: list[tuple[str, object]]) -> str:
    out = []
    for ref, v in cells:
        if isinstance(v, str):
            out.append(f'<c r="{ref}" t="inlineStr"><is><t>{v}</t></is></c>')
        else:
            out.append(f'<c r="{ref}"><v>{v}</v></c>')
    return f'<row r="{r}">{"".join(out)}</row>'


TABLE_ROWS = (_row(1, [("A1", "study"), ("B1", "yi"), ("C1", "sei")])
              + _row(2, [("A2", "A"), ("B2", 0.1), ("C2", 0.05)])
              + _row(3, [("A3", "B"), ("B3", 0.3), ("C3", 0.1)]))


def test_the_reader_child_starts_well_inside_its_address_space_cap():
    """The Excel child imports metacore under a 1.5 GB address-space cap: importing the
    package must not allocate through pyarrow (its allocator reserves ~1 GB of address
    space at the first allocation; a module-level pandas string dtype once did, and every
    Excel upload failed)."""
    import subprocess
    import sys

    code = ("import metacore; "
            "print([l.split()[1] for l in open('/proc/self/status') "
            "if l.startswith('VmSize')][0])")
    size_kb = int(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                 text=True, check=True).stdout)
    assert size_kb * 1024 < xlsx.LIMITS["memory"] // 2


def test_a_hand_made_workbook_reads():
    frame = read_table(_workbook(_sheet(TABLE_ROWS)), "ok.xlsx")
    assert frame["yi"].tolist() == [0.1, 0.3] and mc.compute_effects(frame, "GEN").k == 2


def test_one_cell_at_xfd1048576_is_read_quickly_and_within_memory():
    rows = TABLE_ROWS + _row(1048576, [("XFD1048576", 1)])
    data = _workbook(_sheet(rows, "A1:XFD1048576"))
    assert len(data) < 10_000
    t0 = time.monotonic()
    with pytest.raises(mc.DataError, match="cell XFD1048576, beyond the 200 columns"):
        read_table(data, "far_cell.xlsx")
    assert time.monotonic() - t0 < 60


def test_a_far_away_cell_in_range_is_kept_without_allocating_the_gap():
    rows = TABLE_ROWS + _row(1048576, [("A1048576", "C"), ("B1048576", 0.2),
                                       ("C1048576", 0.1)])
    frame = read_table(_workbook(_sheet(rows, "A1:C1048576")), "far_row.xlsx")
    assert frame["study"].tolist() == ["A", "B", "C"]


def test_a_zip_bomb_is_refused_before_parsing():
    filler = "<row/>" * 3_000_000         # 18 MB of XML that compresses ~1000:1
    data = _workbook(_sheet(TABLE_ROWS + filler))
    assert len(data) < 200_000
    t0 = time.monotonic()
    with pytest.raises(mc.DataError, match="zip bomb"):
        read_table(data, "bomb.xlsx")
    assert time.monotonic() - t0 < 5


def test_a_bomb_that_passes_the_directory_check_is_stopped_by_the_child_limits(monkeypatch):
    # Declared sizes can lie; with the directory check disabled, the child process's own
    # time limit still ends the read.
    filler = "".join(_row(i, [(f"A{i}", 1)]) for i in range(4, 200_004))
    data = _workbook(_sheet(TABLE_ROWS + filler))
    monkeypatch.setattr(xlsx, "check_archive", lambda data: None)
    t0 = time.monotonic()
    with pytest.raises(mc.DataError, match="took longer than|rows"):
        xlsx.read_sheet(data, timeout=2.0)
    assert time.monotonic() - t0 < 10


def test_a_damaged_workbook_gets_a_message():
    data = _workbook(_sheet(TABLE_ROWS))[:-40]
    with pytest.raises(mc.DataError, match="Excel file could not be read"):
        read_table(data, "cut.xlsx")


def test_ten_thousand_columns_are_refused_at_once():
    header = ",".join(f"c{i}" for i in range(10_000))
    body = "\n".join(",".join("1" for _ in range(10_000)) for _ in range(3))
    t0 = time.monotonic()
    with pytest.raises(mc.DataError, match=f"10,000 columns.*up to {MAX_COLUMNS}"):
        read_table((header + "\n" + body).encode(), "wide.csv")
    assert time.monotonic() - t0 < 2


def test_standardize_is_linear_in_columns():
    wide = pd.DataFrame({f"m{i}": [1.0, 2.0] for i in range(MAX_COLUMNS)})
    wide["yi"], wide["sei"] = [0.1, 0.2], [0.1, 0.1]
    t0 = time.monotonic()
    st = mc.standardize(wide)
    assert len(st.moderators) == MAX_COLUMNS
    assert time.monotonic() - t0 < 2


def test_utf16_with_byte_order_mark():
    text = "study\tyi\tsei\nMüller 2001\t0.25\t0.1\nB\t0.1\t0.2\n"
    for encoding in ("utf-16", "utf-16-be", "utf-32"):
        data = text.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        frame = read_table(data, "u16.txt")
        assert frame.loc[0, "study"] == "Müller 2001" and frame["yi"].tolist() == [0.25, 0.1]


def test_a_quoted_tab_does_not_fool_the_separator():
    data = b'study,yi,sei\n"Smith\tJones 2001",0.2,0.1\nB,0.3,0.2\n'
    frame = read_table(data, "q.csv")
    assert list(frame.columns) == ["study", "yi", "sei"]
    assert frame.loc[0, "study"] == "Smith\tJones 2001"


def test_duplicated_headers_are_reported():
    frame = read_table(b"study,yi,yi,sei\nA,0.1,0.2,0.1\n", "dup.csv")
    assert list(frame.columns) == ["study", "yi", "yi.1", "sei"]
    assert any("'yi' appears more than once" in n for n in reading_notes(frame))


def test_null_bytes_are_stripped_from_labels():
    data = "study,yi,sei\n" + "x" * 5000 + "\nA\x00B,0.1,0.1\nC,0.2,0.1\n"
    frame = read_table(data.encode(), "nul.csv")
    assert "A\x00B" not in frame["study"].tolist() and "AB" in frame["study"].tolist()
    st = mc.standardize(pd.DataFrame({"study": ["X\x00Y"], "yi": [0.1], "sei": [0.1]}))
    assert st.data["study"].tolist() == ["XY"]


@pytest.mark.parametrize("cells, reason", [
    ({"n_t": 1e308}, "n_t"), ({"events_t": 2.5}, "whole number"),
    ({"n_c": 10.5}, "whole number"), ({"events_c": 1e12, "n_c": 1e12}, "implausibly large"),
])
def test_fractional_or_absurd_counts_are_rejected_with_the_row_named(cells, reason):
    table = pd.DataFrame({"study": ["A", "B", "C"], "events_t": [4, 6, 5],
                          "n_t": [100, 90, 80], "events_c": [8, 9, 7], "n_c": [100, 95, 90]})
    for col, value in cells.items():
        table[col] = table[col].astype(float)
        table.loc[1, col] = value
    eff = mc.compute_effects(table, "RR")
    assert eff.k == 2 and eff.excluded[0].study == "B"
    assert "row 2" in eff.excluded[0].reason and reason in eff.excluded[0].reason


def test_space_separated_paste():
    frame = read_pasted("study yi sei\nA 0.1 0.05\nB 0.3 0.1")
    assert frame["yi"].tolist() == [0.1, 0.3]
