"""Summary of findings and report (issue 23, item 7): generic ratios under the relative
effect; participants and studies over ALL trials, with the not-estimable ones stated."""

from __future__ import annotations

import pandas as pd
import pytest

import metacore as mc


def _with_double_zero() -> pd.DataFrame:
    # bcg's first five trials plus three with no deaths in either arm (0/15 vs 0/15 ...)
    t = mc.datasets.load("bcg").iloc[:5][["study", "events_t", "n_t", "events_c", "n_c"]]
    extra = pd.DataFrame({"study": ["Zero A", "Zero B", "Zero C"], "events_t": [0, 0, 0],
                          "n_t": [15, 64, 30], "events_c": [0, 0, 0], "n_c": [15, 64, 31]})
    return pd.concat([t, extra], ignore_index=True)


def test_generic_hr_sits_under_relative_effect():
    hr = mc.compute_effects(pd.DataFrame({"log_hr": [-0.2, 0.1], "se": [0.1, 0.2]}), "GEN",
                            scale="log", label="HR")
    row = mc.summary_of_findings(hr, mc.pool(hr)).to_frame().iloc[0]
    assert row["Relative effect"].startswith("HR 0.")
    assert "Difference" not in row.index


def test_participants_and_studies_count_the_not_estimable_trials():
    table = _with_double_zero()
    eff = mc.compute_effects(table, "OR", drop00=True)
    assert eff.k == 5
    sof = mc.summary_of_findings(eff, mc.pool(eff))
    everyone = int((table["n_t"] + table["n_c"]).sum())
    assert sof.participants == everyone and sof.studies == 8 and sof.not_estimable == 3
    cell = sof.to_frame().iloc[0]["Participants (studies)"]
    assert cell.replace("\u2009", ",") == f"{everyone:,} (8 studies; 3 not estimable)"


def test_report_states_not_estimable_trials_with_their_counts():
    table = _with_double_zero()
    rep = mc.export.build_report(table, measure="OR", drop00=True)
    assert "3 trials were not estimable" in rep.methods
    assert "no events in either arm" in rep.methods
    rows = rep.studies.set_index("Study")
    zero = rows.loc["Zero A"]
    assert (zero["events_t"], zero["n_t"], zero["events_c"], zero["n_c"]) == ("0", "15", "0",
                                                                              "15")
    effect_col = next(c for c in rep.studies.columns if c.startswith("Odds ratio"))
    assert zero[effect_col] == "Not estimable"
    # A study left out by hand is not 'not estimable' and is not counted.
    rep = mc.export.build_report(table, measure="OR", drop00=True, leave_out=[1])
    assert "3 trials were not estimable" in rep.methods
    assert rep.sof.iloc[0]["Participants (studies)"].startswith(
        f"{int((table['n_t'] + table['n_c']).iloc[1:].sum()):,}".replace(",", "\u2009"))


def test_no_note_when_every_trial_is_estimable():
    rep = mc.export.build_report(mc.datasets.load("bcg"), measure="RR")
    assert "not estimable" not in rep.methods
    with pytest.raises(KeyError):
        rep.sof.iloc[0]["Not estimable"]
