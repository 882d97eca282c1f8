"""Column aliases, number parsing and data-kind detection."""

from __future__ import annotations

import pandas as pd
import pytest

import metacore as mc
from metacore.data.table import detect_kinds, map_columns, parse_numbers, standardize


def test_metafor_names_any_case_and_spaces():
    cols = [" AI ", "bi", "Ci", "di", "m1i", "SD1I", "n1i", "yi", "vi", "sei"]
    mapping = map_columns(cols)
    assert mapping[" AI "] == "events_t" and mapping["bi"] == "nonevents_t"
    assert mapping["Ci"] == "events_c" and mapping["di"] == "nonevents_c"
    assert mapping["SD1I"] == "sd_t" and mapping["sei"] == "sei"


def test_revman_export_with_repeated_headers():
    raw = pd.DataFrame([["Smith 2001", 12, 100, 20, 98]],
                       columns=["Study or Subgroup", "Events", "Total", "Events", "Total"])
    raw.columns = ["Study or Subgroup", "Events", "Total", "Events.1", "Total.1"]
    st = standardize(raw)
    assert st.kinds == ("binary",)
    row = st.data.iloc[0]
    assert (row["study"], row["events_t"], row["n_t"], row["events_c"], row["n_c"]) == \
        ("Smith 2001", 12, 100, 20, 98)


def test_meta_package_names():
    mapping = map_columns(["studlab", "event.e", "n.e", "event.c", "n.c", "TE", "seTE"])
    assert set(mapping.values()) == {"study", "events_t", "n_t", "events_c", "n_c", "yi", "sei"}


def test_events_and_non_events_become_totals():
    st = standardize(pd.DataFrame({"tpos": [4], "tneg": [119], "cpos": [11], "cneg": [128]}))
    assert st.data.loc[0, "n_t"] == 123 and st.data.loc[0, "n_c"] == 139


def test_hand_mapping_overrides_aliases():
    raw = pd.DataFrame({"A": [1.0], "B": [0.1]})
    with pytest.raises(mc.DataError, match="No study columns"):
        standardize(raw)
    st = standardize(raw, {"A": "yi", "B": "sei"})
    assert st.kinds == ("generic",)


@pytest.mark.parametrize("values, expected", [
    (["12", " 0.5 ", "1e-3"], [12.0, 0.5, 0.001]),
    (["0,5", "1,25", "3"], [0.5, 1.25, 3.0]),                # decimal commas
    (["1,234", "12,500", "7"], [1234.0, 12500.0, 7.0]),      # thousands separators
    (["1.234,5", "2,0"], [1234.5, 2.0]),                     # European style
    (["\u22120.3", "1 000"], [-0.3, 1000.0]),                # Unicode minus, spaces
])
def test_parse_numbers(values, expected):
    nums, bad = parse_numbers(pd.Series(values))
    assert nums.tolist() == expected and not bad.any()


def test_unparsable_text_is_reported_by_row():
    st = standardize(pd.DataFrame({"yi": ["0.1", "n.s."], "sei": [0.1, 0.2]}))
    assert st.problems == {2: ["yi is 'n.s.', which is not a number"]}
    eff = mc.compute_effects(st, "GEN")
    assert eff.k == 1 and "row 2" in eff.excluded[0].reason


def test_include_column_spellings():
    st = standardize(pd.DataFrame({"yi": [1, 2, 3, 4], "vi": [1, 1, 1, 1],
                                   "include": ["yes", "no", 0, None]}))
    assert st.data["include"].tolist() == [True, False, False, True]


def test_detect_kinds_prefers_raw_data():
    cols = ["events_t", "n_t", "events_c", "n_c", "yi", "vi"]
    assert detect_kinds(pd.DataFrame(columns=cols)) == ("binary", "generic")


def test_moderators_are_kept():
    st = standardize(mc.datasets.load("bcg"))
    assert "ablat" in st.moderators and "year" in st.moderators


def test_not_a_table():
    with pytest.raises(mc.DataError):
        standardize([1, 2, 3])
