"""Reading uploads and pasted tables."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import metacore as mc
from metacore.data.io import MAX_ROWS, excel_sheets, read_pasted, read_table


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


def test_revman_two_row_header_is_understood():
    text = ("Study or Subgroup\tMagnesium\t\tControl\t\n\tEvents\tTotal\tEvents\tTotal\n"
            "Shechter 1991\t1\t50\t9\t53\nAbraham 1987\t1\t48\t1\t46\n")
    frame = read_pasted(text)
    assert list(frame.columns) == ["Study or Subgroup", "events_t", "n_t", "events_c", "n_c"]
    assert "'Magnesium' is the treatment arm" in frame.attrs["notes"][0]
    assert mc.compute_effects(frame, "RR").k == 2


def test_revman_two_row_header_for_means():
    text = ("Study\tExperimental\t\t\tControl\t\t\n\tMean\tSD\tTotal\tMean\tSD\tTotal\n"
            "A\t5\t1\t20\t4\t1.1\t22\nB\t6\t1.2\t30\t5.5\t1\t31\n")
    frame = read_pasted(text)
    assert list(frame.columns)[1:] == ["mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"]
    assert mc.compute_effects(frame, "MD").k == 2


def test_events_over_total_cells():
    frame = read_pasted("study,magnesium,control\nA,12/40,20/41\nB,3 / 50,8/49\n")
    assert frame[["events_t", "n_t", "events_c", "n_c"]].iloc[1].tolist() == [3, 50, 8, 49]
    assert any("events/total" in n for n in frame.attrs["notes"])


def test_long_tables_may_take_more_rows_when_asked():
    text = "yi,vi\n" + "0.1,0.01\n" * 60_000
    with pytest.raises(mc.DataError, match="rows"):
        read_table(text.encode(), "big.csv")
    assert len(read_table(text.encode(), "big.csv", max_rows=100_000)) == 60_000
