"""Bundled example study tables and their loader.

>>> import metacore as mc
>>> mc.datasets.load("bcg").shape[0]
13
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

__all__ = ["DatasetInfo", "CATALOG", "NETWORKS", "load", "names", "network_names"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled table holds and where it comes from."""

    name: str
    title: str
    kind: str
    measure: str
    description: str
    source: str
    #: "undesirable" (lower is better: deaths, cases) or "desirable" (higher is better);
    #: None when the table does not say. The app sets its outcome direction from it.
    direction: str | None = None


CATALOG: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("bcg", "BCG vaccine and tuberculosis (13 trials)", "binary", "RR",
                "Tuberculosis cases among vaccinated and unvaccinated participants; strongly "
                "heterogeneous, with absolute latitude (ablat) as the classic moderator.",
                "Colditz et al. (1994), JAMA 271:698-702; metadat::dat.bcg", "undesirable"),
    DatasetInfo("magnesium", "Magnesium after myocardial infarction (22 trials)", "binary", "OR",
                "Deaths with intravenous magnesium vs control; small trials with zero cells.",
                "Li et al. (2007); metadat::dat.li2007", "undesirable"),
    DatasetInfo("stroke", "Specialist stroke care, length of stay (9 trials)", "continuous",
                "SMD", "Length of hospital stay (days), specialist vs routine care.",
                "Normand (1999), Stat Med 18:321-359; metadat::dat.normand1999",
                "undesirable"),
    DatasetInfo("seed002", "Mean-difference example (6 studies)", "continuous", "MD",
                "The six-study mean-difference forest plot of the lecture notes on Bayesian "
                "meta-analysis: FE −2.04 [−2.45, −1.64], DL −1.21 [−2.69, 0.28].",
                "Lecture notes on Bayesian meta-analysis"),
    DatasetInfo("seed000", "Teaching example (8 studies)", "generic", "GEN",
                "Eight simulated study estimates with standard errors from the meta-analysis "
                "tutorial: common effect 0.246 (SE 0.0465), Q = 5.43, τ² = 0.",
                # the tutorial's effects are treatment benefits: positive is good
                "Meta-analysis tutorial", "desirable"),
    DatasetInfo("writing", "Writing-to-learn interventions (48 studies)", "generic", "GEN",
                "Standardised mean differences in school achievement, ready as yi and vi.",
                "Bangert-Drowns et al. (2004); metadat::dat.bangertdrowns2004",
                "desirable"),
    DatasetInfo("transethnic", "Trans-ethnic genetic association (10 cohorts, illustrative)",
                "generic", "GEN",
                "Log odds ratios of one genetic variant in ten cohorts of five ancestries, with "
                "two ancestry principal components per cohort. Illustrative numbers in the "
                "spirit of the MANTRA example of the lecture notes (T2D at CDKAL1), not real "
                "data.", "Constructed for metacore's clustered-heterogeneity page"),
    DatasetInfo("simulated80", "Simulated trials (80 trials)", "binary", "RR",
                "Synthetic 2x2 table with a fixed seed, for checking large forest plots.",
                "tests/reference/make_simulated80.py"),
    DatasetInfo("konstantopoulos2011", "Modified school calendars (56 schools in 11 districts)",
                "generic", "GEN",
                "Standardised mean differences in achievement, schools on a modified calendar vs "
                "a traditional one; several schools per district, so effects are nested "
                "(district, school) for multilevel models.",
                "Konstantopoulos (2011), Res Synth Methods 2:61-76; "
                "metadat::dat.konstantopoulos2011", "desirable"),
    DatasetInfo("olfaction", "Smell loss in COVID-19 (35 single-arm studies)", "proportion",
                "PLO",
                "Patients with olfactory dysfunction among COVID-19 patients tested; the "
                "subgroup is how smell was assessed (objective test or self-report).",
                "Hannum et al. (2020), Chemical Senses 45:865-874; metadat::dat.hannum2020"),
    DatasetInfo("interviews", "Validity of employment interviews (160 studies)", "correlation",
                "ZCOR",
                "Correlations between interview ratings and job performance; the subgroup "
                "is the interview's content, 'structured' its format.",
                "McDaniel et al. (1994), J Appl Psychol 79:599-616; metadat::dat.mcdaniel1994"),
)}


#: Networks (one row per arm, for ``mc.network``), kept apart from the pairwise tables of
#: :data:`CATALOG` so that pages listing those are not offered an arm-level table.
NETWORKS: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("hasselblad1998", "Smoking cessation (24 trials, 4 interventions)", "network",
                "OR", "Smoking cessation with no contact, self-help, individual and group "
                "counselling; one row per arm (events, n); two three-arm trials and two trials "
                "with a zero-event arm.",
                "Hasselblad (1998), Med Decis Making 18:37-43; metadat::dat.hasselblad1998"),
    DatasetInfo("senn2013", "Glucose-lowering drugs, HbA1c (26 trials, 10 treatments)",
                "network", "MD", "Mean change (or raw value, column comment) in HbA1c with "
                "metformin, sulfonylurea, glitazones, gliptins and others vs placebo; one row "
                "per arm (mean, sd, n); one three-arm trial.",
                "Senn et al. (2013), Stat Methods Med Res 22:169-189; metadat::dat.senn2013"),
)}


def network_names() -> list[str]:
    """Names of the bundled networks (tables for ``mc.network``).

    >>> network_names()
    ['hasselblad1998', 'senn2013']
    """
    return list(NETWORKS)


def names() -> list[str]:
    """Names of the bundled datasets, the default (BCG) first."""
    return list(CATALOG)


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a DataFrame in canonical columns.

    Parameters
    ----------
    name
        One of :func:`names`.

    Raises
    ------
    ValueError
        If no dataset has that name.
    """
    if name not in CATALOG and name not in NETWORKS:
        raise ValueError(f"No bundled dataset '{name}'. Available: "
                         f"{', '.join([*CATALOG, *NETWORKS])}.")
    with resources.files(__name__).joinpath(f"{name}.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)
