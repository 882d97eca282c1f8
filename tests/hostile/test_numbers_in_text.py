"""Numbers written as text must never change value silently (hostile probe 4).

The probe: one "0,12" in a column of "0.10"-style numbers made every "." vanish, so
0.10 became 10 and one study took 99.97% of the weight.
"""

from __future__ import annotations

import pandas as pd
import pytest

import metacore as mc
from metacore.data.io import read_pasted, read_table
from metacore.data.table import parse_numbers


def test_one_decimal_comma_among_decimal_points_stops_and_names_the_cells():
    with pytest.raises(mc.DataError) as err:
        parse_numbers(pd.Series(["0.10", "0,12", "0.30"]))
    text = str(err.value)
    assert "row 2 ('0,12')" in text and "row 1 ('0.10')" in text and "decimal comma" in text


def test_the_probe_upload_is_refused_with_the_column_named_not_mis_pooled():
    csv = b"study;yi;sei\nA;0.10;0.05\nB;0,12;0.08\nC;0.30;0.10\n"
    table = read_table(csv, "probe.csv")
    with pytest.raises(mc.DataError, match=r"Column yi mixes decimal conventions"):
        mc.compute_effects(table, "GEN")


@pytest.mark.parametrize("values, expected", [
    (["0.10", "0.100", "1.5"], [0.10, 0.10, 1.5]),         # points only: never stripped
    (["0,10", "1.234,5", "2"], [0.10, 1234.5, 2.0]),       # European, thousands by pattern
    (["0,5", "1.234"], [0.5, 1234.0]),                     # "1.234" is thousands here
    (["1,234", "0.5"], [1234.0, 0.5]),                     # "1,234" is thousands here
    (["1.234"], [1.234]),                                  # alone: a decimal point
    (["1,234,567", "2"], [1234567.0, 2.0]),
    (["1.234.567", "0,5"], [1234567.0, 0.5]),
    (["-0,5", "1e-3"], [-0.5, 0.001]),
])
def test_separators_are_removed_only_in_thousands_patterns(values, expected):
    nums, bad = parse_numbers(pd.Series(values))
    assert nums.tolist() == pytest.approx(expected) and not bad.any()


@pytest.mark.parametrize("values", [["0.10", "0,12"], ["1,234.5", "0,5"],
                                    ["1.234.567", "0.5"]])
def test_every_mixed_convention_is_refused(values):
    with pytest.raises(mc.DataError, match="mixes decimal conventions"):
        parse_numbers(pd.Series(values))


def test_a_mixed_column_in_a_paste_stays_text_until_analysed():
    table = read_pasted("study\tyi\tsei\nA\t0.10\t0.05\nB\t0,12\t0.08")
    assert table["yi"].dtype == object          # not silently converted
    assert table["sei"].dtype == float


def test_numbers_in_excel_cells_are_never_reinterpreted():
    # Excel gives real floats for numeric cells; only text cells carry a convention
    nums, bad = parse_numbers(pd.Series([0.1, "0,12", 2.5], dtype=object))
    assert nums.tolist() == [0.1, 0.12, 2.5] and not bad.any()
