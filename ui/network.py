"""The Network page's table, fits and chart specs, cached per state, so the page only
lays them out.

The network has a table of its own (one row per arm, or per comparison), kept beside the
study table of the other pages: a network and a pairwise meta-analysis are different
shapes of data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import metacore as mc

# The aliases the engine reads (study/studlab, treatment/treat/trt, events/r, n/total, ...);
# reused here so a what-if leaves out exactly the rows the engine would read.
from metacore.models.network import _column_map
from metacore.report.charts.network import (
    comparison_funnel_chart,
    league_chart,
    network_forest_chart,
    network_graph_chart,
    ranking_chart,
    rankogram_chart,
)
from ui.cache import TableRef, cached

TABLE, SOURCE, DATASET = "nm_table", "nm_source", "nm_dataset"
YOURS = "__yours__"
DEFAULT = "senn2013"
#: Which direction is better in each bundled network: HbA1c lowered is good (small values
#: good); in Hasselblad's table the events are people who stopped smoking (small values bad).
SMALL_VALUES = {"senn2013": "good", "hasselblad1998": "bad"}
MEASURES = {"binary": ["OR", "RR", "RD"], "continuous": ["MD", "SMD"], "contrasts": ["GEN"]}
KIND_WORDS = {"binary": "arm-level events and totals", "continuous":
              "arm-level means, SDs and sizes", "contrasts": "one row per comparison"}
TAU2_METHODS = ("REML", "ML", "DL")
#: Draws for the rankogram and SUCRA: a Monte Carlo SE of at most 0.0035 per probability,
#: and a fifth of the engine's default time, so a what-if stays live.
RANK_DRAWS = 20_000


def init() -> None:
    """Load the default bundled network once per session."""
    s = st.session_state
    if TABLE not in s:
        load(DEFAULT)


def load(name: str) -> None:
    """Make a bundled network the page's table."""
    set_table(mc.datasets.load(name), mc.datasets.NETWORKS[name].title, example=name)


def set_table(frame: pd.DataFrame, source: str, example: str | None = None) -> None:
    """Make ``frame`` the network table; what-if choices of the previous one are cleared."""
    s = st.session_state
    s[TABLE] = frame
    s[SOURCE] = source
    s["_nm_dataset_next"] = example or YOURS
    if example in SMALL_VALUES:
        s["nm_small"] = SMALL_VALUES[example]
    for key in ("nm_drop_studies", "nm_drop_treatments", "nm_reference", "nm_measure"):
        s.pop(key, None)


def choose_dataset() -> None:
    """Callback of the bundled-network picker."""
    name = st.session_state[DATASET]
    if name != YOURS:
        load(name)


def ref() -> TableRef:
    """The network table with its content digest (computed once per table object)."""
    s = st.session_state
    frame = s[TABLE]
    memo = s.get("_nm_ref")
    if memo is None or memo.frame is not frame:
        memo = TableRef.of(frame)
        s["_nm_ref"] = memo
    return memo


@cached(max_entries=32)
def shape(table: TableRef) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(kind, studies, treatments)`` of a network table; kind is ``binary``,
    ``continuous``, ``contrasts`` or ``""`` when the columns are not recognised."""
    cols = _column_map(list(table.frame.columns))
    if all(c in cols for c in ("study", "treatment1", "treatment2", "yi", "sei")):
        kind, tcols = "contrasts", [cols["treatment1"], cols["treatment2"]]
    elif "study" in cols and "treatment" in cols and "events" in cols and "n" in cols:
        kind, tcols = "binary", [cols["treatment"]]
    elif all(c in cols for c in ("study", "treatment", "mean", "sd", "n")):
        kind, tcols = "continuous", [cols["treatment"]]
    else:
        return "", (), ()
    frame = table.frame
    studies = dict.fromkeys(_clean(frame[cols["study"]]))
    treatments = sorted({t for c in tcols for t in _clean(frame[c])})
    return kind, tuple(s for s in studies if s), tuple(t for t in treatments if t)


def _clean(values: pd.Series) -> list[str]:
    return ["" if pd.isna(v) else str(v).strip() for v in values.tolist()]


def kept_rows(table: TableRef, drop_studies: tuple[str, ...],
              drop_treatments: tuple[str, ...]) -> pd.DataFrame:
    """The table without the studies and treatments left out (a study left with one arm
    drops out of the network by itself)."""
    frame = table.frame
    if not drop_studies and not drop_treatments:
        return frame
    cols = _column_map(list(frame.columns))
    keep = ~pd.Series(_clean(frame[cols["study"]]), index=frame.index).isin(drop_studies)
    for c in ("treatment", "treatment1", "treatment2"):
        if c in cols:
            keep &= ~pd.Series(_clean(frame[cols[c]]), index=frame.index).isin(drop_treatments)
    return frame.loc[keep]


def ci_label(ci: str) -> str:
    """The sidebar's name of an interval method."""
    return mc.CI_LABELS.get(ci, ci)


