"""metacore: exact, fast meta-analysis.

Effect sizes (:func:`compute_effects`) -> a fit (:func:`pool`, :func:`pool_mh`,
:func:`pool_peto`) -> methods on the fit (``summary()``, ``to_frame()``,
``natural()``), reproducing R's metafor.

The engine is layered: ``data`` (tables, uploads, datasets) -> ``models`` (effect
sizes and fits) -> ``diagnostics`` -> ``review`` -> ``report`` (R script, HTML and
Word, charts); ``batch`` and ``store`` stand beside. Every public name is importable
from here.

>>> import metacore as mc
>>> eff = mc.compute_effects(mc.datasets.load("bcg"), "RR")
>>> res = mc.pool(eff, model="random", tau2_method="REML")
>>> round(float(res.natural()["estimate"]), 4)
0.4894
"""

import importlib

from metacore import _moved
from metacore._version import __version__
from metacore.batch.causal import causal_many
from metacore.batch.cluster import cluster_meta_batch
from metacore.batch.pool import pool_batch
from metacore.data import datasets, io
from metacore.data.revman import RevManError
from metacore.data.table import ALIASES, StudyTable, generic_scale, map_columns, standardize
from metacore.diagnostics.influence import baujat, cumulative, gosh, influence
from metacore.diagnostics.network import (
    DesignDecomposition,
    comparison_adjusted,
    decomp_design,
    league_grid,
    netcontrib,
    netsplit,
    network_leave_one_out,
)
from metacore.diagnostics.sensitivity import compare_estimators, leave_one_out
from metacore.diagnostics.smallstudy import begg, egger, failsafe, kendall_exact_p, trimfill
from metacore.errors import DataError, MeasureError, MetacoreError, MissingExtra, OptionError
from metacore.models import priors
from metacore.models.analysis import analysis_of
from metacore.models.bayes import BayesResult, bayes_pool
from metacore.models.causal import CausalResult, causal_pool, direction_words
from metacore.models.cluster import ClusterResult, cluster_meta, distances_from
from metacore.models.effects import (
    BINARY_MEASURES,
    CONTINUOUS_MEASURES,
    CORRELATION_MEASURES,
    GENERIC_NAMES,
    MEAN_MEASURES,
    MEASURE_LABELS,
    PROPORTION_MEASURES,
    RATE_MEASURES,
    RATIO_MEASURES,
    TWO_RATE_MEASURES,
    EffectSizes,
    Exclusion,
    compute_effects,
    measure_name,
    measures_for,
    proportion_ci,
)
from metacore.models.glmm import GLMM_MEASURES, GlmmResult, pool_glmm
from metacore.models.metareg import MetaRegResult, metareg
from metacore.models.mh import pool_mh, pool_peto
from metacore.models.multilevel import MultilevelResult, multilevel, rho_sensitivity
from metacore.models.network import NetworkGeometry, NetworkResult, network, network_script
from metacore.models.pooling import CI_LABELS, CI_METHODS, HKSJ_METHODS, PoolResult, pool
from metacore.models.robust import RobustResult, dependence_table, robust
from metacore.models.subgroups import GroupResult, SubgroupResult, subgroups
from metacore.models.tau2 import ESTIMATORS, TAU2_LABELS, Interval
from metacore.report import export, notebook
from metacore.review.grade import Grade, Rating, Suggestion
from metacore.review.model import (
    Comparison,
    Outcome,
    Review,
    Study,
    StudyRow,
    read_revman,
    review_from_json,
    review_to_json,
)
from metacore.review.rob import RobAssessment, RobTable, read_robvis
from metacore.review.sof import (
    ReviewSummary,
    SummaryOfFindings,
    not_estimable,
    review_summary,
    summary_of_findings,
)

_moved.install()
notebook.install()   # results display themselves in Jupyter (see metacore.report.notebook)

__all__ = [
    "ALIASES", "BINARY_MEASURES", "export", "BayesResult", "bayes_pool", "priors", "CausalResult",
    "causal_many", "causal_pool",
    "CONTINUOUS_MEASURES", "ESTIMATORS", "MEASURE_LABELS",
    "RATIO_MEASURES", "TAU2_LABELS", "DataError", "EffectSizes", "Exclusion", "Interval",
    "MeasureError", "MetacoreError", "OptionError", "PoolResult", "StudyTable",
    "compare_estimators", "compute_effects", "datasets", "io", "leave_one_out", "map_columns",
    "measures_for", "pool", "pool_mh", "pool_peto", "standardize",
    "GroupResult", "MetaRegResult", "SubgroupResult", "metareg", "subgroups",
    "baujat", "begg", "cumulative", "egger", "failsafe", "gosh", "influence", "trimfill",
    "ClusterResult", "cluster_meta", "cluster_meta_batch", "distances_from", "pool_batch",
    "GENERIC_NAMES", "SummaryOfFindings", "generic_scale", "measure_name",
    "summary_of_findings", "analysis_of", "__version__",
    "MultilevelResult", "multilevel", "rho_sensitivity", "RobustResult", "robust",
    "dependence_table",
    "network", "NetworkResult", "NetworkGeometry", "network_script", "DesignDecomposition",
    "decomp_design", "netsplit", "netcontrib", "network_leave_one_out", "comparison_adjusted",
    "league_grid",
    "read_revman", "RevManError", "Review", "Comparison", "Outcome", "Study", "StudyRow",
    "review_to_json", "review_from_json", "RobAssessment", "RobTable", "read_robvis", "Grade",
    "Rating", "Suggestion", "ReviewSummary", "review_summary",
    "CI_LABELS", "CI_METHODS", "HKSJ_METHODS", "direction_words", "kendall_exact_p",
    "not_estimable",
    "PROPORTION_MEASURES", "RATE_MEASURES", "TWO_RATE_MEASURES", "CORRELATION_MEASURES",
    "MEAN_MEASURES", "proportion_ci", "GLMM_MEASURES", "GlmmResult", "pool_glmm",
    "MissingExtra",
]


def __getattr__(name: str):
    # ``mc.charts``, ``mc.pooling`` …: modules of the flat layout, imported on first use
    # (charts need altair, which the engine alone does not).
    if name in _moved.MOVED:
        return importlib.import_module(f"metacore.{name}")
    raise AttributeError(f"module 'metacore' has no attribute {name!r}")
