"""Reading uploads and pasted tables."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import metacore as mc
from metacore.io import MAX_ROWS, excel_sheets, read_pasted, read_table


def test_csv_with_semicolons_and_decimal_commas():
    data = b"Study;yi;SE\nA;0,25;0,10\nB;-0,10;0,20\n"
    frame = read_table(data, "studies.csv")
    assert frame["yi"].tolist() == [0.25, -0.10]
    eff = mc.compute_effects(frame, "GEN")
    assert eff.k == 2


def test_tsv_with_thousands_separators_and_bom():
    data = "\ufeffstudy\tevents_t\tn_t\tevents_c\tn_c\nBig\t505\t88,391\t499\t88,391\n"
    frame = read_table(data.encode("utf-8"), "t.tsv")
    assert frame.loc[0, "n_t"] == 88391 and list(frame.columns)[0] == "study"


def test_text_in_a_number_column_is_kept_for_a_row_message():
    frame = read_table(b"yi,vi\n0.1,0.01\nabc,0.02\n", "x.csv")
    eff = mc.compute_effects(frame, "GEN")
    assert eff.k == 1 and "'abc', which is not a number" in eff.excluded[0].reason


def test_excel_first_sheet_or_chosen_sheet():
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        pd.DataFrame({"note": ["nothing here"]}).to_excel(xl, sheet_name="README", index=False)
        mc.datasets.load("bcg").to_excel(xl, sheet_name="data", index=False)
    data = buf.getvalue()
    assert excel_sheets(data) == ["README", "data"]
    frame = read_table(data, "book.xlsx", sheet="data")
    assert len(frame) == 13 and mc.standardize(frame).kinds == ("binary",)


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.csv", "no table"),
    (b"\x00\x01\x02binary", "x.csv", "binary data"),
    (b"not an excel file", "x.xlsx", "Excel file could not be read"),
    (b"a,b\n", "header.csv", "no table"),
])
def test_malformed_files_give_a_clear_message(data, name, message):
    with pytest.raises(mc.DataError, match=message):
        read_table(data, name)


def test_too_many_rows():
    text = "yi,vi\n" + "0.1,0.01\n" * (MAX_ROWS + 1)
    with pytest.raises(mc.DataError, match="rows"):
        read_table(text.encode(), "big.csv")


def test_pasted_from_a_spreadsheet():
    frame = read_pasted("study\tmean_t\tsd_t\tn_t\tmean_c\tsd_c\tn_c\n"
                        "X\t5,1\t1,2\t20\t4,0\t1,1\t22\n")
    assert frame.loc[0, "mean_t"] == 5.1
    assert mc.compute_effects(frame, "SMD").k == 1