def mapped_settings(model: str, tau2: str, ci: str) -> tuple[str, str, str, list[str]]:
    """The sidebar's model, estimator and interval as the network engine takes them, and a
    sentence for each one that had to change."""
    notes = []
    if model not in ("random", "common"):
        notes.append(f"{'Mantel-Haenszel' if model == 'MH' else 'Peto'} pooling has no network "
                     "form; the common-effect (inverse-variance) network is used.")
        model = "common"
    if model == "random" and tau2 not in TAU2_METHODS:
        notes.append(f"The network's τ² estimators are REML, ML and DL (generalised "
                     f"DerSimonian-Laird); {tau2} has no network form here, so REML is used.")
        tau2 = "REML"
    elif tau2 not in TAU2_METHODS:
        tau2 = "REML"
    if ci not in ("z", "hksj"):
        notes.append(f"The network takes Wald z or Hartung-Knapp intervals; {ci_label(ci)} has "
                     "no network form here, so plain Hartung-Knapp is used.")
        ci = "hksj"
    return model, tau2, ci, notes


@cached(max_entries=32)
def fit(table: TableRef, measure: str, reference: str | None, model: str, tau2: str, ci: str,
        level: float, drop_studies: tuple[str, ...] = (),
        drop_treatments: tuple[str, ...] = ()) -> tuple[mc.NetworkResult | None, str]:
    """``(NetworkResult, "")`` or ``(None, message)``: errors come back as text."""
    frame = kept_rows(table, drop_studies, drop_treatments)
    try:
        nm = mc.network(frame, measure, reference=reference, model=model, tau2_method=tau2,
                        ci_method=ci, level=level)
    except mc.MetacoreError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - the page must answer, never show a traceback
        return None, (f"This network could not be analysed ({type(err).__name__}: {err}). "
                      "Check the columns: study, treatment and the arm's numbers.")
    return nm, ""


def result(args: tuple) -> mc.NetworkResult:
    """The fit for ``args`` (the arguments of :func:`fit`), known to have succeeded."""
    return fit(*args)[0]


@cached(max_entries=32)
def ranking(args: tuple, small: str) -> pd.DataFrame:
    """P-score, SUCRA and the rank probabilities, one row per treatment, best first."""
    nm = result(args)
    ps = nm.pscores(small)
    # SUCRA from the same draws as the rankogram (NetworkResult.sucra would draw them again):
    # (n - mean rank) / (n - 1), as the engine computes it
    probs = nm.rank_probabilities(small, n_sim=RANK_DRAWS)
    n = probs.shape[1]
    su = pd.Series((n - probs.to_numpy() @ np.arange(1, n + 1)) / (n - 1), index=probs.index)
    out = pd.DataFrame({"treatment": list(ps.index), "pscore": ps.to_numpy(),
                        "sucra": su.reindex(ps.index).to_numpy()})
    out = pd.concat([out, probs.reset_index(drop=True).add_prefix("rank ")], axis=1)
    return out.sort_values("pscore", ascending=False, kind="stable").reset_index(drop=True)


@cached(max_entries=32)
def inconsistency(args: tuple) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """The design-by-treatment decomposition (table and sentence) and the netsplit table."""
    nm = result(args)
    dd = mc.decomp_design(nm)
    return dd.to_frame(), dd.summary(), mc.netsplit(nm)


@cached(max_entries=32)
def league_table(args: tuple) -> pd.DataFrame:
    """The league grid on the natural scale (network below the diagonal, direct above)."""
    return mc.league_grid(result(args))


@cached(max_entries=32)
def graph_spec(args: tuple) -> dict:
    return network_graph_chart(result(args)).to_dict(validate=False)


@cached(max_entries=32)
def forest_spec(args: tuple, show_pi: bool) -> dict:
    return network_forest_chart(result(args), show_pi=show_pi).to_dict(validate=False)


@cached(max_entries=32)
def league_spec(args: tuple) -> dict:
    return league_chart(league_table(args), result(args)).to_dict(validate=False)


@cached(max_entries=32)
def ranking_specs(args: tuple, small: str) -> tuple[dict, dict]:
    r = ranking(args, small)
    ps = pd.Series(r["pscore"].to_numpy(), index=r["treatment"])
    su = pd.Series(r["sucra"].to_numpy(), index=r["treatment"])
    probs = r.set_index("treatment")[[c for c in r.columns if c.startswith("rank ")]]
    probs.columns = [int(c.split()[1]) for c in probs.columns]
    return (ranking_chart(ps, su).to_dict(validate=False),
            rankogram_chart(probs).to_dict(validate=False))


@cached(max_entries=32)
def funnel_spec(args: tuple) -> dict:
    nm = result(args)
    return comparison_funnel_chart(mc.comparison_adjusted(nm), nm).to_dict(validate=False)


def league_csv_frame(args: tuple) -> pd.DataFrame:
    """The league table for download: one row per ordered pair, network and direct."""
    nm = result(args)
    grid = league_table(args)
    out = grid.rename(columns={"row": "treatment (row)", "col": "vs (column)"})
    out.insert(2, "measure", nm.measure + (" (natural scale)" if nm.ratio else ""))
    return out


@cached(max_entries=32)
def leave_one_out(args: tuple, t1: str, t2: str, by: str) -> pd.DataFrame:
    """One comparison with each study (or design) left out, natural scale for ratios."""
    nm = result(args)
    out = mc.network_leave_one_out(nm, t1, t2, by=by)
    if nm.ratio:
        for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            out[c] = nm.transform(out[c].to_numpy())
    return out


@cached(max_entries=32)
def contributions(args: tuple) -> pd.DataFrame:
    """The contribution matrix (percent of each design's direct evidence in each estimate)."""
    return mc.netcontrib(result(args)).round(1).rename_axis("network estimate").reset_index()
